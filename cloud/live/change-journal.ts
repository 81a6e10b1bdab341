import type { Logger } from '../../shared/log/index.js';
import { silentLogger } from '../../shared/log/index.js';
import type { SqlDatabase, SqlExecutor } from '../db/sql.js';
import type { EventBus, LiveChange, LiveListener } from './event-bus.js';

/**
 * The live feed's change journal (`live_changes`, `live_change_seq`; migration 9): every change published on the bus
 * gets a number, per tenant, increasing in commit order, kept in the database. It is the SSE `id:` of
 * `GET /v1/stream`, and what `Last-Event-ID` replays after a reconnect: from the database, so across a collector
 * restart and across collectors sharing PostgreSQL.
 *
 * Numbering: one row per tenant holds the last number; an append raises it in the append's transaction, so the row
 * lock (PostgreSQL) or the write lock (SQLite) makes numbers commit in order: once a reader sees number n, every
 * number below it is visible too. Changes are appended in batches (what was published while the previous batch
 * committed), in publish order, then handed to the inner bus (the stream reads the journal when woken).
 *
 * Size: rows older than the replay window are pruned (`pruned_through` remembers the last number dropped, so a
 * client asking for older changes is told to reload instead of silently missing them); a device keeps only its
 * latest heartbeat row (a heartbeat is a state, not an event: the newest one is all a replay needs).
 *
 * A change published while the database is unreachable, or by a process that died between its store commit and the
 * append, is not in the journal: live clients and replays miss it (the store has it; a reload shows it).
 */
export interface JournalEntry {
  seq: number;
  change: LiveChange;
}

interface ChangeRow {
  seq: number | string;
  tenant_id: string;
  type: LiveChange['type'];
  device_id: string;
  event_id: string | null;
  review_id: string | null;
  rev: number | string | null;
  at: number | string;
}

const entry = (r: ChangeRow): JournalEntry => ({
  seq: Number(r.seq),
  change: {
    type: r.type,
    tenantId: r.tenant_id,
    deviceId: r.device_id,
    eventId: r.event_id ?? undefined,
    reviewId: r.review_id ?? undefined,
    rev: r.rev === null ? undefined : Number(r.rev),
    at: Number(r.at),
  },
});

export class ChangeJournal {
  constructor(
    private readonly db: SqlDatabase,
    private readonly now: () => number = Date.now,
  ) {}

  /** Appends changes in order (one transaction); returns their numbers. */
  async append(changes: readonly LiveChange[]): Promise<number[]> {
    if (changes.length === 0) return [];
    const byTenant = new Map<string, number[]>();
    changes.forEach((c, i) => {
      const list = byTenant.get(c.tenantId) ?? [];
      list.push(i);
      byTenant.set(c.tenantId, list);
    });
    const seqs = new Array<number>(changes.length);
    const recordedAt = this.now();
    await this.db.tx(async (x) => {
      for (const [tenantId, indexes] of byTenant) {
        const last = await this.reserve(x, tenantId, indexes.length);
        let seq = last - indexes.length;
        for (const i of indexes) {
          const c = changes[i]!;
          seqs[i] = ++seq;
          await x.run(
            `INSERT INTO live_changes (tenant_id, seq, type, device_id, event_id, review_id, rev, at, recorded_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            [tenantId, seq, c.type, c.deviceId, c.eventId ?? null, c.reviewId ?? null, c.rev ?? null, c.at, recordedAt],
          );
          if (c.type === 'heartbeat')
            await x.run(
              `DELETE FROM live_changes WHERE tenant_id = ? AND device_id = ? AND type = 'heartbeat' AND seq < ?`,
              [tenantId, c.deviceId, seq],
            );
        }
      }
    });
    return seqs;
  }

  /** Raises the tenant's number by `n` (creating its row); returns the new last number. */
  private async reserve(x: SqlExecutor, tenantId: string, n: number): Promise<number> {
    const row = await x.get<{ seq: number | string }>(
      `INSERT INTO live_change_seq (tenant_id, seq, pruned_through) VALUES (?, ?, 0)
       ON CONFLICT (tenant_id) DO UPDATE SET seq = live_change_seq.seq + ?
       RETURNING seq`,
      [tenantId, n, n],
    );
    return Number(row!.seq);
  }

  /** The tenant's last number and the last one pruned (0, 0 before its first change). */
  async position(tenantId: string): Promise<{ last: number; prunedThrough: number }> {
    const row = await this.db.get<{ seq: number | string; pruned_through: number | string }>(
      'SELECT seq, pruned_through FROM live_change_seq WHERE tenant_id = ?',
      [tenantId],
    );
    return { last: Number(row?.seq ?? 0), prunedThrough: Number(row?.pruned_through ?? 0) };
  }

  /** The tenant's changes after number `seq`, oldest first, at most `limit`. */
  async after(tenantId: string, seq: number, limit: number): Promise<JournalEntry[]> {
    const rows = await this.db.all<ChangeRow>(
      `SELECT seq, tenant_id, type, device_id, event_id, review_id, rev, at FROM live_changes
        WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
      [tenantId, seq, limit],
    );
    return rows.map(entry);
  }

  /** Drops rows recorded before `before`; returns how many. */
  async prune(before: number): Promise<number> {
    return this.db.tx(async (x) => {
      const tops = await x.all<{ tenant_id: string; top: number | string }>(
        'SELECT tenant_id, MAX(seq) AS top FROM live_changes WHERE recorded_at < ? GROUP BY tenant_id',
        [before],
      );
      for (const t of tops)
        await x.run('UPDATE live_change_seq SET pruned_through = ? WHERE tenant_id = ? AND pruned_through < ?', [
          Number(t.top),
          t.tenant_id,
          Number(t.top),
        ]);
      return (await x.run('DELETE FROM live_changes WHERE recorded_at < ?', [before])).changes;
    });
  }
}

const BATCH = 500;

/**
 * The bus every publisher uses (cloud/server/app.ts wraps the configured one): journals each change, then passes it
 * on. Publish order is kept (one batch at a time); `publish` never throws and never blocks.
 */
export class JournaledEventBus implements EventBus {
  private pending: LiveChange[] = [];
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly inner: EventBus,
    readonly journal: ChangeJournal,
    private readonly log: Logger = silentLogger(),
  ) {}

  get subscribers(): number {
    return this.inner.subscribers;
  }

  publish(change: LiveChange): void {
    if (this.closed) return;
    this.pending.push(change);
    this.running ??= this.drain();
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, BATCH);
      try {
        await this.journal.append(batch);
      } catch (err) {
        this.log.warn({ err, changes: batch.length }, 'live change journal append failed; not replayable');
      }
      for (const c of batch) this.inner.publish(c);
    }
    this.running = undefined;
  }

  subscribe(tenantId: string, listener: LiveListener): () => void {
    return this.inner.subscribe(tenantId, listener);
  }

  /** Waits for the changes already published to be journaled and passed on, then closes the inner bus. */
  async close(): Promise<void> {
    this.closed = true;
    await this.running;
    await this.inner.close();
  }
}
