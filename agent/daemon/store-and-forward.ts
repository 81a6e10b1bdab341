import { join } from 'node:path';
import { OffsetClock, parseDuration } from '../../shared/clock/index.js';
import type { Logger } from '../../shared/log/index.js';
import type { DeviceCredentials } from '../../shared/signing/index.js';
import { VigilError } from '../errors.js';
import { Outbox, OUTBOX_FILE, outboxOptionsFrom, type OutboxConfig } from '../outbox/index.js';
import {
  HttpsTransport,
  loadClientTls,
  MqttTransport,
  Uplink,
  uplinkSettingsFrom,
  type BrokerLoginSource,
  type CameraStatus,
  type ClientTls,
  type HeartbeatModel,
  type Transport,
  type UplinkConfig,
} from '../uplink/index.js';
import { validateRecord } from '../wire/index.js';

export interface StoreAndForwardDeps {
  /** The agent's data directory (`data_dir`): the outbox is `<dataDir>/outbox.db`. */
  dataDir: string;
  outbox: OutboxConfig;
  uplink: UplinkConfig;
  identity: DeviceCredentials;
  logger: Logger;
  version: string;
  cameras?: () => CameraStatus[];
  /** The corrected clock, shared with whatever else signs or timestamps. */
  clock?: OffsetClock;
  /** This run's boot id, sent in every heartbeat. */
  bootId?: string;
  /** The running object detector, sent in every heartbeat (null in motion-only mode). */
  model?: () => HeartbeatModel;
  /**
   * The box's own broker login, used over MQTT when no login is configured (uplink.mqtt_username): the daemon
   * passes the credentials file's (agent/credentials/broker-login.ts), which asks the collector at `baseUrl` for a
   * new one when it has none or the broker refuses it.
   */
  brokerLogin?: (collector: { baseUrl: string; clock: OffsetClock; tls: ClientTls }) => BrokerLoginSource;
}

/**
 * Store-and-forward as the daemon runs it, built from the `outbox:` and `uplink:` config sections: opens the
 * outbox (agent/outbox), picks and builds the transport (MQTT or HTTPS, one TLS client configuration for both,
 * HTTPS also for clock sync under MQTT) and the Uplink (agent/uplink) over them. Nothing is started: the daemon
 * calls `uplink.start()`, and `uplink.enqueue()` for every event and review record (each checked against its
 * protocol schema before the outbox takes it). Times in events should come from `clock`, the
 * uplink's corrected clock.
 */
export interface StoreAndForward {
  outbox: Outbox;
  uplink: Uplink;
  clock: OffsetClock;
  /** The uplink's transport (MQTT receives commands itself: Transport.setCommandSink). */
  transport: Transport;
  /** For a box on HTTPS only: where and how it long-polls for commands (agent/commands/poller.ts). */
  commandPoll: { baseUrl: string; tls: ClientTls } | undefined;
}

export function createStoreAndForward(d: StoreAndForwardDeps): StoreAndForward {
  const u = d.uplink;
  const clock = d.clock ?? new OffsetClock();
  const kind = u.transport === 'auto' ? (u.mqtt_url ? 'mqtt' : 'https') : u.transport;
  if (kind === 'mqtt' && !u.mqtt_url) {
    throw new VigilError('config_invalid', 'uplink.transport is mqtt but uplink.mqtt_url is not set');
  }
  if (kind === 'https' && !u.https_url) {
    throw new VigilError('config_invalid', 'uplink.https_url is not set (the collector URL from pairing)');
  }
  // One TLS client configuration for every connection to the collector and its broker (uplink/https-client.ts).
  const tls = loadClientTls(u);
  const { identity, logger } = d;
  const timeoutMs = parseDuration(u.http_timeout);
  const https = u.https_url
    ? new HttpsTransport({ baseUrl: u.https_url, identity, clock, logger, timeoutMs, tls })
    : undefined;
  const login =
    kind === 'mqtt' && d.brokerLogin && u.https_url ? d.brokerLogin({ baseUrl: u.https_url, clock, tls }) : undefined;
  const transport: Transport =
    kind === 'mqtt'
      ? new MqttTransport({
          url: u.mqtt_url as string,
          identity,
          clock,
          logger,
          ...(u.mqtt_username !== undefined ? { username: u.mqtt_username } : {}),
          ...(u.mqtt_password !== undefined ? { password: u.mqtt_password } : {}),
          ...(login ? { login } : {}),
          ...(Object.keys(tls).length > 0 ? { connectOptions: { ...tls } } : {}),
        })
      : (https as HttpsTransport);
  const outbox = Outbox.open({
    path: join(d.dataDir, OUTBOX_FILE),
    ...outboxOptionsFrom(d.outbox),
    logger,
    validateEvent: validateRecord,
  });
  const uplink = new Uplink({
    outbox,
    transport,
    deviceId: identity.deviceId,
    clock,
    logger,
    version: d.version,
    ...uplinkSettingsFrom(u),
    ...(d.cameras ? { cameras: d.cameras } : {}),
    ...(d.bootId ? { bootId: d.bootId } : {}),
    ...(d.model ? { model: d.model } : {}),
    ...(kind === 'mqtt' && https ? { clockSync: https } : {}),
  });
  const commandPoll = kind === 'https' && u.https_url ? { baseUrl: u.https_url, tls } : undefined;
  return { outbox, uplink, clock, transport, commandPoll };
}
