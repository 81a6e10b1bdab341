import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { VigilError } from '../../shared/errors/index.js';
import type { SqlDatabase, SqlExecutor, SqlRunResult, SqlValue } from './sql.js';

/**
 * SQLite through better-sqlite3 (synchronous). WAL so readers (API, CLI in another process) never block the
 * writer; `synchronous=FULL` because an ack promises the data survives power loss: in WAL mode NORMAL only
 * fsyncs at checkpoints, so the last commits can vanish after a power cut even though they were acknowledged.
 *
 * One connection; a promise chain serialises transactions so two async callers never interleave statements in
 * one transaction. Every write runs in a `BEGIN IMMEDIATE` transaction. When another connection (another process,
 * e.g. the CLI next to `serve`) holds the write lock, BEGIN is retried asynchronously instead of with SQLite's
 * busy handler, which would block the event loop — and, with two connections in one process, deadlock it.
 */
export interface SqliteOptions {
  /** File path, or `:memory:`. */
  path: string;
  busyTimeoutMs?: number;
}

type Param = string | number | bigint | null;

function params(values: readonly SqlValue[] | undefined): Param[] {
  return (values ?? []).map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));
}

export function openSqlite(options: SqliteOptions): SqlDatabase {
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
  let db: Database.Database;
  try {
    db = new Database(options.path);
  } catch (err) {
    throw new VigilError('service_unavailable', `cannot open SQLite database ${options.path}: ${(err as Error).message}`, { status: 503, cause: err });
  }
  const lockWaitMs = options.busyTimeoutMs ?? 10_000;
  // Short blocking wait for the rare busy read (WAL recovery); writers wait asynchronously, see tx().
  db.pragma('busy_timeout = 100');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');

  const statements = new Map<string, Database.Statement>();
  const prepare = (sql: string): Database.Statement => {
    if (!db.open) throw new VigilError('service_unavailable', 'the SQLite database is closed', { status: 503 });
    let s = statements.get(sql);
    if (!s) {
      s = db.prepare(sql);
      statements.set(sql, s);
    }
    return s;
  };

  const direct: SqlExecutor = {
    async all<T>(sql: string, values?: readonly SqlValue[]): Promise<T[]> {
      return prepare(sql).all(...params(values)) as T[];
    },
    async get<T>(sql: string, values?: readonly SqlValue[]): Promise<T | undefined> {
      return prepare(sql).get(...params(values)) as T | undefined;
    },
    async run(sql: string, values?: readonly SqlValue[]): Promise<SqlRunResult> {
      const s = prepare(sql);
      if (s.reader) {
        s.all(...params(values)); // e.g. INSERT … RETURNING used for its effect only
        return { changes: db.prepare('SELECT changes() AS n').pluck().get() as number };
      }
      return { changes: s.run(...params(values)).changes };
    },
  };

  // Serialises transactions (and statements issued while one is open) on the single connection.
  let queue: Promise<unknown> = Promise.resolve();
  let inTx = false;
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };
  const outside = <K extends keyof SqlExecutor>(k: K): SqlExecutor[K] =>
    ((sql: string, values?: readonly SqlValue[]) =>
      inTx ? serial(() => (direct[k] as (s: string, v?: readonly SqlValue[]) => Promise<unknown>)(sql, values)) : (direct[k] as (s: string, v?: readonly SqlValue[]) => Promise<unknown>)(sql, values)) as SqlExecutor[K];

  const begin = async (): Promise<void> => {
    const deadline = Date.now() + lockWaitMs;
    for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
      if (!db.open) throw new VigilError('service_unavailable', 'the SQLite database is closed', { status: 503 });
      db.pragma('busy_timeout = 0');
      try {
        db.exec('BEGIN IMMEDIATE');
        return;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'SQLITE_BUSY' || Date.now() > deadline) {
          throw code === 'SQLITE_BUSY' ? new VigilError('service_unavailable', `the SQLite database stayed locked for ${lockWaitMs} ms`, { status: 503, cause: err }) : err;
        }
      } finally {
        if (db.open) db.pragma('busy_timeout = 100');
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  };

  const tx = <T>(fn: (x: SqlExecutor) => Promise<T>): Promise<T> =>
    serial(async () => {
      await begin();
      inTx = true;
      try {
        const result = await fn(direct);
        db.exec('COMMIT');
        return result;
      } catch (err) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw err;
      } finally {
        inTx = false;
      }
    });

  return {
    dialect: 'sqlite',
    forUpdate: '',
    all: outside('all'),
    get: outside('get'),
    // Writes outside a transaction still take the write lock the asynchronous way.
    run: (sql, values) => tx((x) => x.run(sql, values)),
    tx,
    exec(sql: string): Promise<void> {
      return tx(async () => {
        db.exec(sql);
      });
    },
    async close(): Promise<void> {
      await queue;
      if (db.open) db.close();
    },
  };
}