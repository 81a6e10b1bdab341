import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { POSTGRES_URL, serviceAvailable } from '../../../shared/testing/index.js';
import { openDatabase, type SqlDatabase } from '../../db/index.js';
import { SqlStore } from '../../store/index.js';
import type { Store } from '../../store/store.js';

/**
 * Storage backends for tests: SQLite in a temp directory, and PostgreSQL (127.0.0.1:5432, db `test`) in a fresh
 * schema per open() so test files running in parallel never see each other's rows. In CI a missing PostgreSQL
 * fails (shared/testing); elsewhere its tests are skipped with a notice.
 *
 *   const backends = await testBackends();
 *   describe.each(backends)('store on $name', (backend) => {
 *     … const db = await backend.open(); … await db.cleanup();
 *   });
 */
export interface TestDatabase {
  store: Store;
  /** The database the store runs on (for the other stages' repositories: queue, dead letters …). */
  database: SqlDatabase;
  /** Temp data dir (the SQLite file lives here; blobs may too). */
  dataDir: string;
  /** What to put in the collector config's `data_dir` and `database` to reach the same database. */
  config: { data_dir: string; database: { url?: string; schema?: string } };
  /** Another store on the same database (e.g. a second collector). Closed by cleanup(). */
  openAnother(): Promise<Store>;
  /** Closes every store opened here and removes the schema / directory. */
  cleanup(): Promise<void>;
}

export interface TestBackend {
  name: 'sqlite' | 'postgres';
  open(): Promise<TestDatabase>;
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'vigil-test-'));
}

export const sqliteBackend: TestBackend = {
  name: 'sqlite',
  async open(): Promise<TestDatabase> {
    const dataDir = tempDir();
    const stores: Store[] = [];
    const another = async (): Promise<Store> => {
      const s = new SqlStore(await openDatabase({ dataDir }));
      stores.push(s);
      return s;
    };
    const database = await openDatabase({ dataDir });
    const store = new SqlStore(database);
    stores.push(store);
    return {
      store,
      database,
      dataDir,
      config: { data_dir: dataDir, database: {} },
      openAnother: another,
      async cleanup() {
        for (const s of stores) await s.close().catch(() => undefined);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
};

export const postgresBackend: TestBackend = {
  name: 'postgres',
  async open(): Promise<TestDatabase> {
    const dataDir = tempDir();
    const schema = `vigil_test_${randomBytes(6).toString('hex')}`;
    const stores: Store[] = [];
    const another = async (): Promise<Store> => {
      const s = new SqlStore(await openDatabase({ dataDir, url: POSTGRES_URL, schema, poolMax: 4 }));
      stores.push(s);
      return s;
    };
    const database = await openDatabase({ dataDir, url: POSTGRES_URL, schema, poolMax: 4 });
    const store = new SqlStore(database);
    stores.push(store);
    return {
      store,
      database,
      dataDir,
      config: { data_dir: dataDir, database: { url: POSTGRES_URL, schema } },
      openAnother: another,
      async cleanup() {
        for (const s of stores) await s.close().catch(() => undefined);
        await dropSchema(schema);
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  },
};

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

let cached: Promise<TestBackend[]> | undefined;

/** SQLite always; PostgreSQL when reachable (required in CI). */
export function testBackends(): Promise<TestBackend[]> {
  cached ??= (async () => {
    const out: TestBackend[] = [sqliteBackend];
    const url = new URL(POSTGRES_URL);
    if (await serviceAvailable('postgres', url.hostname, Number(url.port || 5432))) out.push(postgresBackend);
    return out;
  })();
  return cached;
}
