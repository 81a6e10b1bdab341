/**
 * The few things the store needs from a SQL database, so one store implementation serves SQLite and PostgreSQL.
 * Statements are written once with `?` placeholders (PostgreSQL's adapter numbers them) in SQL both dialects
 * understand: ON CONFLICT, RETURNING, BIGINT milliseconds, DOUBLE PRECISION, TEXT JSON.
 */
export type SqlValue = string | number | bigint | null | boolean;

export interface SqlRunResult {
  changes: number;
}

export interface SqlExecutor {
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  run(sql: string, params?: readonly SqlValue[]): Promise<SqlRunResult>;
  /**
   * Inside a transaction: queues `item` for `batch`, flushed once just before the transaction commits, with the
   * items of every caller that shares the commit (SQLite group commit: one statement per group instead of one per
   * request). Items of a caller that threw are dropped with its writes. Absent outside transactions; use
   * `atCommit()` below, which flushes at once there.
   */
  atCommit?<T>(batch: CommitBatch<T>, item: T): void;
}

/** Writes merged per commit (see SqlExecutor.atCommit), e.g. a device's `last_seen_at`. */
export interface CommitBatch<T> {
  /** Runs in the transaction, before COMMIT, with the queued items in the order they were queued. */
  flush(x: SqlExecutor, items: T[]): Promise<void>;
}

/** Queues `item` for `batch` at the commit of `x`'s transaction, or writes it now when `x` cannot defer. */
export async function atCommit<T>(x: SqlExecutor, batch: CommitBatch<T>, item: T): Promise<void> {
  if (x.atCommit) x.atCommit(batch, item);
  else await batch.flush(x, [item]);
}

/** Per transaction: the items queued for each batch, flushed in the order the batches were first used. */
export class CommitQueue {
  private readonly batches = new Map<CommitBatch<unknown>, unknown[]>();

  add<T>(batch: CommitBatch<T>, item: T): void {
    const items = this.batches.get(batch as CommitBatch<unknown>);
    if (items) items.push(item);
    else this.batches.set(batch as CommitBatch<unknown>, [item]);
  }

  /** Moves another queue's items (a caller that succeeded) into this one (its group's). */
  absorb(other: CommitQueue): void {
    for (const [batch, items] of other.batches) for (const item of items) this.add(batch, item);
  }

  get empty(): boolean {
    return this.batches.size === 0;
  }

  async flush(x: SqlExecutor): Promise<void> {
    for (const [batch, items] of this.batches) await batch.flush(x, items);
    this.batches.clear();
  }
}

export interface SqlDatabase extends SqlExecutor {
  readonly dialect: 'sqlite' | 'postgres';
  /** ` FOR UPDATE` where row locks exist (PostgreSQL); empty for SQLite, whose write transactions are exclusive. */
  readonly forUpdate: string;
  /** Runs `fn` in one transaction; commits (durably) when it resolves, rolls back when it throws. */
  tx<T>(fn: (x: SqlExecutor) => Promise<T>): Promise<T>;
  /** Runs DDL text (several statements). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

/** `?` → `$1, $2, …` for PostgreSQL. The store's SQL never has a `?` inside a string literal. */
export function numberPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
