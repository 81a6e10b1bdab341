import { hostname } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';

/**
 * The optional `local_mqtt` config section: the box's second MQTT client, to a broker on the owner's LAN (Home
 * Assistant's Mosquitto add-on, say). Absent: no local integration. Nothing here touches the cloud uplink.
 */
export const LocalMqttConfigSchema = Type.Object(
  {
    url: Type.String({
      pattern: '^(mqtts?|wss?)://',
      description: 'The LAN broker, e.g. mqtt://homeassistant.local:1883 or mqtts://broker.lan:8883.',
    }),
    username: Type.Optional(Type.String({ minLength: 1, description: 'Broker login (never logged).' })),
    password: Type.Optional(Type.String({ description: 'Broker password (never logged).' })),
    ca_file: Type.Optional(
      Type.String({ minLength: 1, description: "PEM CA bundle to trust for mqtts:// (the broker's CA)." }),
    ),
    cert_file: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'PEM client certificate (with key_file), instead of or besides a password.',
      }),
    ),
    key_file: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key of cert_file (never logged).' })),
    box_name: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$',
        description: "This box's name on the LAN (topics, HA device id). Default: the host name, made topic-safe.",
      }),
    ),
    topic_prefix: Type.Optional(
      Type.String({
        pattern: '^[^#+\\s]+[^#+\\s/]$',
        description: 'Root of the local topics. Default: vigil/<box_name>.',
      }),
    ),
    discovery: Type.Boolean({ default: true, description: 'Announce the box to Home Assistant (MQTT discovery).' }),
    discovery_prefix: Type.String({
      pattern: '^[^#+\\s]+[^#+\\s/]$',
      default: 'homeassistant',
      description: "Home Assistant's discovery prefix (HA listens for its birth message on <prefix>/status).",
    }),
    snapshots: Type.Boolean({
      default: true,
      description: 'Publish the latest picture of each label on <prefix>/<camera>/<label>/snapshot (retained JPEG).',
    }),
    queue_size: Type.Integer({
      minimum: 10,
      maximum: 100_000,
      default: 1000,
      description:
        'Messages held while the broker is slow or away; when full the oldest is dropped (counted). A retained ' +
        'state (counts, snapshots) replaces its older value in the queue.',
    }),
    diagnostics_interval_s: Type.Integer({
      minimum: 5,
      maximum: 3600,
      default: 60,
      description: 'How often the box diagnostics (outbox depth, uplink state, CPU temperature) are published.',
    }),
  },
  {
    additionalProperties: false,
    description:
      'Local integrations: a second MQTT client to a broker on the LAN (Home Assistant discovery, counts, events, ' +
      'snapshots, detection switches). Unset: off. Independent of the cloud uplink; works without the internet.',
  },
);
export type LocalMqttConfig = Static<typeof LocalMqttConfigSchema>;

/** A name made safe for topics and HA ids: [A-Za-z0-9_-], at most 64 characters. */
export function topicSafe(name: string): string {
  const s = name
    .replace(/[^A-Za-z0-9_-]+/g, '_')
    .replace(/^[_-]+/, '')
    .slice(0, 64);
  return s.length > 0 ? s : 'vigil';
}

/** The box's name on the LAN: `box_name`, else the host name made topic-safe. */
export function boxNameOf(c: LocalMqttConfig): string {
  return c.box_name ?? topicSafe(hostname().split('.')[0] ?? '');
}

/** The root of the local topics: `topic_prefix`, else `vigil/<box_name>`. */
export function topicPrefixOf(c: LocalMqttConfig): string {
  return c.topic_prefix ?? `vigil/${boxNameOf(c)}`;
}
