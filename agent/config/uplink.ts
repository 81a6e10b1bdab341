import type { UplinkConfig } from '../uplink/config.js';
import type { AgentConfig } from './schema.js';

/** Where a paired box sends, as the credentials file records it. */
export interface PairedEndpoints {
  https: string;
  mqtt?: string | undefined;
}

/**
 * The uplink settings the daemon runs with. `uplink.*` keys set in the file win; unset ones come from the
 * `device` section (written by pairing), then from the credentials file's endpoints.
 */
export function effectiveUplinkConfig(config: AgentConfig, paired?: PairedEndpoints): UplinkConfig {
  const u = { ...config.uplink };
  const httpsUrl = u.https_url ?? config.device.cloud ?? paired?.https;
  const mqttUrl = u.mqtt_url ?? config.device.mqtt_url ?? paired?.mqtt;
  if (httpsUrl !== undefined) u.https_url = httpsUrl;
  if (mqttUrl !== undefined) u.mqtt_url = mqttUrl;
  if (u.transport === 'auto' && config.device.transport !== undefined) u.transport = config.device.transport;
  return u;
}
