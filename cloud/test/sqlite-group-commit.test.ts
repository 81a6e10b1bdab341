import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openSqlite } from '../db/sqlite.js';
import { WalSync } from '../db/wal-sync.js';
import { atCommit, type CommitBatch, type SqlDatabase } from '../db/sql.js';

/**
 * The SQLite adapter's group commit: many tx() callers, one BEGIN IMMEDIATE … COMMIT, a SAVEPOINT each (none alone),
 * settled after the WAL sync (FULL).
 */
describe('SQLite group commit', () => {
  let dir: string;
  let path: string;
  let db: SqlDatabase;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-group-'));
    path = join(dir, 'g.db');
    db = openSqlite({ path });
    await db.exec('CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, caller INTEGER NOT NULL, note TEXT)');
  });
  afterEach(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Rows as another connection (another process would) sees them: only committed data. */
  const committed = (): { caller: number; note: string | null }[] => {
    const other = new Database(path, { readonly: true });
    try {
      return other.prepare('SELECT caller, note FROM t ORDER BY seq').all() as {
        caller: number;
        note: string | null;
      }[];
    } finally {
      other.close();
    }
  };

  it('merges concurrent callers into one commit; a failing caller rolls back alone with its own error', async () => {
    const trace: string[] = [];
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        db
          .tx(async (x) => {
            trace.push(`run ${i}`);
            await x.run('INSERT INTO t (caller, note) VALUES (?, ?)', [i, 'first']);
            await x.run('INSERT INTO t (caller, note) VALUES (?, ?)', [i, 'second']);
            if (i === 4) throw new Error('caller 4 failed');
            return i * 10;
          })
          .finally(() => trace.push(`settled ${i}`)),
      ),
    );
    // Every caller ran before any settled: one group, settled only after its COMMIT.
    expect(trace.slice(0, 10)).toEqual(Array.from({ length: 10 }, (_, i) => `run ${i}`));
    expect(results[4]).toMatchObject({ status: 'rejected', reason: { message: 'caller 4 failed' } });
    for (const [i, r] of results.entries()) if (i !== 4) expect(r).toEqual({ status: 'fulfilled', value: i * 10 });
    // Order of the calls is the order of the writes; caller 4 left nothing, not even its first insert.
    const expected = [0, 1, 2, 3, 5, 6, 7, 8, 9].flatMap((i) => [
      { caller: i, note: 'first' },
      { caller: i, note: 'second' },
    ]);
    expect(committed()).toEqual(expected);
  });

  it('a caller sees the writes of the callers before it in the same group', async () => {
    const seen = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        db.tx(async (x) => {
          const n = (await x.get<{ n: number }>('SELECT COUNT(*) AS n FROM t'))!.n;
          await x.run('INSERT INTO t (caller) VALUES (?)', [i]);
          return n;
        }),
      ),
    );
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });

  it('resolves a caller only once its writes are committed (visible to another connection)', async () => {
    const visibleAtResolve = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        db
          .tx((x) => x.run('INSERT INTO t (caller) VALUES (?)', [i]))
          .then(() => committed().some((r) => r.caller === i)),
      ),
    );
    expect(visibleAtResolve).toEqual([true, true, true, true]);
  });

  it('callers arriving while a group runs form the next group, after the first committed', async () => {
    const trace: string[] = [];
    let late: Promise<unknown> | undefined;
    await db.tx(async (x) => {
      await x.run('INSERT INTO t (caller) VALUES (1)');
      // Asked while this group is open: must not join it (it would commit before this caller's result is known).
      late = db.tx(async (y) => {
        trace.push(`late sees ${committed().length} committed rows`);
        await y.run('INSERT INTO t (caller) VALUES (2)');
      });
      await new Promise((r) => setTimeout(r, 5));
      trace.push('first group body done');
    });
    await late;
    expect(trace).toEqual(['first group body done', 'late sees 1 committed rows']);
    expect(committed().map((r) => r.caller)).toEqual([1, 2]);
  });

  it('a read outside a transaction never sees a group’s uncommitted writes', async () => {
    let read: Promise<{ n: number } | undefined> | undefined;
    const write = db.tx(async (x) => {
      await x.run('INSERT INTO t (caller) VALUES (1)');
      read = db.get<{ n: number }>('SELECT COUNT(*) AS n FROM t');
      await new Promise((r) => setTimeout(r, 5));
      throw new Error('rolled back');
    });
    await expect(write).rejects.toThrow('rolled back');
    expect((await read)?.n).toBe(0);
  });

  it('bounds a group to maxGroup callers and still commits every caller in order', async () => {
    await db.close();
    db = openSqlite({ path, maxGroup: 3 });
    const trace: string[] = [];
    // One WAL sync per group: the groups are 0-2, 3-5 and 6 (a group may run while the one before it syncs).
    const durable = WalSync.prototype.durable;
    const spy = vi.spyOn(WalSync.prototype, 'durable').mockImplementation(function (this: WalSync) {
      trace.push('commit');
      return durable.call(this);
    });
    try {
      await Promise.all(
        Array.from({ length: 7 }, (_, i) =>
          db
            .tx(async (x) => {
              trace.push(`run ${i}`);
              await x.run('INSERT INTO t (caller) VALUES (?)', [i]);
            })
            .then(() => trace.push(`done ${i}`)),
        ),
      );
    } finally {
      spy.mockRestore();
    }
    const groups = trace.filter((t) => !t.startsWith('done')).join(' ');
    expect(groups).toBe('run 0 run 1 run 2 commit run 3 run 4 run 5 commit run 6 commit');
    expect(trace.filter((t) => t.startsWith('done'))).toEqual(Array.from({ length: 7 }, (_, i) => `done ${i}`));
    // Nobody is done before its group committed.
    for (const [last, members] of [
      [2, [0, 1, 2]],
      [5, [3, 4, 5]],
      [6, [6]],
    ] as const) {
      for (const i of members) expect(trace.indexOf(`done ${i}`)).toBeGreaterThan(trace.indexOf(`run ${last}`));
    }
    expect(committed().map((r) => r.caller)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('survives reopening: what was acknowledged is on disk (synchronous normal too)', async () => {
    await db.close();
    db = openSqlite({ path, synchronous: 'normal' });
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => db.tx((x) => x.run('INSERT INTO t (caller) VALUES (?)', [i]))),
    );
    expect(await db.get<{ synchronous: number }>('PRAGMA synchronous')).toEqual({ synchronous: 1 }); // NORMAL
    await db.close();
    db = openSqlite({ path });
    expect((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM t'))?.n).toBe(20);
  });

  it('FULL (the default): callers settle only after the WAL was synced (by the adapter, off the loop)', async () => {
    const order: string[] = [];
    const durable = WalSync.prototype.durable;
    const spy = vi.spyOn(WalSync.prototype, 'durable').mockImplementation(async function (this: WalSync) {
      order.push('commit');
      await durable.call(this);
      order.push('synced');
    });
    try {
      await Promise.all(
        [1, 2].map((i) =>
          db.tx((x) => x.run('INSERT INTO t (caller) VALUES (?)', [i])).then(() => order.push(`settled ${i}`)),
        ),
      );
    } finally {
      spy.mockRestore();
    }
    expect(order).toEqual(['commit', 'synced', 'settled 1', 'settled 2']);
    // SQLite's own FULL would fsync inside COMMIT, blocking the event loop: the connection runs NORMAL (1).
    expect(await db.get<{ synchronous: number }>('PRAGMA synchronous')).toEqual({ synchronous: 1 });
  });

  it('writes queued with atCommit run once per group before COMMIT, without those of a failed caller', async () => {
    const flushed: number[][] = [];
    const batch: CommitBatch<number> = {
      async flush(x, items) {
        flushed.push(items);
        await x.run('INSERT INTO t (caller, note) VALUES (?, ?)', [-1, items.join(',')]);
      },
    };
    const results = await Promise.allSettled(
      [1, 2, 3].map((i) =>
        db.tx(async (x) => {
          await x.run('INSERT INTO t (caller) VALUES (?)', [i]);
          await atCommit(x, batch, i);
          if (i === 2) throw new Error('caller 2 failed');
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(flushed).toEqual([[1, 3]]);
    expect(committed()).toEqual([
      { caller: 1, note: null },
      { caller: 3, note: null },
      { caller: -1, note: '1,3' },
    ]);
    // A caller alone (no savepoint) that fails leaves nothing; outside a transaction atCommit writes at once.
    await expect(
      db.tx(async (x) => {
        await atCommit(x, batch, 7);
        throw new Error('alone');
      }),
    ).rejects.toThrow('alone');
    await atCommit(db, batch, 8);
    expect(flushed).toEqual([[1, 3], [8]]);
  });

  it('a busy database checkpoints in a worker thread; closing stops it and keeps every commit', async () => {
    for (let i = 0; i < 300; i++) await db.tx((x) => x.run('INSERT INTO t (caller) VALUES (?)', [i]));
    await db.close();
    db = openSqlite({ path });
    expect((await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM t'))?.n).toBe(300);
    expect(committed()).toHaveLength(300);
  });
});
