import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseDuration } from '../../shared/clock/index.js';
import { VigilError } from '../errors.js';
import { componentLogger, type Logger } from '../../shared/log/index.js';
import type { MqttConfig } from '../ingest/config.js';
import type { MqttCollectorIdentity } from '../ingest/mqtt.js';
import type { SqlDatabase } from '../db/sql.js';
import { loadDeploymentId } from './deployment.js';
import { ForeignTrafficWatch, type ForeignTrafficState } from './foreign-traffic.js';
import { GroupClaim } from './group-claim.js';
import {
  claimInstanceSlot,
  defaultClientId,
  defaultCollectorUsername,
  defaultSharedGroup,
  derivedCollectorPassword,
} from './identity.js';
import { MosquittoDynsecProvisioner } from './mosquitto-dynsec.js';
import { NoProvisioner } from './none.js';
import type { BrokerProvisioner } from './provisioner.js';

/**
 * The collector's side of the broker, set up once at start (cloud/server/app.ts): the deployment id (from the
 * database), the collector's identity on the broker (client id, shared group, login), the provisioner that manages
 * broker logins of boxes and collectors, and the watch for another deployment's traffic on the group.
 */
export type { BrokerProvisioner, CollectorAccess } from './provisioner.js';
export { loadDeploymentId } from './deployment.js';
export { ForeignTrafficWatch, type ForeignTrafficState } from './foreign-traffic.js';
export { deviceAcl, collectorAcl, deviceRoleName, collectorRoleName } from './acl.js';

export interface BrokerSetup {
  deploymentId: string;
  provisioner: BrokerProvisioner;
  /** Identity of MQTT ingest (undefined when mqtt.url is unset). */
  ingest: MqttCollectorIdentity | undefined;
  /** Unknown-device watch of the shared group (undefined without MQTT ingest). */
  foreign: ForeignTrafficWatch | undefined;
  /** For /readyz details. */
  details(): {
    deployment_id: string;
    group: string | null;
    client_id: string | null;
    provisioner: { kind: string; ok: boolean; detail: string };
    foreign_traffic: ForeignTrafficState | null;
  };
  close(): Promise<void>;
}

export interface BrokerSetupOptions {
  mqtt: MqttConfig;
  database: SqlDatabase;
  dataDir: string;
  /** The server secrets key (derives the collectors' broker password when none is configured). */
  secretsKey: Buffer;
  log: Logger;
}

export async function setUpBroker(o: BrokerSetupOptions): Promise<BrokerSetup> {
  const cfg = o.mqtt;
  const log = componentLogger(o.log, 'broker');
  const deploymentId = await loadDeploymentId(o.database);
  const group = cfg.shared_group ?? defaultSharedGroup(deploymentId);
  const dynsec = cfg.provisioner === 'mosquitto-dynsec';
  const slot = cfg.url && cfg.client_id === undefined ? claimInstanceSlot(o.dataDir) : undefined;
  const clientId = cfg.client_id ?? (slot ? defaultClientId(deploymentId, slot.suffix) : undefined);
  const username = cfg.username ?? (dynsec ? defaultCollectorUsername(deploymentId) : undefined);
  const password =
    cfg.password ?? (dynsec && username !== undefined ? derivedCollectorPassword(o.secretsKey, username) : undefined);

  let provisioner: BrokerProvisioner = new NoProvisioner();
  if (dynsec) {
    const url = cfg.admin_url ?? cfg.url;
    if (!url)
      throw new VigilError('config_invalid', 'mqtt.provisioner mosquitto-dynsec needs mqtt.url (or mqtt.admin_url)');
    if (!cfg.admin_username || !cfg.admin_password) {
      throw new VigilError(
        'config_invalid',
        'mqtt.provisioner mosquitto-dynsec needs mqtt.admin_username and mqtt.admin_password (a login with the ' +
          'dynamic-security admin role)',
      );
    }
    provisioner = new MosquittoDynsecProvisioner({
      url,
      adminUsername: cfg.admin_username,
      adminPassword: cfg.admin_password,
      // A clean session of its own: a fresh id per start, never one another collector uses.
      clientId: `vc-${deploymentId}-admin-${randomBytes(5).toString('hex')}`,
      timeoutMs: parseDuration(cfg.admin_timeout),
      reconnectMs: cfg.reconnect_ms,
      ca: cfg.ca_file !== undefined ? readFileSync(cfg.ca_file) : undefined,
      log,
    });
    await provisioner.start({ deploymentId, group, username: username!, password: password! });
  } else if (cfg.url) {
    log.warn(
      { group },
      'mqtt.provisioner is none: boxes get no broker login and the broker must control access itself (see ' +
        'scripts/mosquitto/README.md)',
    );
  }

  const ingest = cfg.url && clientId !== undefined ? { clientId, group, username, password } : undefined;
  const foreign = ingest
    ? new ForeignTrafficWatch({
        group,
        deploymentId,
        windowMs: parseDuration(cfg.foreign_traffic.window),
        minMessages: cfg.foreign_traffic.min_messages,
        log,
      })
    : undefined;
  const claim =
    ingest && foreign && cfg.url
      ? new GroupClaim({
          url: cfg.url,
          clientId: `${ingest.clientId}-claim`.slice(0, 64),
          username,
          password,
          ca: cfg.ca_file !== undefined ? readFileSync(cfg.ca_file) : undefined,
          reconnectMs: cfg.reconnect_ms,
          group,
          deploymentId,
          log,
          onForeign: (other) => foreign.noteForeignClaim(other),
        })
      : undefined;
  log.info(
    {
      deployment_id: deploymentId,
      group: ingest ? group : null,
      client_id: clientId ?? null,
      provisioner: provisioner.kind,
    },
    'broker identity',
  );

  return {
    deploymentId,
    provisioner,
    ingest,
    foreign,
    details: () => ({
      deployment_id: deploymentId,
      group: ingest ? group : null,
      client_id: clientId ?? null,
      provisioner: { kind: provisioner.kind, ...provisioner.health() },
      foreign_traffic: foreign?.state() ?? null,
    }),
    close: async () => {
      await claim?.close();
      foreign?.close();
      await provisioner.close();
      slot?.release();
    },
  };
}
