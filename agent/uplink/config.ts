import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { OffsetClock, parseDuration } from '../../shared/clock/index.js';
import { VigilError } from '../errors.js';
import type { Logger } from '../../shared/log/index.js';
import type { DeviceCredentials } from '../../shared/signing/index.js';
import { validateEvent } from '../../firmware-protocol/messages.js';
import { BATCH_MAX_EVENTS } from '../../firmware-protocol/limits.js';
import { DEFAULT_DATA_DIR, Outbox, OUTBOX_FILE } from '../outbox/index.js';
import type { CameraStatus } from './heartbeat.js';
import { loadClientTls, type ClientTls } from './https-client.js';
import { HttpsTransport } from './https-transport.js';
import { MqttTransport, type BrokerLoginSource } from './mqtt-transport.js';
import type { Transport } from './types.js';
import { Uplink } from './uplink.js';

/**
 * Config sections for the daemon's config file (`outbox:` and `uplink:`), with defaults and descriptions, and the
 * one function that turns them into a running outbox + uplink.
 */

const Duration = (def: string, description: string) => Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)?\\s*$', default: def, description });

export const OutboxConfigSchema = Type.Object(
  {
    budget_bytes: Type.Integer({
      minimum: 1024 * 1024,
      default: 256 * 1024 * 1024,
      description: 'Most bytes of un-acked events and thumbnails kept. Over it, update thumbnails go first, then other thumbnails, then superseded update records; new events are refused only when records alone fill it.',
    }),
    retention: Duration('24h', 'How long acked and dropped rows are kept for `vigil-agent outbox list` (their bodies are freed at once).'),
    reserve_bytes: Type.Integer({
      minimum: 0,
      default: 4 * 1024 * 1024,
      description:
        'Disk-full reserve: a file of this size beside outbox.db (plus a quarter of it as spare pages inside) given back when the disk fills, so sending, acks and counters go on. Taken again once twice this much is free. 0 turns it off.',
    }),
    quarantine_corrupt: Type.Boolean({ default: false, description: 'Rename a corrupt or foreign outbox file aside (outbox.db.corrupt-<time>) and start empty, instead of refusing to start.' }),
  },
  { default: {}, additionalProperties: false, description: 'The store-and-forward outbox (<data_dir>/outbox.db).' },
);
export type OutboxConfig = Static<typeof OutboxConfigSchema>;

export const UplinkConfigSchema = Type.Object(
  {
    transport: Type.Union([Type.Literal('auto'), Type.Literal('mqtt'), Type.Literal('https')], {
      default: 'auto',
      description: 'auto: MQTT when mqtt_url is set, else HTTPS. HTTPS is also used for clock sync when MQTT carries the events.',
    }),
    https_url: Type.Optional(Type.String({ pattern: '^https?://', description: 'Collector base URL (from pairing: endpoints.https).' })),
    mqtt_url: Type.Optional(Type.String({ pattern: '^(mqtts?|wss?)://', description: 'Broker URL (from pairing: endpoints.mqtt).' })),
    mqtt_username: Type.Optional(Type.String()),
    mqtt_password: Type.Optional(Type.String()),
    ca_file: Type.Optional(
      Type.String({
        description: 'PEM CA bundle trusted instead of the system CAs, for a collector or broker with a private CA. Used by vigil-agent pair, doctor and the daemon (HTTPS and MQTT): no NODE_EXTRA_CA_CERTS needed.',
      }),
    ),
    cert_file: Type.Optional(Type.String({ description: 'PEM client certificate (chain) this box presents when the collector, its TLS proxy or the broker asks for one (mutual TLS). Set with key_file.' })),
    key_file: Type.Optional(Type.String({ description: 'PEM private key of cert_file (keep it 0600).' })),
    ack_timeout: Duration('30s', 'How long a sent item waits for the collector\'s ack before it is sent again.'),
    http_timeout: Duration('20s', 'Whole-request timeout of HTTPS sends.'),
    heartbeat_interval: Duration('30s', 'Heartbeat period; 0 turns heartbeats off.'),
    batch_max_events: Type.Integer({ minimum: 1, maximum: BATCH_MAX_EVENTS, default: BATCH_MAX_EVENTS, description: 'Events per message.' }),
    max_in_flight: Type.Integer({ minimum: 1, maximum: 100_000, default: 2_000, description: 'Most items sent and not yet acked.' }),
    concurrency: Type.Integer({ minimum: 1, maximum: 64, default: 4, description: 'Sends in progress at once.' }),
    messages_per_second: Type.Number({ minimum: 0, default: 18, description: 'Message rate limit (0 = none); keep it under the collector\'s per-device limit.' }),
    message_burst: Type.Integer({ minimum: 1, default: 180, description: 'Messages allowed at once before the rate applies.' }),
  },
  { default: {}, additionalProperties: false, description: 'Sending to the collector over MQTT and/or HTTPS.' },
);
export type UplinkConfig = Static<typeof UplinkConfigSchema>;

/** Defaults filled in (for tests and library use). */
export function uplinkConfig(partial: Partial<UplinkConfig> = {}): UplinkConfig {
  return Value.Default(UplinkConfigSchema, Value.Clone(partial)) as UplinkConfig;
}

export function outboxConfig(partial: Partial<OutboxConfig> = {}): OutboxConfig {
  return Value.Default(OutboxConfigSchema, Value.Clone(partial)) as OutboxConfig;
}

export interface StoreAndForwardDeps {
  dataDir?: string;
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
  /**
   * The box's own broker login, used over MQTT when no login is configured (uplink.mqtt_username): the daemon
   * passes the credentials file's (agent/credentials/broker-login.ts), which asks the collector at `baseUrl` for a
   * new one when it has none or the broker refuses it.
   */
  brokerLogin?: (collector: { baseUrl: string; clock: OffsetClock; tls: ClientTls }) => BrokerLoginSource;
}

/** Opens the outbox and builds the uplink (not started). The daemon calls `uplink.start()` and `uplink.notify()` after each enqueue. */
export function createStoreAndForward(d: StoreAndForwardDeps): { outbox: Outbox; uplink: Uplink; clock: OffsetClock } {
  const u = d.uplink;
  const clock = d.clock ?? new OffsetClock();
  const kind = u.transport === 'auto' ? (u.mqtt_url ? 'mqtt' : 'https') : u.transport;
  if (kind === 'mqtt' && !u.mqtt_url) throw new VigilError('config_invalid', 'uplink.transport is mqtt but uplink.mqtt_url is not set');
  if (kind === 'https' && !u.https_url) throw new VigilError('config_invalid', 'uplink.https_url is not set (the collector URL from pairing)');
  // One TLS client configuration for every connection to the collector and its broker (./https-client.ts).
  const tls = loadClientTls(u);
  const ca = tls.ca;
  const https = u.https_url
    ? new HttpsTransport({ baseUrl: u.https_url, identity: d.identity, clock, logger: d.logger, timeoutMs: parseDuration(u.http_timeout), tls })
    : undefined;
  const login = kind === 'mqtt' && d.brokerLogin && u.https_url ? d.brokerLogin({ baseUrl: u.https_url, clock, tls }) : undefined;
  const transport: Transport =
    kind === 'mqtt'
      ? new MqttTransport({
          url: u.mqtt_url as string,
          identity: d.identity,
          clock,
          logger: d.logger,
          ...(u.mqtt_username !== undefined ? { username: u.mqtt_username } : {}),
          ...(u.mqtt_password !== undefined ? { password: u.mqtt_password } : {}),
          ...(login ? { login } : {}),
          ...(Object.keys(tls).length > 0 ? { connectOptions: { ...tls } } : {}),
        })
      : (https as HttpsTransport);
  const outbox = Outbox.open({
    path: join(d.dataDir ?? DEFAULT_DATA_DIR, OUTBOX_FILE),
    budgetBytes: d.outbox.budget_bytes,
    retentionMs: parseDuration(d.outbox.retention),
    reserveBytes: d.outbox.reserve_bytes,
    quarantine: d.outbox.quarantine_corrupt,
    logger: d.logger,
    validateEvent: (e) => void validateEvent.parse(e, 'event'),
  });
  const uplink = new Uplink({
    outbox,
    transport,
    deviceId: d.identity.deviceId,
    clock,
    logger: d.logger,
    version: d.version,
    ackTimeoutMs: parseDuration(u.ack_timeout),
    heartbeatIntervalMs: parseDuration(u.heartbeat_interval),
    batchMaxEvents: u.batch_max_events,
    maxInFlightItems: u.max_in_flight,
    concurrency: u.concurrency,
    messagesPerSecond: u.messages_per_second,
    messageBurst: u.message_burst,
    ...(d.cameras ? { cameras: d.cameras } : {}),
    ...(d.bootId ? { bootId: d.bootId } : {}),
    ...(kind === 'mqtt' && https ? { clockSync: https } : {}),
  });
  return { outbox, uplink, clock };
}
