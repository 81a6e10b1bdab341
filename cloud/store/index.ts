import { openDatabase, type OpenDatabaseOptions } from '../db/index.js';
import { SqlStore } from './sql-store.js';
import type { Store } from './store.js';

export type * from './store.js';
export { SqlStore } from './sql-store.js';

export type OpenStoreOptions = OpenDatabaseOptions;

/**
 * Opens the configured database (migrating it) with a store over it; the store's close() closes that database.
 * For the command-line tools and tests; the collector opens its database once and hands it to every stage.
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  return new SqlStore(await openDatabase(options));
}
