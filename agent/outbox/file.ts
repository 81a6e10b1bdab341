import type { Database as Db, Statement } from 'better-sqlite3';
import type { Clock } from '../../shared/clock/index.js';
import type { Logger } from '../../shared/log/index.js';
import { VigilError } from '../errors.js';
import { PendingCounters } from './counters.js';
import type { DiskFullGuard } from './disk-full.js';
import { isDiskFullError } from './open.js';

export type SyncLevel = 'FULL' | 'NORMAL';

export interface OutboxFileOptions {
  db: Db;
  path: string;
  clock: Clock;
  log: Logger;
  readonly: boolean;
  /** The disk-full plan (disk-full.ts); absent when the file is opened read-only. */
  guard: DiskFullGuard | undefined;
}

/**
 * The open outbox file as every part of the outbox writes it. Each state change is one IMMEDIATE transaction
 * (a kill -9 at any instant leaves the old or the new state) that also writes the counter increments still pending
 * (refusals counted while the disk was full). Enqueues commit with synchronous=FULL (they survive a power cut);
 * claims, acks and retries with NORMAL: losing one only means an item is sent again, and the collector answers a
 * re-send of the same id+rev with `duplicate`. A full disk (SQLITE_FULL, no room for the -shm) puts the outbox in
 * its disk-full state (disk-full.ts) and the write is tried once more.
 */
export class OutboxFile {
  readonly db: Db;
  readonly path: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly readonly: boolean;
  readonly guard: DiskFullGuard | undefined;
  /** Counter increments not written yet (counters.ts). */
  readonly pending = new PendingCounters();
  /** Runs before each write: the outbox leaves the disk-full state there and writes what waits in memory. */
  beforeWrite: () => void = () => undefined;
  private syncLevel: SyncLevel = 'FULL';
  private readonly st: { bump: Statement; totals: Statement };
  /** better-sqlite3's transaction wrapper, built once: building it per call allocated several closures a write. */
  private readonly immediateTx: (fn: () => unknown, applied: ReadonlyArray<[string, number]>) => unknown;

  constructor(o: OutboxFileOptions) {
    this.db = o.db;
    this.path = o.path;
    this.clock = o.clock;
    this.log = o.log;
    this.readonly = o.readonly;
    this.guard = o.guard;
    this.st = {
      bump: o.db.prepare(
        `INSERT INTO counters (name, value) VALUES (?, ?)
           ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`,
      ),
      totals: o.db.prepare('SELECT live_bytes AS bytes, live_items AS items FROM totals WHERE id = 1'),
    };
    this.immediateTx = o.db.transaction((fn: () => unknown, applied: ReadonlyArray<[string, number]>) => {
      const out = fn();
      for (const [name, n] of applied) this.st.bump.run(name, n);
      return out;
    }).immediate;
  }

  setSync(level: SyncLevel): void {
    if (this.syncLevel === level) return;
    this.db.pragma(`synchronous = ${level}`);
    this.syncLevel = level;
  }

  /**
   * One IMMEDIATE transaction that also writes the counter increments still pending (refusals counted while the
   * disk was full). Nothing else: no disk-full handling (write() and the held records do that).
   */
  tx<T>(fn: () => T): T {
    const applied = this.pending.snapshot();
    const result = this.immediateTx(fn, applied) as T;
    this.pending.settle(applied);
    return result;
  }

  /**
   * Runs `fn` in one transaction. On a full disk (SQLITE_FULL, no room for the -shm) the outbox enters its
   * disk-full state (disk-full.ts: the reserves are given back, the WAL folded in) and tries once more; if that
   * fails too, `outbox_disk_full`. The state is logged when it starts and when it ends, not per write.
   */
  write<T>(level: SyncLevel, what: string, fn: () => T): T {
    if (this.readonly) {
      throw new VigilError('outbox_readonly', `outbox ${this.path} was opened read-only (${what} needs to write)`);
    }
    this.beforeWrite();
    this.setSync(level);
    try {
      return this.tx(fn);
    } catch (err) {
      if (!isDiskFullError(err)) throw err;
      this.guard?.enter(what);
      try {
        return this.tx(fn);
      } catch (again) {
        if (!isDiskFullError(again)) throw again;
        throw new VigilError(
          'outbox_disk_full',
          `the disk holding ${this.path} is full (${what} failed); queued items are kept, ` +
            'writes resume once space is freed',
          { details: { path: this.path, op: what }, cause: again },
        );
      }
    }
  }

  /** Adds to a counter inside the running transaction. */
  bump(name: string, n = 1): void {
    if (n !== 0) this.st.bump.run(name, n);
  }

  /** Un-acked bytes and items, from the totals the triggers keep (schema.ts). */
  totals(): { bytes: number; items: number } {
    return this.st.totals.get() as { bytes: number; items: number };
  }
}
