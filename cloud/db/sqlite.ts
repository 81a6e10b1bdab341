import Database from 'better-sqlite3';
import { dirname } from 'node:path';
import { VigilError } from '../errors.js';
import { ensurePrivateFile, mkdirPrivateSync, tightenPath } from '../../shared/fs/index.js';
import { CommitQueue, type SqlDatabase, type SqlExecutor, type SqlRunResult, type SqlValue } from './sql.js';
import { Checkpointer } from './checkpointer.js';
import { WalSync } from './wal-sync.js';

/**
 * SQLite through better-sqlite3 (synchronous). WAL so readers (API, CLI in another process) never block the
 * writer. `synchronous=FULL` (the default) because an ack promises the data survives power loss: in WAL mode NORMAL
 * only fsyncs at checkpoints, so the last commits can vanish after a power cut or OS crash even though they were
 * acknowledged (they do survive a crash or `kill -9` of this process). NORMAL is available as a choice
 * (`database.sqlite.synchronous`). FULL is kept by syncing the WAL ourselves, off the event loop (./wal-sync.ts):
 * the connection runs NORMAL and a group's callers settle only after an fdatasync of the WAL that started after the
 * group's COMMIT — what SQLite's FULL would have synced inside COMMIT, blocking every request meanwhile.
 *
 * One connection. Every write runs in a `BEGIN IMMEDIATE` transaction; when another connection (another process,
 * e.g. the CLI next to `serve`) holds the write lock, BEGIN is retried asynchronously instead of with SQLite's busy
 * handler, which would block the event loop — and, with two connections in one process, deadlock it.
 *
 * Group commit: an fsync costs milliseconds, so committing each caller's transaction on its own caps the collector
 * at a few hundred transactions per second. Instead, every `tx()` requested while a group is being committed, or in
 * the same event-loop turn, joins ONE `BEGIN IMMEDIATE … COMMIT`: each caller runs in its own `SAVEPOINT`, in the
 * order the callers asked, one after the other (never interleaved: a savepoint rolled back must contain only its own
 * caller's statements). A caller that throws is rolled back to its savepoint and gets its own error; the others
 * commit. A group of one caller needs no savepoint: its failure rolls the transaction back. Writes the callers queued
 * with `atCommit` (e.g. devices' last_seen_at) run once for the group, before COMMIT. Every caller's promise settles
 * only after the group's COMMIT has returned.
 *
 * Per call, nothing is parsed: statements are prepared once and cached by their text, transaction control (BEGIN,
 * COMMIT, SAVEPOINT …) and the busy-timeout switch included.
 *
 * Crash safety: the group is one SQLite transaction, and SQLite's COMMIT is atomic — in WAL mode the commit is the
 * write (and, with FULL, the fsync) of the WAL frame marked as the commit record; frames without a valid commit
 * record are ignored on recovery. So after a crash at any point either every successful caller's writes of a group
 * are in the database or none are, and none of them was told "committed" before COMMIT returned. A failed caller's
 * writes were undone (ROLLBACK TO) before COMMIT, so they are never in it. An acknowledgement sent after a caller's
 * promise resolved therefore always refers to durable data, exactly as with one transaction per caller.
 *
 * File modes: the database file is created 0600 (its new folders 0700) before SQLite opens it, whatever the umask;
 * SQLite gives the -wal and -shm files the database file's mode. Existing files open to group/others are tightened.
 */
export interface SqliteOptions {
  /** File path, or `:memory:`. */
  path: string;
  busyTimeoutMs?: number;
  /** `full` (default): every commit is fsynced; `normal`: WAL fsynced at checkpoints only (see above). */
  synchronous?: SqliteSynchronous;
  /** Most callers merged into one commit (bounds one group's latency). Default 256. */
  maxGroup?: number;
}

export type SqliteSynchronous = 'full' | 'normal';

type Param = string | number | bigint | null;

const NO_PARAMS: Param[] = [];

function params(values: readonly SqlValue[] | undefined): Param[] {
  if (values === undefined) return NO_PARAMS;
  for (const v of values) if (typeof v === 'boolean') return values.map((w) => (typeof w === 'boolean' ? +w : w));
  return values as Param[];
}

export function openSqlite(options: SqliteOptions): SqlDatabase {
  if (options.path !== ':memory:') {
    mkdirPrivateSync(dirname(options.path));
    ensurePrivateFile(options.path);
    for (const side of ['-wal', '-shm', '-journal']) tightenPath(options.path + side);
  }
  let db: Database.Database;
  try {
    db = new Database(options.path);
  } catch (err) {
    throw new VigilError(
      'service_unavailable',
      `cannot open SQLite database ${options.path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const lockWaitMs = options.busyTimeoutMs ?? 10_000;
  // Short blocking wait for the rare busy read (WAL recovery); writers wait asynchronously, see tx().
  db.pragma('busy_timeout = 100');
  db.pragma('journal_mode = WAL');
  // FULL: NORMAL on the connection, the WAL synced by walSync before any caller settles (see above).
  db.pragma('synchronous = NORMAL');
  const walSync =
    options.synchronous !== 'normal' && options.path !== ':memory:' ? new WalSync(`${options.path}-wal`) : undefined;
  // Checkpoints move to a worker thread once the database is busy (./checkpointer.ts); until then SQLite's own.
  let checkpointer: Checkpointer | undefined;
  let commits = 0;
  const busyAfterCommits = options.path === ':memory:' ? Number.POSITIVE_INFINITY : 256;
  db.pragma('foreign_keys = ON');
  // Statement journals (a statement inside a savepoint, an upsert, RETURNING) in memory, not in a temporary file
  // created and deleted per statement: they only serve rolling a statement back, never durability.
  db.pragma('temp_store = MEMORY');

  const statements = new Map<string, Database.Statement>();
  const prepare = (sql: string): Database.Statement => {
    if (!db.open) throw new VigilError('service_unavailable', 'the SQLite database is closed');
    let s = statements.get(sql);
    if (!s) {
      s = db.prepare(sql);
      statements.set(sql, s);
    }
    return s;
  };

  const changes = db.prepare('SELECT changes() AS n').pluck();
  // Transaction control, prepared once (db.exec would parse the text on every call).
  const control = {
    begin: db.prepare('BEGIN IMMEDIATE'),
    commit: db.prepare('COMMIT'),
    rollback: db.prepare('ROLLBACK'),
    savepoint: db.prepare('SAVEPOINT vigil_caller'),
    release: db.prepare('RELEASE vigil_caller'),
    rollbackTo: db.prepare('ROLLBACK TO vigil_caller'),
    noBusyWait: db.prepare('PRAGMA busy_timeout = 0'),
    shortBusyWait: db.prepare('PRAGMA busy_timeout = 100'),
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
        return { changes: changes.get() as number };
      }
      return { changes: s.run(...params(values)).changes };
    },
  };
  /** The executor one caller of a group gets: `direct`, plus its own queue of writes deferred to the commit. */
  const callerExecutor = (queued: CommitQueue): SqlExecutor => ({
    all: direct.all,
    get: direct.get,
    run: direct.run,
    atCommit: (batch, item) => queued.add(batch, item),
  });

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
      inTx
        ? serial(() => (direct[k] as (s: string, v?: readonly SqlValue[]) => Promise<unknown>)(sql, values))
        : (direct[k] as (s: string, v?: readonly SqlValue[]) => Promise<unknown>)(sql, values)) as SqlExecutor[K];

  const begin = async (): Promise<void> => {
    const deadline = Date.now() + lockWaitMs;
    for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
      if (!db.open) throw new VigilError('service_unavailable', 'the SQLite database is closed');
      control.noBusyWait.get();
      try {
        control.begin.run();
        return;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'SQLITE_BUSY' || Date.now() > deadline) {
          throw code === 'SQLITE_BUSY'
            ? new VigilError('service_unavailable', `the SQLite database stayed locked for ${lockWaitMs} ms`, {
                cause: err,
              })
            : err;
        }
      } finally {
        if (db.open) control.shortBusyWait.get();
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  };

  // Callers waiting for the next group, in the order they asked.
  interface Caller {
    fn: (x: SqlExecutor) => Promise<unknown>;
    resolve: (v: unknown) => void;
    reject: (err: unknown) => void;
  }
  const maxGroup = Math.max(1, options.maxGroup ?? 256);
  let waiting: Caller[] = [];
  let groupScheduled = false;
  const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

  const runGroup = async (): Promise<void> => {
    // Let the I/O that arrived during the previous commit reach tx() first: they all join this group.
    await nextTurn();
    const group = waiting.slice(0, maxGroup);
    waiting = waiting.slice(group.length);
    groupScheduled = false;
    if (waiting.length > 0) scheduleGroup();
    const outcomes: ({ ok: true; value: unknown } | { ok: false; err: unknown })[] = [];
    try {
      await begin();
    } catch (err) {
      for (const c of group) c.reject(err);
      return;
    }
    inTx = true;
    const deferred = new CommitQueue();
    // One caller alone needs no savepoint: if it throws, the whole transaction is rolled back.
    const alone = group.length === 1;
    try {
      for (const c of group) {
        const queued = new CommitQueue();
        if (!alone) control.savepoint.run();
        try {
          outcomes.push({ ok: true, value: await c.fn(callerExecutor(queued)) });
          if (!alone) control.release.run();
          deferred.absorb(queued);
        } catch (err) {
          outcomes.push({ ok: false, err });
          if (alone || !db.inTransaction) {
            // Alone, or SQLite itself rolled the whole transaction back (e.g. disk full, I/O error): the callers
            // before this one lost their writes too. Fail them all; none was told "committed".
            throw err;
          }
          control.rollbackTo.run();
          control.release.run();
        }
      }
      // The group's deferred writes: a failure here fails every caller (nothing of the group commits).
      if (!deferred.empty) await deferred.flush(direct);
      control.commit.run();
      if (++commits === busyAfterCommits) {
        checkpointer = new Checkpointer({ path: options.path });
        // Left as the WAL's bound: by the time it triggers, the worker has copied almost every frame.
        db.pragma('wal_autocheckpoint = 4000');
      }
    } catch (err) {
      if (db.open && db.inTransaction) control.rollback.run();
      const failure = new VigilError('service_unavailable', `SQLite transaction failed: ${(err as Error).message}`, {
        cause: err,
      });
      group.forEach((c, i) => {
        const o = outcomes[i];
        c.reject(o && !o.ok ? o.err : failure);
      });
      return;
    } finally {
      inTx = false;
    }
    group.forEach((c, i) => {
      const o = outcomes[i]!;
      if (!o.ok) c.reject(o.err);
      else if (!walSync) c.resolve(o.value);
    });
    if (!walSync) return;
    // The next group may begin now; this one's callers settle once its COMMIT is on disk.
    const settle = (failure?: VigilError): void => {
      group.forEach((c, i) => {
        const o = outcomes[i]!;
        if (!o.ok) return;
        if (failure) c.reject(failure);
        else c.resolve(o.value);
      });
    };
    void walSync.durable().then(
      () => settle(),
      (err: unknown) =>
        settle(
          new VigilError('service_unavailable', `SQLite WAL sync failed: ${(err as Error).message}`, { cause: err }),
        ),
    );
  };
  const scheduleGroup = (): void => {
    if (groupScheduled) return;
    groupScheduled = true;
    void serial(runGroup);
  };

  const tx = <T>(fn: (x: SqlExecutor) => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      waiting.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      scheduleGroup();
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
      // A group may schedule the next one while it runs: wait until the chain stops growing.
      for (let q = queue; ; q = queue) {
        await q;
        if (q === queue && waiting.length === 0) break;
      }
      await checkpointer?.close();
      await walSync?.close();
      if (db.open) db.close();
    },
  };
}
