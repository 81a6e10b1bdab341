import type { Database as Db, Statement } from 'better-sqlite3';
import { systemClock, type Clock } from '../../shared/clock/index.js';
import { isVigilError, VigilError } from '../errors.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import { EVENT_MAX_BYTES, THUMBNAIL_MAX_BYTES } from '../../firmware-protocol/limits.js';
import { backoffDelayMs, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import {
  type ClaimOptions,
  type EnqueueOptions,
  type EnqueueResult,
  type ListOptions,
  type OutboxOptions,
  type OutboxStats,
  type StateCounts,
  type ThumbnailOutcome,
} from './api.js';
import { checkEvent, COLUMNS, PREFIXED, sha256, toItem, type NewItem, type Row } from './rows.js';
import { OUTBOX_DEFAULTS } from './config.js';
import { PendingCounters } from './counters.js';
import { DiskFullGuard } from './disk-full.js';
import { readDiskState, releaseReserve } from './disk-state.js';
import { isDiskFullError, openOutboxFile } from './open.js';
import { OpenEventLedger } from './open-events.js';
import { ROW_OVERHEAD_BYTES } from './schema.js';
import {
  describeRef,
  ITEM_STATES,
  priorityOf,
  type ClaimedItem,
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

export type { ClaimOptions, EnqueueOptions, EnqueueResult, ListOptions, OutboxOptions, OutboxStats, StateCounts, ThumbnailOutcome } from './api.js';

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
  private readonly st: Record<string, Statement>;
  private readonly readonly: boolean;
  private readonly guard: DiskFullGuard | undefined;
  private readonly pending = new PendingCounters();
  /** Event records the full disk could not take, oldest first (written before anything newer). */
  private readonly held: Array<{ event: OutboxEvent; json: Buffer }> = [];
  private readonly heldMax: number;
  private nextHeldFlush = 0;
  /** Events announced and not ended, kept with every event enqueue (open-events.ts). */
  readonly openEvents: OpenEventLedger;

  static open(options: OutboxOptions): Outbox {
    const reserve = !options.readonly && (options.reserveBytes ?? 0) > 0;
    const opened = openOutboxFile({
      path: options.path,
      create: options.create ?? true,
      quarantine: options.quarantine ?? false,
      integrityCheck: options.integrityCheck ?? true,
      readonly: options.readonly ?? false,
      // No room for the -shm file: the daemon gives back its reserve and tries again.
      ...(reserve ? { onDiskFull: () => releaseReserve(options.path) } : {}),
      now: () => (options.clock ?? systemClock).now(),
    });
    const ob = new Outbox(opened.db, options, opened.quarantinedTo);
    if (opened.exclusive) {
      ob.log.warn(
        { path: options.path },
        'outbox: opened with exclusive locking (no room on the disk for its -shm file); ' +
          '`vigil-agent outbox` commands wait until this process stops',
      );
    }
    return ob;
  }

  private constructor(db: Db, o: OutboxOptions, quarantinedTo: string | undefined) {
    this.db = db;
    this.path = o.path;
    this.budgetBytes = o.budgetBytes ?? OUTBOX_DEFAULTS.budgetBytes;
    this.retentionMs = o.retentionMs ?? OUTBOX_DEFAULTS.retentionMs;
    this.clock = o.clock ?? systemClock;
    this.log = o.logger ?? silentLogger();
    this.backoff = o.backoff ?? DEFAULT_BACKOFF;
    this.random = o.random ?? Math.random;
    this.validateEvent = o.validateEvent;
    this.quarantinedTo = quarantinedTo;
    this.openEvents = new OpenEventLedger(db);
    this.readonly = o.readonly ?? false;
    this.heldMax = Math.max(1, o.heldMax ?? 10_000);
    if (!this.readonly) {
      const reserveBytes = o.reserveBytes ?? 0;
      const { clock, log } = this;
      this.guard = new DiskFullGuard({ db, path: o.path, reserveBytes, clock, log, maxPageCount: o.maxPageCount });
      this.guard.start();
    }
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

  /**
   * One IMMEDIATE transaction that also writes the counter increments still pending (refusals counted while the
   * disk was full). Nothing else: no disk-full handling (write() and flushHeld() do that).
   */
  private tx<T>(fn: () => T): T {
    const applied = this.pending.snapshot();
    const result = this.db
      .transaction(() => {
        const out = fn();
        for (const [name, n] of applied) this.st.bump!.run(name, n);
        return out;
      })
      .immediate();
    this.pending.settle(applied);
    return result;
  }

  /**
   * Runs `fn` in one transaction. On a full disk (SQLITE_FULL, no room for the -shm) the outbox enters its
   * disk-full state (disk-full.ts: the reserves are given back, the WAL folded in) and tries once more; if that
   * fails too, `outbox_disk_full` (507). The state is logged when it starts and when it ends, not per write.
   */
  private write<T>(level: 'FULL' | 'NORMAL', what: string, fn: () => T): T {
    if (this.readonly) {
      throw new VigilError('outbox_readonly', `outbox ${this.path} was opened read-only (${what} needs to write)`);
    }
    this.maintain();
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

  /** Before each write: leave the disk-full state when space is back, and write what waits in memory. */
  private maintain(): void {
    if (!this.guard) return;
    this.guard.watch(() => this.flushHeld());
    if (this.held.length > 0 && this.clock.now() >= this.nextHeldFlush) {
      this.nextHeldFlush = this.clock.now() + 1_000;
      this.flushHeld();
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
   *
   * On a full disk the record always comes first: the thumbnail is skipped (the record stored is
   * `options.withoutThumbnail`, which does not announce it), and a record the disk cannot take either waits in
   * memory (`held`) and is written, in order, as soon as there is room. Every refusal is counted exactly.
   */
  enqueue(event: OutboxEvent, thumbnail?: Uint8Array, options: EnqueueOptions = {}): EnqueueResult {
    checkEvent(event);
    this.validateEvent?.(event);
    const json = this.recordJson(event);
    if (thumbnail && thumbnail.length > THUMBNAIL_MAX_BYTES) {
      throw new VigilError('thumbnail_too_large', `outbox: thumbnail of ${event.id} rev ${event.rev} is ${thumbnail.length} bytes; the protocol allows ${THUMBNAIL_MAX_BYTES}`);
    }
    const announced = event.thumbnail as { sha256?: unknown; size?: unknown } | undefined;
    if (thumbnail && announced && typeof announced === 'object' && (announced.sha256 !== sha256(thumbnail) || announced.size !== thumbnail.length)) {
      throw new VigilError('thumbnail_mismatch', `outbox: the thumbnail given with ${event.id} rev ${event.rev} is not the one its /thumbnail field announces (sha256/size differ)`);
    }
    const bare = this.bareRecord(event, thumbnail, options.withoutThumbnail);
    if (this.readonly) throw new VigilError('outbox_readonly', `outbox ${this.path} was opened read-only`);
    // `thumbnails_skipped` is counted with the record that goes without (same transaction), never for a refusal.
    const skippedBefore = options.thumbnailSkipped ? 1 : 0;
    const attempt = (stored: OutboxEvent, items: NewItem[], skipped: boolean): EnqueueResult => {
      const n = skippedBefore + (skipped ? 1 : 0);
      this.pending.add('thumbnails_skipped', n);
      try {
        const r = this.write('FULL', 'enqueue', () => this.enqueueTx(stored, items, bare));
        return skipped ? { ...r, thumbnail: 'skipped' } : r;
      } catch (err) {
        this.pending.add('thumbnails_skipped', -n);
        if (isVigilError(err, 'outbox_full')) this.countRefusal('refused.outbox_full');
        throw err;
      }
    };
    const isDiskFull = (err: unknown): boolean => isVigilError(err, 'outbox_disk_full');
    this.maintain();
    // Something already waits in memory: this goes behind it (an end never overtakes its new). On a full disk a
    // record goes to memory too when the file's free pages are down to what claims and acks need.
    if (this.held.length > 0 || !(this.guard?.roomForRecords() ?? true)) {
      return this.hold(bare.event, bare.json, thumbnail ? 'skipped' : 'none', skippedBefore);
    }
    const record: NewItem = { kind: 'event', body: bare.json };
    if (thumbnail && !(this.guard?.full ?? false)) {
      const body = Buffer.from(thumbnail.buffer, thumbnail.byteOffset, thumbnail.byteLength);
      const thumb: NewItem = { kind: 'thumbnail', body };
      try {
        return attempt(event, [{ kind: 'event', body: json }, thumb], false);
      } catch (err) {
        if (!isDiskFull(err)) throw err;
      }
    }
    // No thumbnail, or the disk is full (the state is entered): the record alone, else memory.
    if (!(this.guard?.roomForRecords() ?? true)) {
      return this.hold(bare.event, bare.json, thumbnail ? 'skipped' : 'none', skippedBefore);
    }
    try {
      return attempt(bare.event, [record], thumbnail !== undefined);
    } catch (err) {
      if (!isDiskFull(err)) throw err;
    }
    return this.hold(bare.event, bare.json, thumbnail ? 'skipped' : 'none', skippedBefore);
  }

  private recordJson(event: OutboxEvent): Buffer {
    const json = Buffer.from(JSON.stringify(event), 'utf8');
    if (json.length > EVENT_MAX_BYTES) {
      const what = `outbox: event ${event.id} rev ${event.rev} is ${json.length} bytes as JSON`;
      throw new VigilError('event_too_large', `${what}; the protocol allows ${EVENT_MAX_BYTES}`);
    }
    return json;
  }

  /** The record to store when the thumbnail is not: the caller's `withoutThumbnail`, else the event as given. */
  private bareRecord(
    event: OutboxEvent,
    thumbnail: Uint8Array | undefined,
    without: OutboxEvent | undefined,
  ): { event: OutboxEvent; json: Buffer } {
    if (!thumbnail || !without) return { event, json: this.recordJson(event) };
    if (without.id !== event.id || without.rev !== event.rev || without.type !== event.type) {
      const what = `outbox: withoutThumbnail of ${event.id} rev ${event.rev}`;
      throw new VigilError('invalid_event', `${what} must be the same event id, rev and type`);
    }
    this.validateEvent?.(without);
    return { event: without, json: this.recordJson(without) };
  }

  /** Counts a refusal now (in memory) and writes it with the next transaction that commits. */
  private countRefusal(name: string): void {
    this.pending.add(name);
  }

  /**
   * The disk cannot take the record: keep it in memory (bounded) and count the refusal (`refused.disk_full`: the
   * disk refused it when it came; it is still written once there is room unless the agent stops first).
   */
  private hold(event: OutboxEvent, json: Buffer, thumbnail: ThumbnailOutcome, skippedBefore: number): EnqueueResult {
    this.countRefusal('refused.disk_full');
    if (this.held.length >= this.heldMax) {
      this.countRefusal('lost.disk_full');
      const held = this.held.length;
      const what = { event_id: event.id, rev: event.rev, type: event.type, held };
      this.log.error(what, 'outbox: disk full and the in-memory queue is full; event message lost');
      const why = `the disk holding ${this.path} is full and ${held} event messages already wait in memory`;
      throw new VigilError('outbox_disk_full', `${why}; ${event.id} rev ${event.rev} was refused`, {
        details: { path: this.path, held: this.held.length, event_id: event.id, rev: event.rev },
      });
    }
    if (this.held.length === 0) {
      const what = { event_id: event.id, rev: event.rev };
      this.log.warn(what, 'outbox: the full disk cannot take even event records; they wait in memory for room');
    }
    this.held.push({ event, json });
    this.pending.add('thumbnails_skipped', skippedBefore + (thumbnail === 'skipped' ? 1 : 0));
    return { event: 'held', thumbnail, evicted: 0 };
  }

  /** Writes what waits in memory, oldest first, as far as the disk allows. True when nothing waits any more. */
  private flushHeld(): boolean {
    const before = this.held.length;
    this.setSync('FULL');
    while (this.held.length > 0 && (this.guard?.roomForRecords() ?? true)) {
      const batch = this.held.slice(0, this.guard?.constrained ? 1 : 64);
      try {
        this.tx(() => {
          for (const h of batch) this.enqueueTx(h.event, [{ kind: 'event', body: h.json }]);
        });
        this.held.splice(0, batch.length);
        continue;
      } catch (err) {
        if (isDiskFullError(err)) break;
      }
      // Something in the batch is refused for good (over budget, conflict): one by one, then.
      const h = this.held[0]!;
      try {
        this.tx(() => this.enqueueTx(h.event, [{ kind: 'event', body: h.json }]));
      } catch (err) {
        if (isDiskFullError(err)) break;
        const overBudget = isVigilError(err, 'outbox_full');
        this.countRefusal(overBudget ? 'refused.outbox_full' : 'lost.disk_full');
        const what = { event_id: h.event.id, rev: h.event.rev, err: (err as Error).message };
        this.log.error(what, 'outbox: an event record kept in memory was refused when written; lost');
      }
      this.held.shift();
    }
    if (before > 0 && this.held.length < before) {
      const counts = { written: before - this.held.length, still_held: this.held.length };
      this.log.info(counts, 'outbox: event records kept in memory written to disk');
    }
    return this.held.length === 0;
  }

  /** `bare`: the record to store instead when the budget drops the incoming thumbnail (no announcement of it). */
  private enqueueTx(event: OutboxEvent, items: NewItem[], bare?: { event: OutboxEvent; json: Buffer }): EnqueueResult {
    const now = this.clock.now();
    let stored = event;
    const result: EnqueueResult = { event: 'queued', thumbnail: items.length > 1 ? 'queued' : 'none', evicted: 0 };
    const fresh: Array<NewItem & { sha: string }> = [];
    for (const it of items) {
      const sha = sha256(it.body);
      const existing = this.st.find!.get(it.kind, event.id, event.rev) as { sha256: string; state: ItemState } | undefined;
      if (existing) {
        if (existing.sha256 !== sha) {
          throw new VigilError('outbox_conflict', `outbox already holds ${it.kind} ${event.id} rev ${event.rev} with different content; a changed event needs a new rev`, {
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
          const record = fresh.find((f) => f.kind === 'event');
          if (record && bare && bare.event !== event) {
            Object.assign(record, { body: bare.json, sha: sha256(bare.json) });
            stored = bare.event;
            need = charge(fresh);
          }
        }
        if (need > 0 && !this.fits(need)) {
          const live = this.totals();
          throw new VigilError(
            'outbox_full',
            `outbox ${this.path} is full: ${live.bytes} of ${this.budgetBytes} budget bytes hold ${live.items} un-acked item(s) that cannot be evicted; event ${event.id} rev ${event.rev} was refused`,
            { details: { path: this.path, live_bytes: live.bytes, budget_bytes: this.budgetBytes, event_id: event.id, rev: event.rev } },
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
    if (result.event === 'queued') this.openEvents.record(stored, now);
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
    // On a full disk the free pages are the outbox's own room: only what is beyond the spare goes back.
    if (this.guard?.full) {
      this.guard.vacuumBeyondSpare();
      return n;
    }
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
    return this.totals().items + this.held.length;
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

  /** Every counter: what is stored plus increments not written yet (counted while the disk was full). */
  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.db.prepare('SELECT name, value FROM counters ORDER BY name').all() as Array<{ name: string; value: number }>) out[r.name] = r.value;
    return this.pending.merge(out);
  }

  stats(): OutboxStats {
    const now = this.clock.now();
    const total = this.stateCounts();
    const counters = this.counters();
    const oldest = (this.db.prepare("SELECT min(created_at) AS t FROM items WHERE state IN ('pending','in_flight','dead')").get() as { t: number | null }).t;
    const backingOff = (this.db.prepare("SELECT count(*) AS n FROM items WHERE state = 'pending' AND next_attempt_at > ?").get(now) as { n: number }).n;
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const dropped =
      Object.entries(counters)
        .filter(([k]) => k.startsWith('dropped.'))
        .reduce((n, [, v]) => n + v, 0) +
      (counters['refused.outbox_full'] ?? 0) +
      (counters['lost.disk_full'] ?? 0);
    const disk = readDiskState(this.path);
    // Records held in memory are pending too (waiting to be sent): `--exit-when-idle` and depth count them.
    total.pending += this.held.length;
    const events = this.stateCounts('event');
    events.pending += this.held.length;
    return {
      path: this.path,
      total,
      byKind: { event: events, thumbnail: this.stateCounts('thumbnail') },
      depth: total.pending + total.in_flight + total.dead,
      backingOff,
      oldestPendingAgeMs: oldest === null ? null : Math.max(0, now - oldest),
      liveBytes: this.totals().bytes,
      budgetBytes: this.budgetBytes,
      fileBytes: pageSize * pages,
      counters,
      dropped,
      diskFull: disk.full,
      refused: { disk_full: counters['refused.disk_full'] ?? 0, outbox_full: counters['refused.outbox_full'] ?? 0 },
      thumbnailsSkipped: counters['thumbnails_skipped'] ?? 0,
      held: this.held.length,
      reserve: disk.reserve,
      freeBytes: disk.freeBytes,
      nextDueAt: (this.st.nextDue!.get() as { t: number | null }).t,
    };
  }

  /** Describes one ref for logs. */
  describe(ref: ItemRef): string {
    return describeRef(ref);
  }

  /**
   * Closes the file. What still waits in memory gets a last chance to be written; if the disk is still full it is
   * lost, counted (`lost.disk_full`, written if anything can be) and logged. The open-event ledger ends such
   * events at the next start when their `new` got to disk.
   */
  close(): void {
    if (!this.db.open) return;
    if (!this.readonly && this.held.length > 0 && !this.flushHeld()) {
      this.countRefusal('lost.disk_full');
      if (this.held.length > 1) this.pending.add('lost.disk_full', this.held.length - 1);
      const events = [...new Set(this.held.map((h) => h.event.id))].slice(0, 20);
      const lost = this.held.length;
      this.log.error({ lost, events }, 'outbox: stopping on a full disk; event records kept in memory are lost');
      this.held.length = 0;
    }
    if (!this.readonly && this.pending.size > 0) {
      try {
        this.tx(() => undefined);
      } catch (err) {
        const counters = Object.fromEntries(this.pending.snapshot());
        const why = (err as Error).message;
        this.log.error({ counters, err: why }, 'outbox: counters could not be written before stopping (disk full)');
      }
    }
    this.db.close();
  }
}
