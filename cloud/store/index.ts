import { join } from 'node:path';
import { openPostgres } from './postgres.js';
import { SqlStore } from './sql-store.js';
import { openSqlite, type SqliteSynchronous } from './sqlite.js';
import type { Store } from './store.js';

export type * from './store.js';
export { SqlStore } from './sql-store.js';

export interface OpenStoreOptions {
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
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  if (isPostgresUrl(options.url)) {
    return SqlStore.open(await openPostgres({ url: options.url as string, schema: options.schema, ...(options.poolMax ? { poolMax: options.poolMax } : {}) }));
  }
  const path = options.url ? options.url.replace(/^sqlite:(\/\/)?/, '') : join(options.dataDir, 'vigil.db');
  return SqlStore.open(openSqlite({ path, ...(options.sqliteSynchronous ? { synchronous: options.sqliteSynchronous } : {}) }));
}
