import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { POSTGRES_URL } from '../../shared/testing/index.js';
import { openPostgres } from '../db/postgres.js';
import type { SqlDatabase } from '../db/sql.js';
import { dropSchema, testBackends } from './support/backends.js';

/** The PostgreSQL adapter: prepared statements that survive schema changes, concurrent transactions on the pool. */
const hasPostgres = (await testBackends()).some((b) => b.name === 'postgres');

describe.runIf(hasPostgres)('PostgreSQL adapter', () => {
  let schema: string;
  let db: SqlDatabase;
  beforeEach(async () => {
    schema = `vigil_test_${randomBytes(6).toString('hex')}`;
    db = await openPostgres({ url: POSTGRES_URL, schema, poolMax: 4 });
    await db.exec('CREATE TABLE t (id BIGINT PRIMARY KEY, a TEXT)');
  });
  afterEach(async () => {
    await db.close();
    await dropSchema(schema);
  });

  const alter = async (sql: string): Promise<void> => {
    const c = new pg.Client({ connectionString: POSTGRES_URL, options: `-c search_path="${schema}"` });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };

  it('a prepared SELECT * keeps working after another connection changes the table', async () => {
    await db.run('INSERT INTO t (id, a) VALUES (?, ?)', [1, 'x']);
    // Prepare the statement on every pooled connection the test may get.
    await Promise.all(Array.from({ length: 4 }, () => db.tx((x) => x.get('SELECT * FROM t WHERE id = ?', [1]))));
    await alter("ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'new'");
    expect(await db.get('SELECT * FROM t WHERE id = ?', [1])).toEqual({ id: 1, a: 'x', b: 'new' });
    const inTx = await Promise.all(
      Array.from({ length: 4 }, () => db.tx((x) => x.get('SELECT * FROM t WHERE id = ?', [1]))),
    );
    for (const row of inTx) expect(row).toEqual({ id: 1, a: 'x', b: 'new' });
  });

  it('runs as many transactions at once as the pool has connections', async () => {
    let started = 0;
    let release!: () => void;
    const allOpen = new Promise<void>((r) => (release = r));
    const pids = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        db.tx(async (x) => {
          await x.run('INSERT INTO t (id, a) VALUES (?, ?)', [i, 'y']);
          if (++started === 4) release();
          await allOpen; // every transaction is open at this point, none committed
          return (await x.get<{ pid: number }>('SELECT pg_backend_pid() AS pid WHERE ? = ?', [1, 1]))!.pid;
        }),
      ),
    );
    expect(new Set(pids).size).toBe(4);
    expect((await db.get<{ n: number }>('SELECT COUNT(*)::int AS n FROM t WHERE a = ?', ['y']))?.n).toBe(4);
  });
});
