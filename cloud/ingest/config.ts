import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import {
  BATCH_MAX_BYTES,
  CLOCK_TOLERANCE_S,
  HEARTBEAT_MAX_BYTES,
  MQTT_ENVELOPE_MAX_BYTES,
  THUMBNAIL_MAX_BYTES,
} from '../../firmware-protocol/limits.js';
import { SHARED_GROUP } from '../../firmware-protocol/topics.js';
import { BrokerConfigProperties } from './broker-config.js';

/**
 * Config sections of ingest. The collector's config embeds them as
 *
 *   ingest: IngestConfigSchema,   // always present (defaults fill it)
 *   mqtt:   MqttConfigSchema,     // MQTT ingest runs only when mqtt.url is set
 *
 * Both carry `default: {}` so a config file may omit them entirely. Env overrides follow the shared loader, e.g.
 * `VIGIL_CLOUD__MQTT__URL=mqtt://broker:1883`, `VIGIL_CLOUD__INGEST__RATE_LIMIT__PER_SECOND=50`.
 */
export const IngestConfigSchema = Type.Object(
  {
    clock_tolerance_s: Type.Integer({
      minimum: 1,
      maximum: 86_400,
      default: CLOCK_TOLERANCE_S,
      description:
        'Allowed difference between a signed timestamp and the collector clock, seconds (also the replay window).',
    }),
    body_limits: Type.Object(
      {
        events_bytes: Type.Integer({
          minimum: 1024,
          default: BATCH_MAX_BYTES,
          description: 'Largest event or event-batch body (HTTP), bytes.',
        }),
        heartbeat_bytes: Type.Integer({
          minimum: 1024,
          default: HEARTBEAT_MAX_BYTES,
          description: 'Largest heartbeat body (HTTP), bytes.',
        }),
        thumbnail_bytes: Type.Integer({
          minimum: 1024,
          default: THUMBNAIL_MAX_BYTES,
          description: 'Largest JPEG thumbnail, bytes.',
        }),
        mqtt_envelope_bytes: Type.Integer({
          minimum: 1024,
          default: MQTT_ENVELOPE_MAX_BYTES,
          description: 'Largest MQTT signing envelope; larger messages are dropped unread.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    rate_limit: Type.Object(
      {
        per_second: Type.Number({
          minimum: 0.01,
          default: 20,
          description: 'Sustained signed requests/messages per device per second.',
        }),
        burst: Type.Integer({
          minimum: 1,
          default: 200,
          description: 'Requests a device may send at once before the sustained rate applies.',
        }),
        max_devices_tracked: Type.Integer({
          minimum: 100,
          default: 100_000,
          description: 'Devices whose buckets are kept in memory (least recently used are dropped).',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    dead_letter_after: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 5,
      description:
        "Failures on the collector's side (not the sender's, and not while the database or blob store is down) " +
        'after which a message is moved to the dead-letter table and acked, so it cannot be retried forever.',
    }),
    contact_interval_ms: Type.Integer({
      minimum: 0,
      default: 10_000,
      description: 'Least time between two "device seen" notes to the status store for one device, milliseconds.',
    }),
  },
  { default: {}, additionalProperties: false, description: 'Signed ingest over HTTPS and MQTT.' },
);
export type IngestConfig = Static<typeof IngestConfigSchema>;

export const MqttConfigSchema = Type.Object(
  {
    url: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Broker URL (mqtt://, mqtts://, ws://). MQTT ingest runs only when set.',
      }),
    ),
    client_id: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        pattern: '^[A-Za-z0-9_.-]+$',
        description:
          'Client id of this collector instance: unique per instance, stable across its restarts (the broker ' +
          'keeps its persistent session, with unacked messages, under it). Unset: vc-<deployment ' +
          'id>-<host>-<suffix>, the suffix kept in the data dir (mqtt-instance-N.id, one per instance running on ' +
          'that dir).',
      }),
    ),
    shared_group: Type.Optional(
      Type.String({
        minLength: 1,
        pattern: '^[A-Za-z0-9_-]+$',
        description:
          'Shared-subscription group; the collectors of one deployment split the device traffic in it. Unset: ' +
          'vigil-<deployment id> (the id is generated once and kept in the database), so two deployments on one ' +
          `broker never share a group. Before the deployment id existed the default was "${SHARED_GROUP}".`,
      }),
    ),
    connections: Type.Integer({
      minimum: 1,
      maximum: 16,
      default: 1,
      description:
        'Broker connections this instance opens in the group (client ids `<client_id>`, `<client_id>-2`, …).',
    }),
    max_in_flight: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 32,
      description:
        'Messages handled at once per connection (concurrent messages share database commits). Each is PUBACKed ' +
        'only once stored, in arrival order; a thumbnail waits for the messages of its device received before it. ' +
        '1 = one message after the other.',
    }),
    username: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          "The collectors' broker login. Unset with provisioner mosquitto-dynsec: vigil-collector-<deployment " +
          'id>, created by the collector. Unset otherwise: no login.',
      }),
    ),
    password: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Password of mqtt.username (never logged). Unset with provisioner mosquitto-dynsec: derived from the ' +
          'secrets key, the same on every collector of the deployment.',
      }),
    ),
    ...BrokerConfigProperties,
    qos: Type.Union([Type.Literal(1), Type.Literal(2)], {
      default: 1,
      description: 'QoS of the subscriptions and of the acks.',
    }),
    protocol_version: Type.Union([Type.Literal(4), Type.Literal(5)], {
      default: 5,
      description: 'MQTT 3.1.1 (4) or 5.',
    }),
    session_expiry_s: Type.Integer({
      minimum: 0,
      default: 86_400,
      description: 'MQTT 5 session expiry: how long the broker keeps queued messages for an offline collector.',
    }),
    keepalive_s: Type.Integer({ minimum: 5, default: 30 }),
    reconnect_ms: Type.Integer({ minimum: 100, default: 2_000, description: 'Delay between reconnect attempts.' }),
    ca_file: Type.Optional(Type.String({ description: 'PEM CA bundle for mqtts:// brokers with a private CA.' })),
  },
  { default: {}, additionalProperties: false, description: 'MQTT ingest (shared subscriptions, signed acks).' },
);
export type MqttConfig = Static<typeof MqttConfigSchema>;

/** Config with every default filled, for tests and library use. */
export function ingestConfig(partial: unknown = {}): IngestConfig {
  return Value.Default(IngestConfigSchema, Value.Clone(partial)) as IngestConfig;
}

export function mqttConfig(partial: unknown = {}): MqttConfig {
  return Value.Default(MqttConfigSchema, Value.Clone(partial)) as MqttConfig;
}
