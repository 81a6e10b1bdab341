import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parseDuration } from '../../shared/clock/index.js';
import { durationSetting as Duration } from '../../shared/config/index.js';
import { BATCH_MAX_EVENTS } from '../../firmware-protocol/limits.js';

/**
 * The `uplink:` section of the agent's config file, with its defaults and descriptions (the only place they are
 * written), and the Uplink settings it stands for. An Uplink built without config (tests, benches) takes the same
 * defaults (`UPLINK_DEFAULTS`). The daemon builds outbox + uplink in agent/daemon/store-and-forward.ts.
 */
export const UplinkConfigSchema = Type.Object(
  {
    transport: Type.Union([Type.Literal('auto'), Type.Literal('mqtt'), Type.Literal('https')], {
      default: 'auto',
      description:
        'auto: MQTT when mqtt_url is set, else HTTPS. HTTPS is also used for clock sync when MQTT carries the events.',
    }),
    https_url: Type.Optional(
      Type.String({ pattern: '^https?://', description: 'Collector base URL (from pairing: endpoints.https).' }),
    ),
    mqtt_url: Type.Optional(
      Type.String({ pattern: '^(mqtts?|wss?)://', description: 'Broker URL (from pairing: endpoints.mqtt).' }),
    ),
    mqtt_username: Type.Optional(Type.String()),
    mqtt_password: Type.Optional(Type.String()),
    ca_file: Type.Optional(
      Type.String({
        description:
          'PEM CA bundle trusted instead of the system CAs, for a collector or broker with a private CA. Used by ' +
          'vigil-agent pair, doctor and the daemon (HTTPS and MQTT): no NODE_EXTRA_CA_CERTS needed.',
      }),
    ),
    cert_file: Type.Optional(
      Type.String({
        description:
          'PEM client certificate (chain) this box presents when the collector, its TLS proxy or the broker asks ' +
          'for one (mutual TLS). Set with key_file.',
      }),
    ),
    key_file: Type.Optional(Type.String({ description: 'PEM private key of cert_file (keep it 0600).' })),
    ack_timeout: Duration('30s', "How long a sent item waits for the collector's ack before it is sent again."),
    http_timeout: Duration('20s', 'Whole-request timeout of HTTPS sends.'),
    heartbeat_interval: Duration('30s', 'Heartbeat period; 0 turns heartbeats off.'),
    batch_max_events: Type.Integer({
      minimum: 1,
      maximum: BATCH_MAX_EVENTS,
      default: BATCH_MAX_EVENTS,
      description: 'Events per message.',
    }),
    max_in_flight: Type.Integer({
      minimum: 1,
      maximum: 100_000,
      default: 2_000,
      description: 'Most items sent and not yet acked.',
    }),
    concurrency: Type.Integer({ minimum: 1, maximum: 64, default: 4, description: 'Sends in progress at once.' }),
    messages_per_second: Type.Number({
      minimum: 0,
      default: 18,
      description: "Message rate limit (0 = none); keep it under the collector's per-device limit.",
    }),
    message_burst: Type.Integer({
      minimum: 1,
      default: 180,
      description: 'Messages allowed at once before the rate applies.',
    }),
  },
  { default: {}, additionalProperties: false, description: 'Sending to the collector over MQTT and/or HTTPS.' },
);
export type UplinkConfig = Static<typeof UplinkConfigSchema>;

/** The section with its defaults filled in (for tests and library use). */
export function uplinkConfig(partial: Partial<UplinkConfig> = {}): UplinkConfig {
  return Value.Default(UplinkConfigSchema, Value.Clone(partial)) as UplinkConfig;
}

/** What the `uplink:` section sets on the Uplink itself (the transports take the URLs, TLS and http_timeout). */
export interface UplinkSettings {
  /** How long a sent item waits for its end-to-end ack before it is sent again. */
  ackTimeoutMs: number;
  /** Heartbeat period; 0 turns heartbeats off. */
  heartbeatIntervalMs: number;
  /** Events per message (≤ 100). */
  batchMaxEvents: number;
  /** Most items in flight (sent, not yet acked) at once. */
  maxInFlightItems: number;
  /** Sends in progress at once (HTTP requests / MQTT publishes awaiting PUBACK). */
  concurrency: number;
  /**
   * Most messages (event batches, thumbnails) per second, with a burst allowance; 0 turns the limit off. The
   * default stays under the collector's default per-device limit (20/s, burst 200): over MQTT a message above the
   * collector's limit is not acked at all and only comes back after the ack timeout.
   */
  messagesPerSecond: number;
  messageBurst: number;
}

export function uplinkSettingsFrom(u: UplinkConfig): UplinkSettings {
  return {
    ackTimeoutMs: parseDuration(u.ack_timeout),
    heartbeatIntervalMs: parseDuration(u.heartbeat_interval),
    batchMaxEvents: u.batch_max_events,
    maxInFlightItems: u.max_in_flight,
    concurrency: u.concurrency,
    messagesPerSecond: u.messages_per_second,
    messageBurst: u.message_burst,
  };
}

/** The schema's defaults as Uplink settings. */
export const UPLINK_DEFAULTS: UplinkSettings = uplinkSettingsFrom(uplinkConfig());
