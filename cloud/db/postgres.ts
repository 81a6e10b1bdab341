import { createHash } from 'node:crypto';
import pg from 'pg';
import { VigilError } from '../errors.js';
import {
  CommitQueue,
  numberPlaceholders,
  type SqlDatabase,
  type SqlExecutor,
  type SqlRunResult,
  type SqlValue,
} from './sql.js';

/**
 * PostgreSQL through a `pg` Pool. BIGINT (milliseconds, counts) is parsed to a JS number: every value the store
 * keeps there is far below 2^53. Transactions are READ COMMITTED with row locks (`SELECT … FOR UPDATE`);
 * a deadlock or serialization failure between collectors is retried a few times.
 */
export interface PostgresOptions {
  url: string;
  /** Schema to use (search_path); created if missing. Tests use a fresh one each. */
  schema?: string | undefined;
  poolMax?: number;
}

const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

const RETRYABLE = new Set(['40P01', '40001']);

function unavailable(err: unknown): VigilError {
  return new VigilError('service_unavailable', `PostgreSQL: ${(err as Error).message}`, { cause: err });
}

function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return (
    typeof code === 'string' &&
    (code.startsWith('08') || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01'].includes(code))
  );
}

export function quoteIdent(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name))
    throw new VigilError('config_invalid', `not a valid PostgreSQL schema name: "${name}"`);
  return `"${name}"`;
}

export async function openPostgres(options: PostgresOptions): Promise<SqlDatabase> {
  const schema = options.schema;
  if (schema) {
    // Create the schema before the pool's connections start using it as their search_path.
    const admin = new pg.Client({ connectionString: options.url });
    try {
      await admin.connect();
      await admin.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    } catch (err) {
      if ((err as { code?: string }).code !== '23505') throw unavailable(err); // concurrent CREATE SCHEMA
    } finally {
      await admin.end().catch(() => undefined);
    }
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolMax ?? 10,
    types,
    ...(schema ? { options: `-c search_path=${quoteIdent(schema)}` } : {}),
  });
  pool.on('error', () => undefined); // idle client errors surface on the next query instead of crashing
  let closed = false;

  // Statements with parameters are prepared once per connection (named by a hash of their text): PostgreSQL then
  // skips parsing and planning them on every call, which is most of the cost of the store's small statements.
  // A schema change (another collector migrating) can invalidate a prepared `SELECT *` ("cached plan must not change
  // result type", 0A000): the generation in the names then moves on, so every statement is prepared afresh.
  const named = new Map<string, pg.QueryConfig>();
  let generation = 0;
  const statement = (sql: string, values: readonly SqlValue[] | undefined): pg.QueryConfig => {
    if (!values || values.length === 0) return { text: numberPlaceholders(sql) };
    let q = named.get(sql);
    if (!q) {
      q = {
        name: `vigil${generation}_${createHash('sha1').update(sql).digest('hex').slice(0, 24)}`,
        text: numberPlaceholders(sql),
      };
      if (named.size > 1000) named.clear();
      named.set(sql, q);
    }
    return { ...q, values: values as unknown[] };
  };
  const stalePlan = (err: unknown): boolean => {
    if ((err as { code?: string }).code !== '0A000') return false;
    generation++;
    named.clear();
    return true;
  };
  const query = async (
    q: pg.Pool | pg.PoolClient,
    sql: string,
    values: readonly SqlValue[] | undefined,
    inTx: boolean,
  ): Promise<pg.QueryResult> => {
    try {
      return await q.query(statement(sql, values));
    } catch (err) {
      // Outside a transaction the statement can simply run again; inside one, tx() retries the whole transaction.
      if (stalePlan(err) && !inTx) return q.query(statement(sql, values));
      throw err;
    }
  };
  const on = (q: pg.Pool | pg.PoolClient, inTx: boolean): SqlExecutor => ({
    async all<T>(sql: string, values?: readonly SqlValue[]): Promise<T[]> {
      return (await query(q, sql, values, inTx)).rows as T[];
    },
    async get<T>(sql: string, values?: readonly SqlValue[]): Promise<T | undefined> {
      return (await query(q, sql, values, inTx)).rows[0] as T | undefined;
    },
    async run(sql: string, values?: readonly SqlValue[]): Promise<SqlRunResult> {
      return { changes: (await query(q, sql, values, inTx)).rowCount ?? 0 };
    },
  });

  const guard = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err: unknown) => {
      throw isConnectionError(err) || closed ? unavailable(err) : err;
    });
  const pooled = on(pool, false);

  return {
    dialect: 'postgres',
    forUpdate: ' FOR UPDATE',
    all: (sql, values) => guard(closed ? Promise.reject(new Error('pool closed')) : pooled.all(sql, values)),
    get: (sql, values) => guard(closed ? Promise.reject(new Error('pool closed')) : pooled.get(sql, values)),
    run: (sql, values) => guard(closed ? Promise.reject(new Error('pool closed')) : pooled.run(sql, values)),
    async tx<T>(fn: (x: SqlExecutor) => Promise<T>): Promise<T> {
      if (closed) throw unavailable(new Error('pool closed'));
      for (let attempt = 1; ; attempt++) {
        const client = await guard(pool.connect());
        try {
          await client.query('BEGIN');
          const x = on(client, true);
          const queued = new CommitQueue();
          const result = await fn({ ...x, atCommit: (batch, item) => queued.add(batch, item) });
          if (!queued.empty) await queued.flush(x);
          await client.query('COMMIT');
          client.release();
          return result;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          client.release(isConnectionError(err));
          const code = (err as { code?: string }).code;
          if (code !== undefined && (RETRYABLE.has(code) || code === '0A000') && attempt < 4) continue;
          throw isConnectionError(err) ? unavailable(err) : err;
        }
      }
    },
    async exec(sql: string): Promise<void> {
      await guard(pool.query(sql));
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
