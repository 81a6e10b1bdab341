import type { Statement } from 'better-sqlite3';
import { VigilError } from '../errors.js';
import type { EnqueueResult } from './api.js';
import type { OutboxFile } from './file.js';
import type { OpenEventLedger } from './open-events.js';
import { COLUMNS, sha256, type NewItem, type Row } from './rows.js';
import { ROW_OVERHEAD_BYTES } from './schema.js';
import { priorityOf, type ItemState, type OutboxEvent } from './types.js';

/** The record to store instead of the event when its thumbnail is not stored (no announcement of it). */
export interface BareRecord {
  event: OutboxEvent;
  json: Buffer;
}

/** An item already stored under the same kind, id and rev. */
type Existing = { sha256: string; state: ItemState };

/** Eviction classes, in order: what the budget drops first to make room, oldest first within each. */
const EVICTION: ReadonlyArray<{ why: string; sql: string }> = [
  { why: 'update thumbnail', sql: "kind = 'thumbnail' AND event_type = 'update'" },
  { why: 'thumbnail', sql: "kind = 'thumbnail'" },
  {
    why: 'superseded update record',
    sql:
      "kind IN ('event','review') AND event_type = 'update' AND EXISTS (SELECT 1 FROM items l " +
      'WHERE l.kind = items.kind AND l.event_id = items.event_id AND l.rev > items.rev)',
  },
];

/**
 * Writing an event's items (its record, maybe its thumbnail) inside the enqueue transaction, within the outbox's
 * disk budget: un-acked body bytes + 256 B per row, counted by triggers. Over budget, older thumbnails (update
 * first) and superseded update records are evicted; if the event still does not fit its own thumbnail is dropped
 * (and the record stored is the bare one, which does not announce it); if the record alone does not fit, the
 * enqueue is refused with `outbox_full` — un-acked new/end records and latest revisions are never deleted. Every
 * drop is counted (`dropped.<kind>.<type>`) and logged. The open-event ledger is written in the same transaction,
 * with the record actually stored.
 */
export class DiskBudget {
  private readonly st: Record<'find' | 'insert' | 'insertBody' | 'supersede' | 'drop', Statement>;
  private readonly pick: Statement[];

  constructor(
    private readonly file: OutboxFile,
    readonly budgetBytes: number,
    private readonly ledger: OpenEventLedger,
  ) {
    const db = file.db;
    this.st = {
      find: db.prepare('SELECT sha256, state FROM items WHERE kind = ? AND event_id = ? AND rev = ?'),
      insert: db.prepare(
        `INSERT INTO items (kind, event_id, rev, event_type, priority, state, bytes, sha256, attempts,
                            next_attempt_at, created_at)
         VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, 0, ?, ?)`,
      ),
      insertBody: db.prepare('INSERT INTO bodies (seq, body) VALUES (?, ?)'),
      supersede: db.prepare(
        `UPDATE items SET state = 'dropped', done_at = ?, last_error_code = 'superseded',
                          last_error = 'a later revision brought a newer thumbnail'
          WHERE kind = 'thumbnail' AND event_id = ? AND rev < ? AND state IN ('pending','dead')`,
      ),
      drop: db.prepare(
        `UPDATE items SET state = 'dropped', done_at = ?, lease_until = NULL, last_error_code = 'evicted',
                          last_error = ?
          WHERE seq = ?`,
      ),
    };
    const live = "state IN ('pending','in_flight','dead')";
    const oldest = (where: string): string =>
      `SELECT ${COLUMNS} FROM items WHERE ${live} AND ${where} ORDER BY seq LIMIT 64`;
    this.pick = EVICTION.map((c) => db.prepare(oldest(c.sql)));
  }

  /**
   * Inserts `items` of `event` (call inside a transaction). `bare`: the record to store instead when the budget
   * drops the incoming thumbnail. Re-inserting the same id+rev with the same bytes is a no-op (`duplicate`); with
   * different bytes it is refused (`outbox_conflict`).
   */
  insert(event: OutboxEvent, items: NewItem[], bare?: BareRecord): EnqueueResult {
    const now = this.file.clock.now();
    let stored = event;
    const result: EnqueueResult = { event: 'queued', thumbnail: items.length > 1 ? 'queued' : 'none', evicted: 0 };
    const fresh: Array<NewItem & { sha: string }> = [];
    for (const it of items) {
      const sha = sha256(it.body);
      const existing = this.st.find.get(it.kind, event.id, event.rev) as Existing | undefined;
      if (existing) {
        if (existing.sha256 !== sha) {
          const what = `outbox already holds ${it.kind} ${event.id} rev ${event.rev} with different content`;
          throw new VigilError('outbox_conflict', `${what}; a changed event needs a new rev`, {
            details: { event_id: event.id, rev: event.rev, kind: it.kind },
          });
        }
        if (it.kind !== 'thumbnail') result.event = 'duplicate';
        else result.thumbnail = 'duplicate';
        continue;
      }
      fresh.push({ ...it, sha });
    }
    const charge = (list: Array<{ body: Buffer }>): number =>
      list.reduce((n, it) => n + it.body.length + ROW_OVERHEAD_BYTES, 0);
    let need = charge(fresh);
    if (need > 0 && !this.fits(need)) {
      result.evicted = this.evict(need, now);
      if (!this.fits(need)) {
        const thumb = fresh.find((f) => f.kind === 'thumbnail');
        if (thumb) {
          fresh.splice(fresh.indexOf(thumb), 1);
          need = charge(fresh);
          result.thumbnail = 'dropped';
          this.file.bump(`dropped.thumbnail.${event.type}`);
          const what = { event_id: event.id, rev: event.rev, bytes: thumb.body.length };
          this.file.log.warn(what, 'outbox budget: dropped the incoming thumbnail, the event record is kept');
          const record = fresh.find((f) => f.kind !== 'thumbnail');
          if (record && bare && bare.event !== event) {
            Object.assign(record, { body: bare.json, sha: sha256(bare.json) });
            stored = bare.event;
            need = charge(fresh);
          }
        }
        if (need > 0 && !this.fits(need)) throw this.full(event);
      }
    }
    for (const it of fresh) {
      const priority = priorityOf(it.kind, event.type);
      const row = [it.kind, event.id, event.rev, event.type, priority, it.body.length, it.sha, now, now] as const;
      const { lastInsertRowid } = this.st.insert.run(...row);
      this.st.insertBody.run(lastInsertRowid, it.body);
      if (it.kind === 'thumbnail') {
        // The collector keeps one thumbnail per event, the one the latest revision announces: older unsent ones
        // would only be rejected as thumbnail_mismatch.
        const n = this.st.supersede.run(now, event.id, event.rev).changes;
        this.file.bump('superseded.thumbnail', n);
      }
    }
    // The open-event ledger is about events and review items; a result record is not one.
    if (result.event === 'queued' && items[0]?.kind !== 'result') this.ledger.record(stored, now);
    return result;
  }

  private full(event: OutboxEvent): VigilError {
    const live = this.file.totals();
    const path = this.file.path;
    const held = `${live.bytes} of ${this.budgetBytes} budget bytes hold ${live.items} un-acked item(s)`;
    return new VigilError(
      'outbox_full',
      `outbox ${path} is full: ${held} that cannot be evicted; event ${event.id} rev ${event.rev} was refused`,
      {
        details: { path, live_bytes: live.bytes, budget_bytes: this.budgetBytes, event_id: event.id, rev: event.rev },
      },
    );
  }

  private fits(need: number): boolean {
    return this.file.totals().bytes + need <= this.budgetBytes;
  }

  /**
   * Frees room for `need` bytes, oldest first within each class: update thumbnails, other thumbnails, then update
   * records that a later rev of the same event supersedes. Returns how many items were dropped.
   */
  private evict(need: number, now: number): number {
    let dropped = 0;
    for (const [i, c] of EVICTION.entries()) {
      while (!this.fits(need)) {
        const rows = this.pick[i]!.all() as Row[];
        if (rows.length === 0) break;
        for (const r of rows) {
          this.st.drop.run(now, `evicted by the disk budget (${c.why})`, r.seq);
          this.file.bump(`dropped.${r.kind}.${r.event_type}`);
          dropped++;
          const what = { kind: r.kind, event_id: r.event_id, rev: r.rev, event_type: r.event_type, bytes: r.bytes };
          this.file.log.warn(what, `outbox budget: dropped ${c.why}`);
          if (this.fits(need)) break;
        }
      }
      if (this.fits(need)) break;
    }
    return dropped;
  }
}
