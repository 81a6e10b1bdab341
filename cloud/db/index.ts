import { join } from 'node:path';
import { migrate } from './migrate.js';
import { openPostgres } from './postgres.js';
import type { SqlDatabase } from './sql.js';
import { openSqlite, type SqliteSynchronous } from './sqlite.js';

/**
 * cloud/db — the collector's database, below every stage that keeps records: the SQLite and PostgreSQL adapters
 * (one SQL dialect both understand, ./sql.ts), and ONE list of migrations holding every table (./migrations.ts).
 * The collector opens it once (cloud/server/app.ts) and hands it to each stage's repository: the store, the job
 * queue, the notify records, the deployment id.
 */
export type { SqlDatabase, SqlExecutor, SqlRunResult, SqlValue } from './sql.js';
export { MIGRATIONS, type Migration } from './migrations.js';
export { migrate, schemaVersion } from './migrate.js';
export type { SqliteSynchronous } from './sqlite.js';

export interface OpenDatabaseOptions {
  /** `postgres://…` / `postgresql://…` selects PostgreSQL; a `sqlite:` path or empty selects SQLite. */
  url?: string | undefined;
  /** Where the SQLite file lives when `url` does not name one: `<dataDir>/vigil.db`. */
  dataDir: string;
  /** PostgreSQL schema (search_path); default the connection's own. */
  schema?: string | undefined;
  poolMax?: number | undefined;
  /** SQLite `synchronous` (see SqliteOptions); default `full`. */
  sqliteSynchronous?: SqliteSynchronous | undefined;
}

export function isPostgresUrl(url: string | undefined): boolean {
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url);
}

/** Opens the configured database and applies pending migrations. */
export async function openDatabase(options: OpenDatabaseOptions): Promise<SqlDatabase> {
  let db: SqlDatabase;
  if (isPostgresUrl(options.url)) {
    db = await openPostgres({
      url: options.url as string,
      schema: options.schema,
      ...(options.poolMax ? { poolMax: options.poolMax } : {}),
    });
  } else {
    const path = options.url ? options.url.replace(/^sqlite:(\/\/)?/, '') : join(options.dataDir, 'vigil.db');
    db = openSqlite({ path, ...(options.sqliteSynchronous ? { synchronous: options.sqliteSynchronous } : {}) });
  }
  await migrate(db);
  return db;
}
