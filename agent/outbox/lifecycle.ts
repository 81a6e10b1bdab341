import type { Statement } from 'better-sqlite3';
import type { ClaimOptions } from './api.js';
import { backoffDelayMs, type BackoffPolicy } from './backoff.js';
import type { OutboxFile } from './file.js';
import { COLUMNS, PREFIXED, sha256, toItem, type Row } from './rows.js';
import { ITEM_STATES, type ClaimedItem, type ItemRef } from './types.js';

type StatementName =
  | 'due'
  | 'dueThumbs'
  | 'lease'
  | 'ack'
  | 'getRef'
  | 'retry'
  | 'dead'
  | 'discard'
  | 'expired'
  | 'recover';

/**
 * What happens to items after they are queued: claims (leased while in flight), acks, retries with backoff, dead
 * items, expired leases, and the operator's retry, purge and prune. Every change is one transaction of the
 * outbox file (file.ts), committed with synchronous=NORMAL except purge.
 *
 * Order: event records before thumbnails; `new`/`end` before `update`; oldest first. A thumbnail is claimed only
 * after every event record of its event up to its rev is acked (the collector refuses thumbnails of unknown
 * events). A lease that runs out puts the item back with exponential backoff + jitter.
 */
export class ItemLifecycle {
  private readonly st: Record<StatementName, Statement>;

  constructor(
    private readonly file: OutboxFile,
    private readonly backoff: BackoffPolicy,
    private readonly random: () => number,
    private readonly retentionMs: number,
  ) {
    const db = file.db;
    this.st = {
      // INDEXED BY: walk pending items in send order and stop at LIMIT. Left to itself the planner may pick the
      // next_attempt_at index and sort every pending row on each claim (quadratic over a backlog).
      due: db.prepare(
        `SELECT ${PREFIXED('items')}, b.body AS body FROM items INDEXED BY items_due JOIN bodies b ON b.seq = items.seq
          WHERE items.state = 'pending' AND items.kind = ? AND items.next_attempt_at <= ?
          ORDER BY items.priority, items.seq LIMIT ?`,
      ),
      // A thumbnail waits until its event record (same id, rev not above it) is acknowledged: the collector
      // refuses a thumbnail for an event it has not stored.
      dueThumbs: db.prepare(
        `SELECT ${PREFIXED('t')}, b.body AS body FROM items AS t INDEXED BY items_due JOIN bodies b ON b.seq = t.seq
          WHERE t.state = 'pending' AND t.kind = 'thumbnail' AND t.next_attempt_at <= ?
            AND NOT EXISTS (SELECT 1 FROM items e WHERE e.event_id = t.event_id AND e.kind = 'event' AND e.rev <= t.rev
                            AND e.state IN ('pending','in_flight'))
          ORDER BY t.priority, t.seq LIMIT ?`,
      ),
      lease: db.prepare("UPDATE items SET state = 'in_flight', attempts = attempts + 1, lease_until = ? WHERE seq = ?"),
      ack: db.prepare(
        `UPDATE items SET state = 'acked', done_at = ?, lease_until = NULL, last_error_code = NULL, last_error = NULL
          WHERE kind = ? AND event_id = ? AND rev = ? AND state IN ('pending','in_flight','dead')`,
      ),
      getRef: db.prepare(`SELECT ${COLUMNS} FROM items WHERE kind = ? AND event_id = ? AND rev = ?`),
      retry: db.prepare(
        `UPDATE items SET state = 'pending', next_attempt_at = ?, lease_until = NULL, last_error_code = ?,
                          last_error = ?
          WHERE seq = ? AND state = 'in_flight'`,
      ),
      dead: db.prepare(
        `UPDATE items SET state = 'dead', lease_until = NULL, last_error_code = ?, last_error = ?
          WHERE seq = ? AND state IN ('pending','in_flight')`,
      ),
      discard: db.prepare(
        `UPDATE items SET state = 'dropped', done_at = ?, lease_until = NULL, last_error_code = ?, last_error = ?
          WHERE seq = ? AND state IN ('pending','in_flight','dead')`,
      ),
      expired: db.prepare(`SELECT ${COLUMNS} FROM items WHERE state = 'in_flight' AND lease_until <= ?`),
      recover: db.prepare(
        "UPDATE items SET state = 'pending', next_attempt_at = ?, lease_until = NULL WHERE state = 'in_flight'",
      ),
    };
  }

  claim(o: ClaimOptions): ClaimedItem[] {
    return this.file.write('NORMAL', 'claim', () => {
      const now = this.file.clock.now();
      const due = o.kind === 'thumbnail' ? this.st.dueThumbs.all(now, o.limit) : this.st.due.all(o.kind, now, o.limit);
      const out: ClaimedItem[] = [];
      let bytes = 0;
      for (const r of due as Array<Row & { body: Buffer }>) {
        if (out.length > 0 && o.maxBytes !== undefined && bytes + r.body.length > o.maxBytes) break;
        if (sha256(r.body) !== r.sha256) {
          const why = `stored ${r.kind} no longer matches its SHA-256 (disk corruption?)`;
          this.st.dead.run('checksum_mismatch', why, r.seq);
          const what = { kind: r.kind, event_id: r.event_id, rev: r.rev };
          this.file.log.error(what, 'outbox: body checksum mismatch; item marked dead, not sent');
          continue;
        }
        this.st.lease.run(now + o.leaseMs, r.seq);
        bytes += r.body.length;
        const leased = { state: 'in_flight' as const, attempts: r.attempts + 1, leaseUntil: now + o.leaseMs };
        out.push({ ...toItem(r), ...leased, body: r.body });
      }
      return out;
    });
  }

  ack(refs: readonly ItemRef[]): number {
    if (refs.length === 0) return 0;
    return this.file.write('NORMAL', 'ack', () => {
      const now = this.file.clock.now();
      let n = 0;
      for (const r of refs) n += this.st.ack.run(now, r.kind, r.eventId, r.rev).changes;
      return n;
    });
  }

  retryLater(refs: readonly ItemRef[], reason: { code: string; message: string; delayMs?: number }): number {
    return this.updateInFlight(refs, (r) => {
      const delay = reason.delayMs ?? backoffDelayMs(r.attempts, this.backoff, this.random);
      return this.st.retry.run(this.file.clock.now() + delay, reason.code, reason.message, r.seq).changes;
    });
  }

  markDead(refs: readonly ItemRef[], reason: { code: string; message: string }): number {
    return this.updateInFlight(refs, (r) => {
      const n = this.st.dead.run(reason.code, reason.message, r.seq).changes;
      if (n > 0) {
        const what = { kind: r.kind, event_id: r.event_id, rev: r.rev, code: reason.code };
        this.file.log.error(what, `outbox: ${r.kind} rejected by the collector, marked dead: ${reason.message}`);
      }
      return n;
    });
  }

  discard(refs: readonly ItemRef[], reason: { code: string; message: string }, counter: string): number {
    return this.updateInFlight(refs, (r) => {
      const n = this.st.discard.run(this.file.clock.now(), reason.code, reason.message, r.seq).changes;
      this.file.bump(counter, n);
      return n;
    });
  }

  private updateInFlight(refs: readonly ItemRef[], fn: (r: Row) => number): number {
    if (refs.length === 0) return 0;
    return this.file.write('NORMAL', 'update', () => {
      let n = 0;
      for (const ref of refs) {
        const r = this.st.getRef.get(ref.kind, ref.eventId, ref.rev) as Row | undefined;
        if (r) n += fn(r);
      }
      return n;
    });
  }

  releaseExpiredLeases(): number {
    return this.file.write('NORMAL', 'release leases', () => {
      const now = this.file.clock.now();
      const rows = this.st.expired.all(now) as Row[];
      for (const r of rows) {
        const due = now + backoffDelayMs(r.attempts, this.backoff, this.random);
        this.st.retry.run(due, 'ack_timeout', 'no ack from the collector before the lease expired', r.seq);
      }
      this.file.bump('expired_leases', rows.length);
      return rows.length;
    });
  }

  recoverInFlight(): number {
    const n = this.file.write('NORMAL', 'recover', () => this.st.recover.run(this.file.clock.now()).changes);
    if (n > 0) this.file.log.info({ items: n }, 'outbox: in-flight items from the previous run are pending again');
    return n;
  }

  retryNow(): number {
    return this.file.write('NORMAL', 'retry', () => {
      const now = this.file.clock.now();
      const sql = `UPDATE items SET state = 'pending', next_attempt_at = ?, lease_until = NULL
                    WHERE state = 'dead' OR (state = 'pending' AND next_attempt_at > ?)`;
      return this.file.db.prepare(sql).run(now, now).changes;
    });
  }

  expedite(): number {
    return this.file.write('NORMAL', 'expedite', () => {
      const now = this.file.clock.now();
      const sql = "UPDATE items SET next_attempt_at = ? WHERE state = 'pending' AND next_attempt_at > ?";
      return this.file.db.prepare(sql).run(now, now).changes;
    });
  }

  purge(all: boolean): number {
    return this.file.write('FULL', 'purge', () => {
      const db = this.file.db;
      const states = all ? ITEM_STATES : (['acked', 'dead', 'dropped'] as const);
      const placeholders = states.map(() => '?').join(',');
      const unacked = db
        .prepare(
          `SELECT kind, count(*) AS n FROM items
            WHERE state IN ('pending','in_flight','dead') AND state IN (${placeholders}) GROUP BY kind`,
        )
        .all(...states) as Array<{ kind: string; n: number }>;
      for (const u of unacked) this.file.bump(`purged.${u.kind}`, u.n);
      const n = db.prepare(`DELETE FROM items WHERE state IN (${placeholders})`).run(...states).changes;
      this.file.log.warn({ deleted: n, all }, 'outbox: purged by operator');
      return n;
    });
  }

  prune(): number {
    const db = this.file.db;
    const sql = "DELETE FROM items WHERE state IN ('acked','dropped') AND done_at <= ?";
    const n = this.file.write('NORMAL', 'prune', () => {
      return db.prepare(sql).run(this.file.clock.now() - this.retentionMs).changes;
    });
    // On a full disk the free pages are the outbox's own room: only what is beyond the spare goes back.
    const guard = this.file.guard;
    if (guard?.full) {
      guard.vacuumBeyondSpare();
      return n;
    }
    const free = db.pragma('freelist_count', { simple: true }) as number;
    const pages = db.pragma('page_count', { simple: true }) as number;
    if (free > 256 && free > pages / 4) db.pragma('incremental_vacuum');
    return n;
  }
}
