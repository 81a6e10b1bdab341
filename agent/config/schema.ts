import { Type, type Static } from '@sinclair/typebox';
import { CameraConfigSchema } from '../camera/config.js';
import { DetectorConfigSchema } from '../detect/config.js';
import { OutboxConfigSchema } from '../outbox/config.js';
import { UplinkConfigSchema } from '../uplink/config.js';
import { LocalMqttConfigSchema } from '../local/config.js';
import {
  CameraLabelsSchema,
  DEFAULT_LABELS,
  LabelFilterSchema,
  ObjectsConfigSchema,
  ReviewConfigSchema,
  ZonesSchema,
} from './objects-schema.js';
import { CAMERA_NAME_PATTERN, DEVICE_ID_PATTERN, KEY_ID_PATTERN } from '../../firmware-protocol/patterns.js';

/**
 * The agent's config file (`/etc/vigil/agent.yaml`), as one TypeBox schema: it validates the file, fills the
 * defaults and is the source of the README's config reference (`configReferenceMarkdown(AgentConfigSchema)`).
 * Defaults are written here only.
 */

export { LabelFilterSchema };

export const DEFAULT_AGENT_CONFIG_FILE = '/etc/vigil/agent.yaml';
export const DEFAULT_AGENT_DATA_DIR = '/var/lib/vigil';
export const AGENT_ENV_PREFIX = 'VIGIL_AGENT';
export const CREDENTIALS_FILE_NAME = 'credentials.json';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type AgentLogLevel = (typeof LOG_LEVELS)[number];

/** Sizes such as `10MiB`, `512K`, `1G` or a bare number of bytes (see sizes.ts). */
export const SIZE_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*([kKmMgG]i?[bB]?|[bB])?\\s*$';

export const LogConfigSchema = Type.Object(
  {
    level: Type.Union(
      LOG_LEVELS.map((l) => Type.Literal(l)),
      {
        default: 'info',
        description: 'Least severe level written: fatal, error, warn, info, debug, trace (or silent).',
      },
    ),
    file: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Also write the JSON log lines to this file, rotated by size (file.1 … file.N). Unset: stdout only ' +
          '(under systemd: the journal, read with `vigil-agent logs`).',
      }),
    ),
    max_size: Type.String({
      pattern: SIZE_PATTERN,
      default: '10MiB',
      description: 'Size at which the log file is rotated, e.g. 10MiB, 512K, 1G.',
    }),
    max_files: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 5,
      description: 'Rotated log files kept besides the live one (file.1 is the newest).',
    }),
  },
  {
    default: {},
    additionalProperties: false,
    description: 'Logging: JSON lines with a component field; secrets are never logged.',
  },
);
export type LogConfig = Static<typeof LogConfigSchema>;

export const DeviceConfigSchema = Type.Object(
  {
    id: Type.Optional(
      Type.String({
        pattern: DEVICE_ID_PATTERN,
        description: 'Device id issued by the collector at pairing (dev_<ULID>).',
      }),
    ),
    cloud: Type.Optional(
      Type.String({ pattern: '^https?://', description: 'Collector base URL for HTTPS (pairing endpoints.https).' }),
    ),
    transport: Type.Optional(
      Type.Union([Type.Literal('https'), Type.Literal('mqtt')], {
        description:
          'How events travel: mqtt when the collector offered a broker at pairing, else https. `uplink.transport` ' +
          'other than auto wins.',
      }),
    ),
    mqtt_url: Type.Optional(
      Type.String({ pattern: '^(mqtts?|wss?)://', description: 'Broker URL from pairing (endpoints.mqtt).' }),
    ),
    key_id: Type.Optional(
      Type.String({
        pattern: KEY_ID_PATTERN,
        description:
          'Id of the signing key issued at pairing (informational; the key itself is in the credentials file).',
      }),
    ),
    credentials: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Credentials file (device id, key, secret); default <data_dir>/credentials.json. Mode 0600, never logged.',
      }),
    ),
  },
  {
    default: {},
    additionalProperties: false,
    description:
      "This box's identity at the collector. Written by `vigil-agent pair`, cleared by `vigil-agent unpair`; edit " +
      'by hand only to move the credentials file.',
  },
);
export type DeviceConfig = Static<typeof DeviceConfigSchema>;

const Score = (description: string) => Type.Number({ minimum: 0, maximum: 1, description });

/** A camera as the agent config holds it: the camera stage's settings plus what to track on it. */
export const AgentCameraSchema = Type.Object(
  {
    ...CameraConfigSchema.properties,
    name: Type.String({
      pattern: CAMERA_NAME_PATTERN,
      description: 'Camera name (unique): letters, digits, _ and -; used in events, logs and file names.',
    }),
    enabled: Type.Boolean({
      default: true,
      description: 'false: configured but not watched (reported as stopped in heartbeats).',
    }),
    labels: CameraLabelsSchema,
    min_score: Type.Optional(Score("Detections below this are ignored (default: the tracker's 0.5).")),
    threshold: Type.Optional(
      Score("Median of the last scores needed to announce an event (default: the tracker's 0.7)."),
    ),
    filters: Type.Record(Type.String({ minLength: 1 }), LabelFilterSchema, {
      default: {},
      keyName: 'label',
      description:
        'Per label: min_score, threshold, min_area/max_area, min_ratio/max_ratio and mask, e.g. ' +
        '{person: {threshold: 0.75, min_area: 0.002}, car: {min_score: 0.6, mask: [[[0, 0.6], [0.3, 0.6], ' +
        '[0.3, 1], [0, 1]]]}}.',
    }),
    objects: ObjectsConfigSchema,
    zones: ZonesSchema,
    review: ReviewConfigSchema,
  },
  {
    additionalProperties: false,
    // The default label set sits here, not on `labels` (see objects-schema.ts: list defaults merge into lists).
    default: { labels: [...DEFAULT_LABELS] },
    description: 'One camera and what to look for on it.',
  },
);
export type AgentCameraConfig = Static<typeof AgentCameraSchema>;

export const StatusConfigSchema = Type.Object(
  {
    listen: Type.String({
      pattern: '^(/\\S+|[A-Za-z0-9.-]+:\\d{1,5}|\\[[0-9A-Fa-f:.]+\\]:\\d{1,5})$',
      default: '127.0.0.1:7411',
      description:
        'Where the daemon answers `vigil-agent status`: HOST:PORT (keep it on loopback) or an absolute unix socket ' +
        'path.',
    }),
  },
  { default: {}, additionalProperties: false, description: "The daemon's local status endpoint." },
);
export type StatusConfig = Static<typeof StatusConfigSchema>;

export const ModelConfigSchema = Type.Object(DetectorConfigSchema.properties, {
  additionalProperties: false,
  description: 'The object detector (ONNX). Unset: motion-only (events labelled motion).',
});

export const AgentConfigSchema = Type.Object(
  {
    data_dir: Type.String({
      minLength: 1,
      default: DEFAULT_AGENT_DATA_DIR,
      description: 'Where the agent keeps its state: outbox.db, thumbnails, credentials.json, generated models.',
    }),
    log: LogConfigSchema,
    device: DeviceConfigSchema,
    cameras: Type.Array(AgentCameraSchema, {
      default: [],
      maxItems: 64,
      description: 'The cameras this box watches (names unique).',
    }),
    model: Type.Optional(ModelConfigSchema),
    outbox: OutboxConfigSchema,
    uplink: UplinkConfigSchema,
    status: StatusConfigSchema,
    local_mqtt: Type.Optional(LocalMqttConfigSchema),
  },
  { additionalProperties: false, description: 'vigil-agent configuration.' },
);

/** The config as loaded: defaults filled, `device.credentials` resolved against `data_dir`. */
export type AgentConfig = Static<typeof AgentConfigSchema> & { device: DeviceConfig & { credentials: string } };
