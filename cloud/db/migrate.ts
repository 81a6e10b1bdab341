import { MIGRATIONS, type Migration } from './migrations.js';
import type { SqlDatabase, SqlExecutor } from './sql.js';

/**
 * Applies the versioned migrations (./migrations.ts). Each migration is applied once, recorded in
 * `schema_migrations`; all pending ones run in one transaction. On PostgreSQL a transaction-scoped advisory lock
 * makes collectors that start together wait for the first one instead of racing on the DDL.
 */

/** Arbitrary constant naming the migration lock (ASCII "VIGL"). */
const MIGRATION_LOCK = 0x5649474c;

export async function migrate(
  db: SqlDatabase,
  migrations: readonly Migration[] = MIGRATIONS,
  now: number = Date.now(),
): Promise<number> {
  return db.tx(async (x: SqlExecutor) => {
    if (db.dialect === 'postgres') await x.run('SELECT pg_advisory_xact_lock(?)', [MIGRATION_LOCK]);
    await x.run(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version BIGINT PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at BIGINT NOT NULL
    )`);
    const done = new Set(
      (await x.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => Number(r.version)),
    );
    let version = done.size === 0 ? 0 : Math.max(...done);
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      for (const statement of m.statements) await x.run(statement);
      await x.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
        m.version,
        m.name,
        now,
      ]);
      version = Math.max(version, m.version);
    }
    return version;
  });
}

/** Schema version of a database: the highest migration applied (0 before any). */
export async function schemaVersion(db: SqlDatabase): Promise<number> {
  const r = await db.get<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
  return Number(r?.v ?? 0);
}
