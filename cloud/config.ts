import { Type, type Static } from '@sinclair/typebox';
import { loadConfig, type LoadedConfig, durationSetting as Duration } from '../shared/config/index.js';
import { AccountsConfigSchema } from './accounts/config.js';
import { IngestConfigSchema, MqttConfigSchema } from './ingest/config.js';
import { PushConfigSchema } from './push/config.js';
import { NotifyConfigSchema } from './notify/config.js';
import { QueueConfigSchema } from './queue/config.js';
import { ReclassifyConfigSchema } from './reclassify/config.js';
import { EventsConfigSchema } from './status/config.js';
import { ModelsConfigSchema } from './models/config.js';
import { CommandsConfigSchema } from './commands/config.js';

/**
 * The collector's configuration: defaults here ← YAML file (`--config`) ← environment `VIGIL_CLOUD__A__B` ← CLI
 * flags. `vigil-cloud serve` with no config at all runs self-contained: SQLite and thumbnails under `./vigil-data`,
 * HTTP on port 8080.
 */
export const CLOUD_ENV_PREFIX = 'VIGIL_CLOUD';

export const CloudConfigSchema = Type.Object(
  {
    data_dir: Type.String({
      minLength: 1,
      default: './vigil-data',
      description:
        'Directory for the embedded database (vigil.db), thumbnails and the generated secrets key. Relative to ' +
        'the working directory.',
    }),
    server: Type.Object(
      {
        host: Type.String({ minLength: 1, default: '0.0.0.0', description: 'Address to listen on.' }),
        port: Type.Integer({
          minimum: 0,
          maximum: 65535,
          default: 8080,
          description: 'TCP port; 0 picks a free one (the bound URL is logged and printed).',
        }),
        public_url: Type.Optional(
          Type.String({
            format: 'uri',
            pattern: '^https?://',
            description:
              'Base URL boxes and apps use to reach this collector (given to boxes at pairing). Default: the ' +
              'bound address.',
          }),
        ),
        trust_proxy: Type.Boolean({
          default: false,
          description: 'Trust X-Forwarded-* headers (behind a reverse proxy that terminates TLS).',
        }),
        tls: Type.Object(
          {
            cert_file: Type.Optional(
              Type.String({
                minLength: 1,
                description:
                  'PEM certificate chain (server certificate first, then intermediates). With key_file set, serve ' +
                  'speaks HTTPS itself; re-read on SIGHUP (new connections get the new certificate, the listener ' +
                  'stays up).',
              }),
            ),
            key_file: Type.Optional(
              Type.String({
                minLength: 1,
                description: 'PEM private key of cert_file (keep it 0600, readable by the service user only).',
              }),
            ),
          },
          {
            default: {},
            additionalProperties: false,
            description:
              'TLS terminated by vigil-cloud itself; unset: plain HTTP (put a TLS-terminating proxy in front).',
          },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    database: Type.Object(
      {
        url: Type.Optional(
          Type.String({
            minLength: 1,
            description:
              'postgres://user@host/db selects PostgreSQL; unset (or sqlite:PATH) uses SQLite at <data_dir>/vigil.db.',
          }),
        ),
        schema: Type.Optional(
          Type.String({
            pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$',
            description: 'PostgreSQL schema (search_path); created if missing.',
          }),
        ),
        pool_max: Type.Integer({
          minimum: 1,
          maximum: 200,
          default: 10,
          description:
            'PostgreSQL connections per collector (each concurrent transaction holds one; PostgreSQL ' +
            'group-commits concurrent ones).',
        }),
        sqlite: Type.Object(
          {
            synchronous: Type.Union([Type.Literal('full'), Type.Literal('normal')], {
              default: 'full',
              description:
                'SQLite durability (WAL mode). full (default): every commit is fsynced before it is acknowledged, ' +
                'so acked data survives a process crash, kill -9, an OS crash and a power loss. normal: the WAL ' +
                'is fsynced only at checkpoints; acked data survives a process crash or kill -9, but the last ' +
                "commits (up to a checkpoint's worth) may be lost on power loss or an OS crash, although devices " +
                'were told they were stored and deleted them. normal makes commits much cheaper (no fsync per ' +
                'commit); concurrent requests share one commit either way (group commit).',
            }),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    blob: Type.Object(
      {
        kind: Type.Union([Type.Literal('fs'), Type.Literal('s3')], {
          default: 'fs',
          description: 'Thumbnail storage: a local directory or an S3-compatible bucket.',
        }),
        dir: Type.Optional(
          Type.String({ minLength: 1, description: 'Directory for kind fs; default <data_dir>/thumbnails.' }),
        ),
        s3: Type.Object(
          {
            bucket: Type.Optional(Type.String({ minLength: 3, description: 'Bucket (required for kind s3).' })),
            endpoint: Type.Optional(
              Type.String({
                format: 'uri',
                description: 'Custom endpoint for S3-compatible servers (MinIO, Ceph…); omit for AWS.',
              }),
            ),
            region: Type.String({ default: 'us-east-1' }),
            force_path_style: Type.Boolean({
              default: true,
              description: 'Path-style URLs (endpoint/bucket/key), needed by most S3-compatible servers.',
            }),
            access_key_id: Type.Optional(Type.String()),
            secret_access_key: Type.Optional(Type.String()),
            prefix: Type.Optional(Type.String({ description: 'Key prefix inside the bucket, e.g. vigil/.' })),
          },
          { default: {}, additionalProperties: false },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    secrets: Type.Object(
      {
        key: Type.Optional(
          Type.String({
            pattern: '^[A-Za-z0-9+/]{43}=$',
            description:
              'Base64 of 32 bytes: the AES-256-GCM key sealing device secrets in the database. Unset: generated ' +
              'once into <data_dir>/secrets.key (mode 0600). Every collector sharing a database needs the same ' +
              'key.',
          }),
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    pairing: Type.Object(
      {
        code_ttl: Duration('15m', 'How long a pairing code stays valid.'),
        mqtt_url: Type.Optional(
          Type.String({
            pattern: '^(mqtts?|wss?)://',
            description: 'Broker URL handed to boxes at pairing; omit for HTTPS-only deployments.',
          }),
        ),
        attempts_per_minute: Type.Number({
          minimum: 0.1,
          default: 30,
          description: 'Sustained POST /v1/pair attempts per client address per minute (against code guessing).',
        }),
        attempts_burst: Type.Integer({
          minimum: 1,
          default: 10,
          description: 'POST /v1/pair attempts a client address may make at once.',
        }),
        global_attempts_per_minute: Type.Number({
          minimum: 0.1,
          default: 120,
          description:
            'Sustained POST /v1/pair attempts per minute from all addresses together (per collector process), so ' +
            'many addresses cannot multiply the per-address limit.',
        }),
        global_attempts_burst: Type.Integer({
          minimum: 1,
          default: 60,
          description: 'POST /v1/pair attempts all addresses together may make at once.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    api: Type.Object(
      {
        stream_max_per_token: Type.Integer({
          minimum: 1,
          default: 10,
          description:
            'Live event streams (GET /v1/stream) one API token or login session may hold open at once, per ' +
            'collector process; beyond, 429 too_many_streams.',
        }),
        stream_max_per_tenant: Type.Integer({
          minimum: 1,
          default: 50,
          description: 'Live event streams all tokens of one tenant may hold open at once, per collector process.',
        }),
        stream_replay_window: Duration(
          '24h',
          'How long the live change journal keeps changes for Last-Event-ID replay (GET /v1/stream); a client ' +
            'reconnecting after longer gets stream.reset and reloads.',
        ),
      },
      { default: {}, additionalProperties: false, description: 'The app-facing API.' },
    ),
    status: Type.Object(
      {
        offline_after: Duration('90s', 'A device with no verified message for this long is shown offline.'),
      },
      { default: {}, additionalProperties: false },
    ),
    events: EventsConfigSchema,
    log: Type.Object(
      {
        level: Type.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
          { default: 'info' },
        ),
      },
      { default: {}, additionalProperties: false },
    ),
    ingest: IngestConfigSchema,
    mqtt: MqttConfigSchema,
    push: PushConfigSchema,
    reclassify: ReclassifyConfigSchema,
    notify: NotifyConfigSchema,
    queue: QueueConfigSchema,
    accounts: AccountsConfigSchema,
    models: ModelsConfigSchema,
    commands: CommandsConfigSchema,
  },
  { additionalProperties: false, description: 'vigil-cloud configuration.' },
);

export type CloudConfig = Static<typeof CloudConfigSchema>;

/** Loads the collector config: defaults ← file ← env ← overrides (CLI flags). */
export function loadCloudConfig(
  options: { file?: string | undefined; overrides?: Record<string, unknown>; env?: NodeJS.ProcessEnv } = {},
): LoadedConfig<typeof CloudConfigSchema> {
  return loadConfig({
    schema: CloudConfigSchema,
    file: options.file,
    envPrefix: CLOUD_ENV_PREFIX,
    overrides: options.overrides,
    ...(options.env ? { env: options.env } : {}),
  });
}

/**
 * A full config from a partial one (defaults filled, validated), for tests and library use; ignores the environment.
 */
export function cloudConfig(partial: Record<string, unknown> = {}): CloudConfig {
  return loadConfig({ schema: CloudConfigSchema, overrides: partial }).config;
}
