import type { Database as Db, Statement } from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { systemClock, type Clock } from '../../shared/clock/index.js';
import { VigilError } from '../../shared/errors/index.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import { EVENT_MAX_BYTES, THUMBNAIL_MAX_BYTES } from '../../firmware-protocol/limits.js';
import { backoffDelayMs, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import { openOutboxFile } from './open.js';
import { OpenEventLedger } from './open-events.js';
import { ROW_OVERHEAD_BYTES } from './schema.js';
import {
  describeRef,
  ITEM_STATES,
  priorityOf,
  type ClaimedItem,
  type EventType,
  type ItemKind,
  type ItemRef,
  type ItemState,
  type OutboxEvent,
  type OutboxItem,
} from './types.js';

/**
 * The agent's durable queue between "an event exists" and "the collector has acknowledged it".
 *
 * Every state change is one SQLite transaction, so a kill -9 at any instant leaves either the old or the new state.
 * Enqueues commit with synchronous=FULL (survive a power cut); claim/ack/retry bookkeeping commits with NORMAL,
 * because losing it only means an item is sent again, and the collector answers a re-send of the same id+rev with
 * `duplicate`.
 *
 * Thumbnails are stored as blobs in the same file: one transaction covers an event and its thumbnail (no orphan
 * files, no rename dance), SQLite reads ~20 KB blobs faster than separate files, and the disk budget is one
 * number. Bodies sit in their own table, so a claim or ack rewrites a small row, not a 20 KB record. SQLite does
 * not checksum pages, so each body carries a SHA-256 that is checked before every send.
 */

export interface OutboxOptions {
  /** The outbox file, normally `<data dir>/outbox.db`. */
  path: string;
  /** Most bytes of un-acked bodies (+256 B per row) the outbox keeps. Default 256 MiB. */
  budgetBytes?: number;
  /** How long acked and dropped rows are kept (bodies are freed at once). Default 24 h. */
  retentionMs?: number;
  backoff?: BackoffPolicy;
  clock?: Clock;
  logger?: Logger;
  /** Extra validation of an event before it is accepted (the protocol schema); throws to refuse. */
  validateEvent?: (event: OutboxEvent) => void;
  create?: boolean;
  quarantine?: boolean;
  integrityCheck?: boolean;
  random?: () => number;
  /**
   * Hard cap on the file's pages (`PRAGMA max_page_count`). SQLite then fails writes with SQLITE_FULL exactly as on
   * a full disk, which is how tests exercise that path.
   */
  maxPageCount?: number;
}

export type ThumbnailOutcome = 'none' | 'queued' | 'duplicate' | 'dropped';

export interface EnqueueResult {
  event: 'queued' | 'duplicate';
  thumbnail: ThumbnailOutcome;
  /** Older items evicted to make room (thumbnails, superseded updates). */
  evicted: number;
}

export interface ClaimOptions {
  kind: ItemKind;
  limit: number;
  /** Stop adding items once their bodies would exceed this many bytes (the first item is always taken). */
  maxBytes?: number;
  leaseMs: number;
}

export interface StateCounts {
  pending: number;
  in_flight: number;
  acked: number;
  dead: number;
  dropped: number;
}

export interface OutboxStats {
  path: string;
  total: StateCounts;
  byKind: Record<ItemKind, StateCounts>;
  /** Un-acked items (pending + in_flight + dead). */
  depth: number;
  /** Pending items whose next attempt is in the future (backing off). */
  backingOff: number;
  /** Age in ms of the oldest un-acked item, or null. */
  oldestPendingAgeMs: number | null;
  liveBytes: number;
  budgetBytes: number;
  fileBytes: number;
  /** Monotonic counters: `dropped.<kind>.<type>`, `refused.budget`, `refused.disk_full`, `expired_leases`… */
  counters: Record<string, number>;
  /** Total items dropped by the disk budget, all kinds. */
  dropped: number;
  diskFull: boolean;
  nextDueAt: number | null;
}

export interface ListOptions {
  states?: ItemState[];
  kind?: ItemKind;
  limit?: number;
}

interface Row {
  seq: number;
  kind: ItemKind;
  event_id: string;
  rev: number;
  event_type: EventType;
  priority: number;
  state: ItemState;
  attempts: number;
  next_attempt_at: number;
  lease_until: number | null;
  created_at: number;
  done_at: number | null;
  bytes: number;
  sha256: string;
  last_error_code: string | null;
  last_error: string | null;
}

const COLUMN_NAMES = [
  'seq', 'kind', 'event_id', 'rev', 'event_type', 'priority', 'state', 'attempts', 'next_attempt_at', 'lease_until', 'created_at', 'done_at', 'bytes', 'sha256', 'last_error_code', 'last_error',
];
const COLUMNS = COLUMN_NAMES.join(', ');
/** The item columns qualified by a table alias (for joins with bodies). */
const PREFIXED = (alias: string): string => COLUMN_NAMES.map((c) => `${alias}.${c}`).join(', ');

function toItem(r: Row): OutboxItem {
  return {
    seq: r.seq,
    kind: r.kind,
    eventId: r.event_id,
    rev: r.rev,
    eventType: r.event_type,
    priority: r.priority,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    leaseUntil: r.lease_until,
    createdAt: r.created_at,
    doneAt: r.done_at,
    bytes: r.bytes,
    sha256: r.sha256,
    lastErrorCode: r.last_error_code,
    lastError: r.last_error,
  };
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function isDiskFull(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === 'SQLITE_FULL';
}

const EVENT_TYPES: readonly EventType[] = ['new', 'update', 'end'];

function checkEvent(event: OutboxEvent): void {
  if (typeof event !== 'object' || event === null) throw new VigilError('invalid_event', 'outbox: event must be an object', { status: 400 });
  if (typeof event.id !== 'string' || event.id.length === 0) throw new VigilError('invalid_event', 'outbox: event /id must be a non-empty string', { status: 400 });
  if (!Number.isInteger(event.rev) || event.rev < 0) throw new VigilError('invalid_event', `outbox: event ${event.id} /rev must be an integer >= 0`, { status: 400 });
  if (!EVENT_TYPES.includes(event.type)) throw new VigilError('invalid_event', `outbox: event ${event.id} /type must be new, update or end`, { status: 400 });
}

interface NewItem {
  kind: ItemKind;
  body: Buffer;
}

export class Outbox {
  readonly path: string;
  readonly budgetBytes: number;
  readonly retentionMs: number;
  /** Set when the file was renamed aside on open (`quarantine`). */
  readonly quarantinedTo: string | undefined;
  private readonly db: Db;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly backoff: BackoffPolicy;
  private readonly random: () => number;
  private readonly validateEvent: ((e: OutboxEvent) => void) | undefined;
  private syncLevel: 'FULL' | 'NORMAL' = 'FULL';
  private diskFullSince: number | null = null;
  private readonly st: Record<string, Statement>;
  /** Events announced and not ended, kept with every event enqueue (open-events.ts). */
  readonly openEvents: OpenEventLedger;

  static open(options: OutboxOptions): Outbox {
    const opened = openOutboxFile({
      path: options.path,
      create: options.create ?? true,
      quarantine: options.quarantine ?? false,
      integrityCheck: options.integrityCheck ?? true,
      now: () => (options.clock ?? systemClock).now(),
    });
    return new Outbox(opened.db, options, opened.quarantinedTo);
  }

  private constructor(db: Db, o: OutboxOptions, quarantinedTo: string | undefined) {
    this.db = db;
    this.path = o.path;
    this.budgetBytes = o.budgetBytes ?? 256 * 1024 * 1024;
    this.retentionMs = o.retentionMs ?? 24 * 3_600_000;
    this.clock = o.clock ?? systemClock;
    this.log = o.logger ?? silentLogger();
    this.backoff = o.backoff ?? DEFAULT_BACKOFF;
    this.random = o.random ?? Math.random;
    this.validateEvent = o.validateEvent;
    this.quarantinedTo = quarantinedTo;
    this.openEvents = new OpenEventLedger(db);
    if (o.maxPageCount !== undefined) db.pragma(`max_page_count = ${Math.floor(o.maxPageCount)}`);
    if (quarantinedTo) this.log.error({ path: o.path, moved_to: quarantinedTo }, 'outbox file was corrupt or foreign; moved aside, started an empty outbox');
    this.st = {
      find: db.prepare('SELECT sha256, state FROM items WHERE kind = ? AND event_id = ? AND rev = ?'),
      insert: db.prepare(
        `INSERT INTO items (kind, event_id, rev, event_type, priority, state, bytes, sha256, attempts, next_attempt_at, created_at)
         VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, 0, ?, ?)`,
      ),
      insertBody: db.prepare('INSERT INTO bodies (seq, body) VALUES (?, ?)'),
      totals: db.prepare('SELECT live_bytes AS bytes, live_items AS items FROM totals WHERE id = 1'),
      bump: db.prepare('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value'),
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
        `UPDATE items SET state = 'pending', next_attempt_at = ?, lease_until = NULL, last_error_code = ?, last_error = ?
          WHERE seq = ? AND state = 'in_flight'`,
      ),
      dead: db.prepare(
        `UPDATE items SET state = 'dead', lease_until = NULL, last_error_code = ?, last_error = ?
          WHERE seq = ? AND state IN ('pending','in_flight')`,
      ),
      expired: db.prepare(`SELECT ${COLUMNS} FROM items WHERE state = 'in_flight' AND lease_until <= ?`),
      recover: db.prepare("UPDATE items SET state = 'pending', next_attempt_at = ?, lease_until = NULL WHERE state = 'in_flight'"),
      drop: db.prepare(
        "UPDATE items SET state = 'dropped', done_at = ?, lease_until = NULL, last_error_code = 'evicted', last_error = ? WHERE seq = ?",
      ),
      supersede: db.prepare(
        `UPDATE items SET state = 'dropped', done_at = ?, last_error_code = 'superseded', last_error = 'a later revision brought a newer thumbnail'
          WHERE kind = 'thumbnail' AND event_id = ? AND rev < ? AND state IN ('pending','dead')`,
      ),
      inFlight: db.prepare("SELECT count(*) AS n FROM items WHERE state = 'in_flight'"),
      thumbFor: db.prepare(
        `SELECT rev FROM items WHERE kind = 'thumbnail' AND event_id = ? AND state IN ('in_flight','pending','dead')
          ORDER BY state = 'in_flight' DESC, rev DESC LIMIT 1`,
      ),
      nextDue: db.prepare("SELECT min(next_attempt_at) AS t FROM items WHERE state = 'pending'"),
      nextLease: db.prepare("SELECT min(lease_until) AS t FROM items WHERE state = 'in_flight'"),
    };
  }

  // ---------------------------------------------------------------- writes

  private setSync(level: 'FULL' | 'NORMAL'): void {
    if (this.syncLevel === level) return;
    this.db.pragma(`synchronous = ${level}`);
    this.syncLevel = level;
  }

  /** Runs `fn` in one IMMEDIATE transaction; maps SQLITE_FULL to `outbox_disk_full` and remembers the condition. */
  private write<T>(level: 'FULL' | 'NORMAL', what: string, fn: () => T): T {
    this.setSync(level);
    try {
      let result: T;
      try {
        result = this.db.transaction(fn).immediate();
      } catch (err) {
        if (!isDiskFull(err)) throw err;
        // The WAL may be what fills the disk: fold it into the database, truncate it, and try once more.
        this.checkpoint();
        result = this.db.transaction(fn).immediate();
      }
      if (this.diskFullSince !== null) {
        this.log.warn({ path: this.path }, 'outbox: writes succeed again after a full disk');
        this.diskFullSince = null;
      }
      return result;
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      if (this.diskFullSince === null) this.diskFullSince = this.clock.now();
      this.log.error({ path: this.path, op: what }, 'outbox: disk full; refusing new events, keeping every queued item');
      throw new VigilError(
        'outbox_disk_full',
        `the disk holding ${this.path} is full (${what} failed); new events are refused until space is freed, queued items are kept`,
        { status: 507, details: { path: this.path, op: what }, cause: err },
      );
    }
  }

  private checkpoint(): void {
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      /* still full: the caller reports it */
    }
  }

  private bump(name: string, n = 1): void {
    if (n !== 0) this.st.bump!.run(name, n);
  }

  /**
   * Accepts an event record (and optionally its JPEG thumbnail) in one durable transaction. Re-enqueueing the same
   * id+rev with the same bytes is a no-op (`duplicate`); with different bytes it is refused (`outbox_conflict`).
   *
   * When the budget is exceeded, older thumbnails (update first) and superseded update records are evicted; if
   * the event still does not fit its own thumbnail is dropped; if the event record alone does not fit, the enqueue
   * is refused with `outbox_full` — un-acked events are never deleted to make room.
   */
  enqueue(event: OutboxEvent, thumbnail?: Uint8Array): EnqueueResult {
    checkEvent(event);
    this.validateEvent?.(event);
    const json = Buffer.from(JSON.stringify(event), 'utf8');
    if (json.length > EVENT_MAX_BYTES) {
      throw new VigilError('event_too_large', `outbox: event ${event.id} rev ${event.rev} is ${json.length} bytes as JSON; the protocol allows ${EVENT_MAX_BYTES}`, { status: 413 });
    }
    if (thumbnail && thumbnail.length > THUMBNAIL_MAX_BYTES) {
      throw new VigilError('thumbnail_too_large', `outbox: thumbnail of ${event.id} rev ${event.rev} is ${thumbnail.length} bytes; the protocol allows ${THUMBNAIL_MAX_BYTES}`, { status: 413 });
    }
    const announced = event.thumbnail as { sha256?: unknown; size?: unknown } | undefined;
    if (thumbnail && announced && typeof announced === 'object' && (announced.sha256 !== sha256(thumbnail) || announced.size !== thumbnail.length)) {
      throw new VigilError('thumbnail_mismatch', `outbox: the thumbnail given with ${event.id} rev ${event.rev} is not the one its /thumbnail field announces (sha256/size differ)`, { status: 400 });
    }
    const items: NewItem[] = [{ kind: 'event', body: json }];
    if (thumbnail) items.push({ kind: 'thumbnail', body: Buffer.from(thumbnail.buffer, thumbnail.byteOffset, thumbnail.byteLength) });
    try {
      return this.write('FULL', 'enqueue', () => this.enqueueTx(event, items));
    } catch (err) {
      if (err instanceof VigilError && err.code === 'outbox_disk_full') this.bumpAfterFailure('refused.disk_full');
      throw err;
    }
  }

  /** Counts a refusal in a separate transaction; on a full disk that may itself fail, which is fine. */
  private bumpAfterFailure(name: string): void {
    try {
      this.setSync('NORMAL');
      this.bump(name);
    } catch {
      /* the disk is still full; the log line already reported it */
    }
  }

  private enqueueTx(event: OutboxEvent, items: NewItem[]): EnqueueResult {
    const now = this.clock.now();
    const result: EnqueueResult = { event: 'queued', thumbnail: items.length > 1 ? 'queued' : 'none', evicted: 0 };
    const fresh: Array<NewItem & { sha: string }> = [];
    for (const it of items) {
      const sha = sha256(it.body);
      const existing = this.st.find!.get(it.kind, event.id, event.rev) as { sha256: string; state: ItemState } | undefined;
      if (existing) {
        if (existing.sha256 !== sha) {
          throw new VigilError('outbox_conflict', `outbox already holds ${it.kind} ${event.id} rev ${event.rev} with different content; a changed event needs a new rev`, {
            status: 409,
            details: { event_id: event.id, rev: event.rev, kind: it.kind },
          });
        }
        if (it.kind === 'event') result.event = 'duplicate';
        else result.thumbnail = 'duplicate';
        continue;
      }
      fresh.push({ ...it, sha });
    }
    const charge = (list: Array<{ body: Buffer }>): number => list.reduce((n, it) => n + it.body.length + ROW_OVERHEAD_BYTES, 0);
    let need = charge(fresh);
    if (need > 0 && !this.fits(need)) {
      result.evicted = this.evict(need, now);
      if (!this.fits(need)) {
        const thumb = fresh.find((f) => f.kind === 'thumbnail');
        if (thumb) {
          fresh.splice(fresh.indexOf(thumb), 1);
          need = charge(fresh);
          result.thumbnail = 'dropped';
          this.bump(`dropped.thumbnail.${event.type}`);
          this.log.warn({ event_id: event.id, rev: event.rev, bytes: thumb.body.length }, 'outbox budget: dropped the incoming thumbnail, the event record is kept');
        }
        if (need > 0 && !this.fits(need)) {
          const live = this.totals();
          throw new VigilError(
            'outbox_full',
            `outbox ${this.path} is full: ${live.bytes} of ${this.budgetBytes} budget bytes hold ${live.items} un-acked item(s) that cannot be evicted; event ${event.id} rev ${event.rev} was refused`,
            { status: 507, details: { path: this.path, live_bytes: live.bytes, budget_bytes: this.budgetBytes, event_id: event.id, rev: event.rev } },
          );
        }
      }
    }
    for (const it of fresh) {
      const { lastInsertRowid } = this.st.insert!.run(it.kind, event.id, event.rev, event.type, priorityOf(it.kind, event.type), it.body.length, it.sha, now, now);
      this.st.insertBody!.run(lastInsertRowid, it.body);
      if (it.kind === 'thumbnail') {
        // The collector keeps one thumbnail per event, the one the latest revision announces: older unsent ones
        // would only be rejected as thumbnail_mismatch.
        const n = this.st.supersede!.run(now, event.id, event.rev).changes;
        this.bump('superseded.thumbnail', n);
      }
    }
    if (result.event === 'queued') this.openEvents.record(event, now);
    return result;
  }

  private totals(): { bytes: number; items: number } {
    return this.st.totals!.get() as { bytes: number; items: number };
  }

  private fits(need: number): boolean {
    return this.totals().bytes + need <= this.budgetBytes;
  }

  /**
   * Frees room for `need` bytes, oldest first within each class: update thumbnails, other thumbnails, then update
   * records that a later rev of the same event supersedes. Returns how many items were dropped.
   */
  private evict(need: number, now: number): number {
    const classes: Array<{ why: string; sql: string }> = [
      { why: 'update thumbnail', sql: "kind = 'thumbnail' AND event_type = 'update'" },
      { why: 'thumbnail', sql: "kind = 'thumbnail'" },
      {
        why: 'superseded update record',
        sql: "kind = 'event' AND event_type = 'update' AND EXISTS (SELECT 1 FROM items l WHERE l.kind = 'event' AND l.event_id = items.event_id AND l.rev > items.rev)",
      },
    ];
    let dropped = 0;
    for (const c of classes) {
      const pick = this.db.prepare(`SELECT ${COLUMNS} FROM items WHERE state IN ('pending','in_flight','dead') AND ${c.sql} ORDER BY seq LIMIT 64`);
      while (!this.fits(need)) {
        const rows = pick.all() as Row[];
        if (rows.length === 0) break;
        for (const r of rows) {
          this.st.drop!.run(now, `evicted by the disk budget (${c.why})`, r.seq);
          this.bump(`dropped.${r.kind}.${r.event_type}`);
          dropped++;
          this.log.warn({ kind: r.kind, event_id: r.event_id, rev: r.rev, event_type: r.event_type, bytes: r.bytes }, `outbox budget: dropped ${c.why}`);
          if (this.fits(need)) break;
        }
      }
      if (this.fits(need)) break;
    }
    return dropped;
  }

  /**
   * Takes up to `limit` due items of one kind, best priority first, and leases them: they stay in_flight until an
   * ack, a failure report, or the lease expires. A body whose checksum no longer matches is marked dead
   * (`checksum_mismatch`) instead of being sent.
   */
  claim(o: ClaimOptions): ClaimedItem[] {
    return this.write('NORMAL', 'claim', () => {
      const now = this.clock.now();
      const rows = (o.kind === 'thumbnail' ? this.st.dueThumbs!.all(now, o.limit) : this.st.due!.all(o.kind, now, o.limit)) as Array<Row & { body: Buffer }>;
      const out: ClaimedItem[] = [];
      let bytes = 0;
      for (const r of rows) {
        if (out.length > 0 && o.maxBytes !== undefined && bytes + r.body.length > o.maxBytes) break;
        if (sha256(r.body) !== r.sha256) {
          this.st.dead!.run('checksum_mismatch', `stored ${r.kind} no longer matches its SHA-256 (disk corruption?)`, r.seq);
          this.log.error({ kind: r.kind, event_id: r.event_id, rev: r.rev }, 'outbox: body checksum mismatch; item marked dead, not sent');
          continue;
        }
        this.st.lease!.run(now + o.leaseMs, r.seq);
        bytes += r.body.length;
        out.push({ ...toItem(r), state: 'in_flight', attempts: r.attempts + 1, leaseUntil: now + o.leaseMs, body: r.body });
      }
      return out;
    });
  }

  /** Marks items acknowledged by the collector and frees their bodies. Returns how many changed state. */
  ack(refs: readonly ItemRef[]): number {
    if (refs.length === 0) return 0;
    return this.write('NORMAL', 'ack', () => {
      const now = this.clock.now();
      let n = 0;
      for (const r of refs) n += this.st.ack!.run(now, r.kind, r.eventId, r.rev).changes;
      return n;
    });
  }

  /** Puts in-flight items back to pending: due after `delayMs`, or after the backoff for their attempt count. */
  retryLater(refs: readonly ItemRef[], reason: { code: string; message: string; delayMs?: number }): number {
    return this.updateInFlight(refs, (r) => {
      const delay = reason.delayMs ?? backoffDelayMs(r.attempts, this.backoff, this.random);
      return this.st.retry!.run(this.clock.now() + delay, reason.code, reason.message, r.seq).changes;
    });
  }

  /** Marks items rejected for good. They keep their body, show in `outbox list`, and `outbox retry` revives them. */
  markDead(refs: readonly ItemRef[], reason: { code: string; message: string }): number {
    return this.updateInFlight(refs, (r) => {
      const n = this.st.dead!.run(reason.code, reason.message, r.seq).changes;
      if (n > 0) this.log.error({ kind: r.kind, event_id: r.event_id, rev: r.rev, code: reason.code }, `outbox: ${r.kind} rejected by the collector, marked dead: ${reason.message}`);
      return n;
    });
  }

  private updateInFlight(refs: readonly ItemRef[], fn: (r: Row) => number): number {
    if (refs.length === 0) return 0;
    return this.write('NORMAL', 'update', () => {
      let n = 0;
      for (const ref of refs) {
        const r = this.st.getRef!.get(ref.kind, ref.eventId, ref.rev) as Row | undefined;
        if (r) n += fn(r);
      }
      return n;
    });
  }

  /** In-flight items whose ack did not come before their lease ran out go back to pending (with backoff). */
  releaseExpiredLeases(): number {
    return this.write('NORMAL', 'release leases', () => {
      const now = this.clock.now();
      const rows = this.st.expired!.all(now) as Row[];
      for (const r of rows) {
        this.st.retry!.run(now + backoffDelayMs(r.attempts, this.backoff, this.random), 'ack_timeout', 'no ack from the collector before the lease expired', r.seq);
      }
      this.bump('expired_leases', rows.length);
      return rows.length;
    });
  }

  /**
   * After a restart nothing can still be in flight from this process: every in_flight item becomes due at once.
   * Only the daemon calls this, never the CLI (which may run beside a live daemon).
   */
  recoverInFlight(): number {
    const n = this.write('NORMAL', 'recover', () => this.st.recover!.run(this.clock.now()).changes);
    if (n > 0) this.log.info({ items: n }, 'outbox: in-flight items from the previous run are pending again');
    return n;
  }

  /** Makes dead and backing-off items due now. Returns how many. */
  retryNow(): number {
    return this.write('NORMAL', 'retry', () => {
      const now = this.clock.now();
      return this.db
        .prepare(
          `UPDATE items SET state = 'pending', next_attempt_at = ?, lease_until = NULL
            WHERE state = 'dead' OR (state = 'pending' AND next_attempt_at > ?)`,
        )
        .run(now, now).changes;
    });
  }

  /**
   * Makes every backing-off pending item due now (not dead ones). The uplink calls it when the way to the collector
   * comes back (reconnect, first success after failures): the backoff was about the outage, not the items.
   */
  expedite(): number {
    return this.write('NORMAL', 'expedite', () => {
      const now = this.clock.now();
      return this.db.prepare("UPDATE items SET next_attempt_at = ? WHERE state = 'pending' AND next_attempt_at > ?").run(now, now).changes;
    });
  }

  /** Counts of what `purge` would delete. `all` includes un-acked items (pending, in_flight). */
  purgePreview(all: boolean): StateCounts {
    const counts = this.stateCounts();
    return all ? counts : { pending: 0, in_flight: 0, acked: counts.acked, dead: counts.dead, dropped: counts.dropped };
  }

  /**
   * Deletes acked, dropped and dead rows; with `all`, also every un-acked item (the only way the outbox ever loses
   * an event, and only on an operator's explicit request). Deleted un-acked items are counted as `purged.*`.
   */
  purge(all: boolean): number {
    return this.write('FULL', 'purge', () => {
      const states = all ? ITEM_STATES : (['acked', 'dead', 'dropped'] as const);
      const placeholders = states.map(() => '?').join(',');
      const unacked = this.db
        .prepare(`SELECT kind, count(*) AS n FROM items WHERE state IN ('pending','in_flight','dead') AND state IN (${placeholders}) GROUP BY kind`)
        .all(...states) as Array<{ kind: string; n: number }>;
      for (const u of unacked) this.bump(`purged.${u.kind}`, u.n);
      const n = this.db.prepare(`DELETE FROM items WHERE state IN (${placeholders})`).run(...states).changes;
      this.log.warn({ deleted: n, all }, 'outbox: purged by operator');
      return n;
    });
  }

  /** Deletes acked and dropped rows older than the retention period and returns free pages to the filesystem. */
  prune(): number {
    const n = this.write('NORMAL', 'prune', () =>
      this.db.prepare("DELETE FROM items WHERE state IN ('acked','dropped') AND done_at <= ?").run(this.clock.now() - this.retentionMs).changes,
    );
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    if (free > 256 && free > pages / 4) this.db.pragma('incremental_vacuum');
    return n;
  }

  // ---------------------------------------------------------------- reads

  /** Epoch ms of the earliest moment something needs doing: a pending item falls due or a lease expires. */
  nextWakeAt(): number | null {
    const due = (this.st.nextDue!.get() as { t: number | null }).t;
    const lease = (this.st.nextLease!.get() as { t: number | null }).t;
    if (due === null) return lease;
    if (lease === null) return due;
    return Math.min(due, lease);
  }

  /** Un-acked items (pending + in_flight + dead), read from the trigger-kept totals: O(1), cheap to poll. */
  depth(): number {
    return this.totals().items;
  }

  inFlightCount(): number {
    return (this.st.inFlight!.get() as { n: number }).n;
  }

  /**
   * The outbox item a wire ack names. Event acks carry the rev; thumbnail acks carry only the event id (the
   * collector keeps one thumbnail per event), which names the in-flight thumbnail of that event, else its newest
   * waiting one. Undefined when nothing matches (already acked, pruned, or never ours).
   */
  refForAck(kind: ItemKind, eventId: string, rev: number): ItemRef | undefined {
    if (kind === 'event') return { kind, eventId, rev };
    const r = this.st.thumbFor!.get(eventId) as { rev: number } | undefined;
    return r ? { kind, eventId, rev: r.rev } : undefined;
  }

  get(ref: ItemRef): OutboxItem | undefined {
    const r = this.st.getRef!.get(ref.kind, ref.eventId, ref.rev) as Row | undefined;
    return r ? toItem(r) : undefined;
  }

  /** Raw body of an item (for inspection and tests); empty once acked or dropped. */
  body(ref: ItemRef): Buffer | undefined {
    const r = this.db
      .prepare('SELECT b.body AS body FROM items i LEFT JOIN bodies b ON b.seq = i.seq WHERE i.kind = ? AND i.event_id = ? AND i.rev = ?')
      .get(ref.kind, ref.eventId, ref.rev) as { body: Buffer | null } | undefined;
    return r === undefined ? undefined : (r.body ?? Buffer.alloc(0));
  }

  list(o: ListOptions = {}): OutboxItem[] {
    const states = o.states ?? ['pending', 'in_flight', 'dead'];
    const params: unknown[] = [...states];
    let sql = `SELECT ${COLUMNS} FROM items WHERE state IN (${states.map(() => '?').join(',')})`;
    if (o.kind) {
      sql += ' AND kind = ?';
      params.push(o.kind);
    }
    sql += ' ORDER BY seq LIMIT ?';
    params.push(o.limit ?? 100);
    return (this.db.prepare(sql).all(...params) as Row[]).map(toItem);
  }

  private stateCounts(kind?: ItemKind): StateCounts {
    const c: StateCounts = { pending: 0, in_flight: 0, acked: 0, dead: 0, dropped: 0 };
    const rows = (
      kind
        ? this.db.prepare('SELECT state, count(*) AS n FROM items WHERE kind = ? GROUP BY state').all(kind)
        : this.db.prepare('SELECT state, count(*) AS n FROM items GROUP BY state').all()
    ) as Array<{ state: ItemState; n: number }>;
    for (const r of rows) c[r.state] = r.n;
    return c;
  }

  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.db.prepare('SELECT name, value FROM counters ORDER BY name').all() as Array<{ name: string; value: number }>) out[r.name] = r.value;
    return out;
  }

  stats(): OutboxStats {
    const now = this.clock.now();
    const total = this.stateCounts();
    const counters = this.counters();
    const oldest = (this.db.prepare("SELECT min(created_at) AS t FROM items WHERE state IN ('pending','in_flight','dead')").get() as { t: number | null }).t;
    const backingOff = (this.db.prepare("SELECT count(*) AS n FROM items WHERE state = 'pending' AND next_attempt_at > ?").get(now) as { n: number }).n;
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const dropped = Object.entries(counters)
      .filter(([k]) => k.startsWith('dropped.'))
      .reduce((n, [, v]) => n + v, 0);
    return {
      path: this.path,
      total,
      byKind: { event: this.stateCounts('event'), thumbnail: this.stateCounts('thumbnail') },
      depth: total.pending + total.in_flight + total.dead,
      backingOff,
      oldestPendingAgeMs: oldest === null ? null : Math.max(0, now - oldest),
      liveBytes: this.totals().bytes,
      budgetBytes: this.budgetBytes,
      fileBytes: pageSize * pages,
      counters,
      dropped,
      diskFull: this.diskFullSince !== null,
      nextDueAt: (this.st.nextDue!.get() as { t: number | null }).t,
    };
  }

  /** Describes one ref for logs. */
  describe(ref: ItemRef): string {
    return describeRef(ref);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
