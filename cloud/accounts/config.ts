import { Type, type Static } from '@sinclair/typebox';
import { durationSetting as Duration } from '../../shared/config/index.js';

/**
 * `accounts.*`: owner accounts of the web app (users, password hashing, sessions, login limits). Users are made with
 * `vigil-cloud user create`; sessions by `POST /v1/session`.
 */
export const AccountsConfigSchema = Type.Object(
  {
    session_ttl: Duration(
      '30d',
      'Absolute lifetime of a login session: after this the owner logs in again, however active the session was.',
    ),
    session_idle: Duration(
      '7d',
      'A session not used for this long expires (each request through it moves this on, at most once a minute).',
    ),
    password_min_length: Type.Integer({
      minimum: 8,
      maximum: 128,
      default: 12,
      description: 'Shortest password `user create` and `user passwd` accept (characters).',
    }),
    scrypt: Type.Object(
      {
        cost_log2: Type.Integer({
          minimum: 14,
          maximum: 22,
          default: 17,
          description:
            'scrypt N = 2^cost_log2 for new password hashes (memory = 128 × N × block_size bytes: 128 MiB with ' +
            'the defaults, the OWASP minimum). Stored with each hash, so raising it later re-hashes each password ' +
            'at its next login.',
        }),
        block_size: Type.Integer({ minimum: 8, maximum: 32, default: 8, description: 'scrypt r.' }),
        parallelism: Type.Integer({ minimum: 1, maximum: 4, default: 1, description: 'scrypt p.' }),
        concurrency: Type.Integer({
          minimum: 1,
          maximum: 16,
          default: 2,
          description: 'Password hashes computed at once (each holds the memory above); further logins wait.',
        }),
      },
      { default: {}, additionalProperties: false, description: 'Password hashing (scrypt from node:crypto).' },
    ),
    login: Type.Object(
      {
        account_burst: Type.Integer({
          minimum: 1,
          default: 5,
          description: 'Login attempts for one email address at once (known or not: the limit tells nothing).',
        }),
        account_per_hour: Type.Number({
          minimum: 0.1,
          default: 12,
          description: 'Sustained login attempts per email address per hour after the burst.',
        }),
        source_burst: Type.Integer({
          minimum: 1,
          default: 20,
          description: 'Login attempts one client address (IPv4, or IPv6 /64) may make at once.',
        }),
        source_per_minute: Type.Number({
          minimum: 0.1,
          default: 5,
          description: 'Sustained login attempts per client address per minute after the burst.',
        }),
      },
      {
        default: {},
        additionalProperties: false,
        description:
          'POST /v1/session limits (per collector process): beyond, 429 rate_limited with Retry-After. A ' +
          'successful login refills its account bucket.',
      },
    ),
  },
  { default: {}, additionalProperties: false, description: 'Owner accounts and web app sessions.' },
);
export type AccountsConfig = Static<typeof AccountsConfigSchema>;
