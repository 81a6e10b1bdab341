import { DEPLOYMENT_TABLES } from '../broker/deployment.js';
import { VERIFY_NOTIFY_TABLES } from '../queue/migration.js';
import { PUSH_TOKEN_TABLES } from './push-tokens.js';
import { EVENT_END_COLUMNS } from './event-sweep.js';
import { DEAD_LETTER_TABLES } from './dead-letters.js';
import type { SqlDatabase, SqlExecutor } from './sql.js';

/**
 * Versioned schema migrations, the same SQL for SQLite and PostgreSQL (types both accept: TEXT, BIGINT,
 * DOUBLE PRECISION). Each migration is applied once, recorded in `schema_migrations`; all pending ones run in one
 * transaction. On PostgreSQL a transaction-scoped advisory lock makes collectors that start together wait for the
 * first one instead of racing on the DDL. Never edit a released migration: add the next one.
 *
 * Times are BIGINT milliseconds since the epoch.
 */
export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    statements: [
      `CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      `INSERT INTO tenants (id, name, created_at) VALUES ('default', 'default', 0)`,
      `CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('admin', 'reader')),
        token_sha256 TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
      )`,
      `CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id)`,
      `CREATE TABLE pairing_codes (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        name TEXT,
        code_sha256 TEXT NOT NULL UNIQUE,
        hint TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT,
        used_by_device TEXT,
        revoked_at BIGINT
      )`,
      `CREATE INDEX pairing_codes_tenant ON pairing_codes (tenant_id, created_at)`,
      `CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        name TEXT,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT
      )`,
      `CREATE INDEX devices_tenant ON devices (tenant_id, created_at)`,
      `CREATE TABLE device_keys (
        device_id TEXT NOT NULL REFERENCES devices(id),
        key_id TEXT NOT NULL,
        secret_sealed TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'retired')),
        created_at BIGINT NOT NULL,
        retired_at BIGINT,
        PRIMARY KEY (device_id, key_id)
      )`,
      `CREATE TABLE device_status (
        device_id TEXT PRIMARY KEY REFERENCES devices(id),
        last_seen_at BIGINT,
        last_heartbeat_at BIGINT,
        clock_skew_ms BIGINT,
        version TEXT,
        outbox_depth BIGINT,
        dropped BIGINT,
        cameras_json TEXT,
        heartbeat_json TEXT
      )`,
      `CREATE TABLE events (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        device_id TEXT NOT NULL REFERENCES devices(id),
        camera TEXT NOT NULL,
        label TEXT NOT NULL,
        score DOUBLE PRECISION NOT NULL,
        box_json TEXT,
        started_at BIGINT NOT NULL,
        ended_at BIGINT,
        duration_ms BIGINT,
        status TEXT NOT NULL CHECK (status IN ('active', 'ended')),
        last_rev BIGINT NOT NULL,
        thumbnail_sha256 TEXT,
        thumbnail_size BIGINT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        message_json TEXT NOT NULL
      )`,
      `CREATE INDEX events_tenant_started ON events (tenant_id, started_at DESC, id DESC)`,
      `CREATE INDEX events_tenant_device_started ON events (tenant_id, device_id, started_at DESC, id DESC)`,
      `CREATE INDEX events_tenant_label_started ON events (tenant_id, label, started_at DESC, id DESC)`,
      `CREATE TABLE event_messages (
        device_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        rev BIGINT NOT NULL,
        content_sha256 TEXT NOT NULL,
        received_at BIGINT NOT NULL,
        message_json TEXT NOT NULL,
        PRIMARY KEY (device_id, event_id, rev)
      )`,
      `CREATE TABLE thumbnails (
        event_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        device_id TEXT NOT NULL REFERENCES devices(id),
        blob_key TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size BIGINT NOT NULL,
        content_type TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      `CREATE TABLE nonces (
        device_id TEXT NOT NULL,
        nonce TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (device_id, nonce)
      )`,
      `CREATE INDEX nonces_expiry ON nonces (expires_at)`,
    ],
  },
  { version: 2, name: 'push tokens', statements: [...PUSH_TOKEN_TABLES] },
  { version: 3, name: 'verify and notify: jobs, verifications, push deliveries, cooldowns, answer cache', statements: [...VERIFY_NOTIFY_TABLES] },
  {
    // Codes are now stored under a keyed hash (cloud/pairing/codes.ts). A code made before cannot be checked under
    // it, and its unkeyed hash + 3-character hint gave the code away: pending ones are revoked (revoked_at =
    // created_at marks "revoked by this upgrade"; make new codes), and every old hash and hint is wiped.
    version: 4,
    name: 'pairing codes under a keyed hash: old pending codes revoked, unkeyed hashes and hints wiped',
    statements: [
      `UPDATE pairing_codes SET revoked_at = created_at WHERE used_at IS NULL AND revoked_at IS NULL`,
      `UPDATE pairing_codes SET code_sha256 = 'wiped-unkeyed:' || id, hint = ''`,
    ],
  },
  { version: 5, name: 'deployment id (deployment_meta)', statements: [...DEPLOYMENT_TABLES] },
  { version: 6, name: 'no event left open: events.end_reason, device boot ids, index of active events', statements: [...EVENT_END_COLUMNS] },
  { version: 7, name: 'dead letters: messages that failed repeatedly on the collector side', statements: [...DEAD_LETTER_TABLES] },
];

/** Arbitrary constant naming the migration lock (ASCII "VIGL"). */
const MIGRATION_LOCK = 0x5649474c;

export async function migrate(db: SqlDatabase, migrations: readonly Migration[] = MIGRATIONS, now: number = Date.now()): Promise<number> {
  return db.tx(async (x: SqlExecutor) => {
    if (db.dialect === 'postgres') await x.run('SELECT pg_advisory_xact_lock(?)', [MIGRATION_LOCK]);
    await x.run(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version BIGINT PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at BIGINT NOT NULL
    )`);
    const done = new Set((await x.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
    let version = done.size === 0 ? 0 : Math.max(...done);
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      for (const statement of m.statements) await x.run(statement);
      await x.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, now]);
      version = Math.max(version, m.version);
    }
    return version;
  });
}
