import type { Database as Db } from 'better-sqlite3';
import { systemClock } from '../../shared/clock/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { COMMAND_RESULT_MAX_BYTES, EVENT_MAX_BYTES, THUMBNAIL_MAX_BYTES } from '../../firmware-protocol/limits.js';
import { isVigilError, VigilError } from '../errors.js';
import type {
  ClaimOptions,
  EnqueueOptions,
  EnqueueResult,
  ListOptions,
  OutboxOptions,
  OutboxStats,
  StateCounts,
} from './api.js';
import { DEFAULT_BACKOFF } from './backoff.js';
import { DiskBudget, type BareRecord } from './budget.js';
import { CommandsSeen, type SeenCommand } from './commands-seen.js';
import { OUTBOX_DEFAULTS } from './config.js';
import { DiskFullGuard } from './disk-full.js';
import { releaseReserve } from './disk-state.js';
import { OutboxFile } from './file.js';
import { HeldRecords } from './held.js';
import { ItemLifecycle } from './lifecycle.js';
import { openOutboxFile } from './open.js';
import { OpenEventLedger } from './open-events.js';
import { OutboxReads } from './reads.js';
import { checkEvent, sha256, type NewItem } from './rows.js';
import {
  describeRef,
  recordKind,
  type ClaimedItem,
  type ItemKind,
  type ItemRef,
  type OutboxEvent,
  type OutboxItem,
} from './types.js';

/** Most event records kept in memory while the disk is too full for them, unless `heldMax` says otherwise. */
const HELD_MAX = 10_000;

/**
 * The agent's durable queue between "an event exists" and "the collector has acknowledged it" (README.md beside
 * this file). One SQLite file holds event records and thumbnails; the Outbox is its public face and joins the parts
 * that each do one job:
 * - file.ts: the open file and its write discipline (one transaction per state change, FULL for enqueues, NORMAL
 *   for bookkeeping, the disk-full state entered when SQLite says so);
 * - budget.ts: an enqueue's items written within the disk budget (eviction), with the open-event ledger;
 * - held.ts: event records kept in memory while the disk is too full for them, written when there is room;
 * - lifecycle.ts: claims, acks, retries, dead items, leases, the operator's retry, purge and prune;
 * - reads.ts: what is due, depth, items, listings, counters and stats.
 *
 * Thumbnails are stored as blobs in the same file: one transaction covers an event and its thumbnail (no orphan
 * files, no rename dance), SQLite reads ~20 KB blobs faster than separate files, and the disk budget is one
 * number. Bodies sit in their own table, so a claim or ack rewrites a small row, not a 20 KB record. SQLite does
 * not checksum pages, so each body carries a SHA-256 that is checked before every send.
 */
export class Outbox {
  readonly path: string;
  readonly budgetBytes: number;
  readonly retentionMs: number;
  /** Set when the file was renamed aside on open (`quarantine`). */
  readonly quarantinedTo: string | undefined;
  /** Events announced and not ended, kept with every event enqueue (open-events.ts). */
  readonly openEvents: OpenEventLedger;
  private readonly file: OutboxFile;
  private readonly validateEvent: ((e: OutboxEvent) => void) | undefined;
  private readonly budget: DiskBudget;
  private readonly held: HeldRecords;
  private readonly items: ItemLifecycle;
  private readonly reads: OutboxReads;
  /** Ids of the commands accepted (commands-seen.ts). */
  private readonly seen: CommandsSeen;

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
      ob.file.log.warn(
        { path: options.path },
        'outbox: opened with exclusive locking (no room on the disk for its -shm file); ' +
          '`vigil-agent outbox` commands wait until this process stops',
      );
    }
    return ob;
  }

  private constructor(db: Db, o: OutboxOptions, quarantinedTo: string | undefined) {
    this.path = o.path;
    this.budgetBytes = o.budgetBytes ?? OUTBOX_DEFAULTS.budgetBytes;
    this.retentionMs = o.retentionMs ?? OUTBOX_DEFAULTS.retentionMs;
    this.quarantinedTo = quarantinedTo;
    this.validateEvent = o.validateEvent;
    const clock = o.clock ?? systemClock;
    const log = o.logger ?? silentLogger();
    const readonly = o.readonly ?? false;
    this.openEvents = new OpenEventLedger(db);
    let guard: DiskFullGuard | undefined;
    if (!readonly) {
      // Reserve unset: 0, not the config's default (api.ts): only the daemon, which passes it, takes a reserve.
      const reserveBytes = o.reserveBytes ?? 0;
      guard = new DiskFullGuard({ db, path: o.path, reserveBytes, clock, log, maxPageCount: o.maxPageCount });
      guard.start();
    }
    if (quarantinedTo) {
      const what = { path: o.path, moved_to: quarantinedTo };
      log.error(what, 'outbox file was corrupt or foreign; moved aside, started an empty outbox');
    }
    this.file = new OutboxFile({ db, path: o.path, clock, log, readonly, guard });
    this.budget = new DiskBudget(this.file, this.budgetBytes, this.openEvents);
    const insert = (h: BareRecord): void =>
      void this.budget.insert(h.event, [{ kind: recordKind(h.event), body: h.json }]);
    this.held = new HeldRecords(this.file, insert, Math.max(1, o.heldMax ?? HELD_MAX));
    this.items = new ItemLifecycle(this.file, o.backoff ?? DEFAULT_BACKOFF, o.random ?? Math.random, this.retentionMs);
    this.reads = new OutboxReads(this.file, this.budgetBytes, () => this.held.length);
    this.seen = new CommandsSeen(db);
    this.file.beforeWrite = () => this.maintain();
  }

  /** Before each write: leave the disk-full state when space is back, and write what waits in memory. */
  private maintain(): void {
    const guard = this.file.guard;
    if (!guard) return;
    guard.watch(() => this.held.flush());
    this.held.flushWhenDue();
  }

  // ---------------------------------------------------------------- enqueue

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
      const what = `outbox: thumbnail of ${event.id} rev ${event.rev} is ${thumbnail.length} bytes`;
      throw new VigilError('thumbnail_too_large', `${what}; the protocol allows ${THUMBNAIL_MAX_BYTES}`);
    }
    const announced = event.thumbnail as { sha256?: unknown; size?: unknown } | undefined;
    const differs = (a: { sha256?: unknown; size?: unknown }, jpeg: Uint8Array): boolean =>
      a.sha256 !== sha256(jpeg) || a.size !== jpeg.length;
    if (thumbnail && announced && typeof announced === 'object' && differs(announced, thumbnail)) {
      const what = `outbox: the thumbnail given with ${event.id} rev ${event.rev} is not the one`;
      throw new VigilError('thumbnail_mismatch', `${what} its /thumbnail field announces (sha256/size differ)`);
    }
    const bare = this.bareRecord(event, thumbnail, options.withoutThumbnail);
    if (this.file.readonly) throw new VigilError('outbox_readonly', `outbox ${this.path} was opened read-only`);
    // `thumbnails_skipped` is counted with the record that goes without (same transaction), never for a refusal.
    const skippedBefore = options.thumbnailSkipped ? 1 : 0;
    const attempt = (stored: OutboxEvent, items: NewItem[], skipped: boolean): EnqueueResult => {
      const n = skippedBefore + (skipped ? 1 : 0);
      this.file.pending.add('thumbnails_skipped', n);
      try {
        const r = this.file.write('FULL', 'enqueue', () => this.budget.insert(stored, items, bare));
        return skipped ? { ...r, thumbnail: 'skipped' } : r;
      } catch (err) {
        this.file.pending.add('thumbnails_skipped', -n);
        if (isVigilError(err, 'outbox_full')) this.file.pending.add('refused.outbox_full');
        throw err;
      }
    };
    const isDiskFull = (err: unknown): boolean => isVigilError(err, 'outbox_disk_full');
    const hold = (): EnqueueResult => this.held.hold(bare, thumbnail ? 'skipped' : 'none', skippedBefore);
    const guard = this.file.guard;
    this.maintain();
    // Something already waits in memory: this goes behind it (an end never overtakes its new). On a full disk a
    // record goes to memory too when the file's free pages are down to what claims and acks need.
    if (this.held.length > 0 || !(guard?.roomForRecords() ?? true)) return hold();
    const record: NewItem = { kind: recordKind(bare.event), body: bare.json };
    if (thumbnail && !(guard?.full ?? false)) {
      const body = Buffer.from(thumbnail.buffer, thumbnail.byteOffset, thumbnail.byteLength);
      const thumb: NewItem = { kind: 'thumbnail', body };
      try {
        return attempt(event, [{ kind: recordKind(event), body: json }, thumb], false);
      } catch (err) {
        if (!isDiskFull(err)) throw err;
      }
    }
    // No thumbnail, or the disk is full (the state is entered): the record alone, else memory.
    if (!(guard?.roomForRecords() ?? true)) return hold();
    try {
      return attempt(bare.event, [record], thumbnail !== undefined);
    } catch (err) {
      if (!isDiskFull(err)) throw err;
    }
    return hold();
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
  ): BareRecord {
    if (!thumbnail || !without) return { event, json: this.recordJson(event) };
    if (without.id !== event.id || without.rev !== event.rev || without.type !== event.type) {
      const what = `outbox: withoutThumbnail of ${event.id} rev ${event.rev}`;
      throw new VigilError('invalid_event', `${what} must be the same event id, rev and type`);
    }
    this.validateEvent?.(without);
    return { event: without, json: this.recordJson(without) };
  }

  // ---------------------------------------------------------------- commands (commands-seen.ts)

  /** True when the command with this id was accepted before (ran or refused), by this run or an earlier one. */
  commandSeen(id: string): boolean {
    return this.seen.has(id);
  }

  /**
   * Remembers an accepted command durably (synchronous=FULL, before its handler runs). False when the id was
   * already remembered: the caller must not run it.
   */
  rememberCommand(c: SeenCommand): boolean {
    if (this.file.readonly) throw new VigilError('outbox_readonly', `outbox ${this.path} was opened read-only`);
    return this.file.write('FULL', 'remember command', () => this.seen.remember(c, this.file.clock.now()));
  }

  /**
   * Queues the result record of a command (a protocol CommandResult as JSON: kind `result`, id = the command id,
   * rev 0), durably. `remember`: the command's id is remembered in the same transaction (a refusal, which runs
   * nothing). A command answers once: when a result of this id is stored already (in any state), nothing changes
   * and the answer is `duplicate`. Results are never evicted by the budget; over it, `outbox_full`.
   */
  enqueueResult(commandId: string, body: Buffer, remember?: SeenCommand): 'queued' | 'duplicate' {
    if (this.file.readonly) throw new VigilError('outbox_readonly', `outbox ${this.path} was opened read-only`);
    if (body.length > COMMAND_RESULT_MAX_BYTES) {
      const what = `outbox: the result of command ${commandId} is ${body.length} bytes`;
      throw new VigilError('result_too_large', `${what}; the protocol allows ${COMMAND_RESULT_MAX_BYTES}`);
    }
    this.maintain();
    return this.file.write('FULL', 'enqueue result', () => {
      if (remember) this.seen.remember(remember, this.file.clock.now());
      if (this.reads.get({ kind: 'result', eventId: commandId, rev: 0 })) return 'duplicate';
      const record: OutboxEvent = { id: commandId, rev: 0, type: 'new' };
      return this.budget.insert(record, [{ kind: 'result', body }]).event === 'queued' ? 'queued' : 'duplicate';
    });
  }

  // ---------------------------------------------------------------- after the enqueue (lifecycle.ts)

  /**
   * Takes up to `limit` due items of one kind, best priority first, and leases them: they stay in_flight until an
   * ack, a failure report, or the lease expires. A body whose checksum no longer matches is marked dead
   * (`checksum_mismatch`) instead of being sent.
   */
  claim(o: ClaimOptions): ClaimedItem[] {
    return this.items.claim(o);
  }

  /** Marks items acknowledged by the collector and frees their bodies. Returns how many changed state. */
  ack(refs: readonly ItemRef[]): number {
    return this.items.ack(refs);
  }

  /** Puts in-flight items back to pending: due after `delayMs`, or after the backoff for their attempt count. */
  retryLater(refs: readonly ItemRef[], reason: { code: string; message: string; delayMs?: number }): number {
    return this.items.retryLater(refs, reason);
  }

  /**
   * Lets items go without an error: the collector cannot take them and never will, and that is expected (review
   * records for a collector from before review items). They become `dropped` with `reason.code` and count in
   * `counter` (not under `dropped.*`: they are not lost events), without the error log a dead item gets.
   */
  discard(refs: readonly ItemRef[], reason: { code: string; message: string }, counter: string): number {
    return this.items.discard(refs, reason, counter);
  }

  /** Marks items rejected for good. They keep their body, show in `outbox list`, and `outbox retry` revives them. */
  markDead(refs: readonly ItemRef[], reason: { code: string; message: string }): number {
    return this.items.markDead(refs, reason);
  }

  /** In-flight items whose ack did not come before their lease ran out go back to pending (with backoff). */
  releaseExpiredLeases(): number {
    return this.items.releaseExpiredLeases();
  }

  /**
   * After a restart nothing can still be in flight from this process: every in_flight item becomes due at once.
   * Only the daemon calls this, never the CLI (which may run beside a live daemon).
   */
  recoverInFlight(): number {
    return this.items.recoverInFlight();
  }

  /** Makes dead and backing-off items due now. Returns how many. */
  retryNow(): number {
    return this.items.retryNow();
  }

  /**
   * Makes every backing-off pending item due now (not dead ones). The uplink calls it when the way to the collector
   * comes back (reconnect, first success after failures): the backoff was about the outage, not the items.
   */
  expedite(): number {
    return this.items.expedite();
  }

  /** Counts of what `purge` would delete. `all` includes un-acked items (pending, in_flight). */
  purgePreview(all: boolean): StateCounts {
    const counts = this.reads.stateCounts();
    return all ? counts : { pending: 0, in_flight: 0, acked: counts.acked, dead: counts.dead, dropped: counts.dropped };
  }

  /**
   * Deletes acked, dropped and dead rows; with `all`, also every un-acked item (the only way the outbox ever loses
   * an event, and only on an operator's explicit request). Deleted un-acked items are counted as `purged.*`.
   */
  purge(all: boolean): number {
    return this.items.purge(all);
  }

  /** Deletes acked and dropped rows older than the retention period and returns free pages to the filesystem. */
  prune(): number {
    return this.items.prune();
  }

  // ---------------------------------------------------------------- reads (reads.ts)

  /** Epoch ms of the earliest moment something needs doing: a pending item falls due or a lease expires. */
  nextWakeAt(): number | null {
    return this.reads.nextWakeAt();
  }

  /** Un-acked items (pending + in_flight + dead), read from the trigger-kept totals: O(1), cheap to poll. */
  depth(): number {
    return this.reads.depth();
  }

  /** Items in flight, of one kind or all. */
  inFlightCount(kind?: ItemKind): number {
    return this.reads.inFlightCount(kind);
  }

  /**
   * The outbox item a wire ack names. Event and review acks carry the rev; thumbnail acks carry only the event id
   * (the collector keeps one thumbnail per event), which names the in-flight thumbnail of that event, else its newest
   * waiting one. Undefined when nothing matches (already acked, pruned, or never ours).
   */
  refForAck(kind: ItemKind, eventId: string, rev: number): ItemRef | undefined {
    return this.reads.refForAck(kind, eventId, rev);
  }

  get(ref: ItemRef): OutboxItem | undefined {
    return this.reads.get(ref);
  }

  /** Raw body of an item (for inspection and tests); empty once acked or dropped. */
  body(ref: ItemRef): Buffer | undefined {
    return this.reads.body(ref);
  }

  list(o: ListOptions = {}): OutboxItem[] {
    return this.reads.list(o);
  }

  /** Every counter: what is stored plus increments not written yet (counted while the disk was full). */
  counters(): Record<string, number> {
    return this.reads.counters();
  }

  stats(): OutboxStats {
    return this.reads.stats();
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
    const { db, pending } = this.file;
    if (!db.open) return;
    if (this.file.readonly) {
      db.close();
      return;
    }
    this.held.flushOrLose();
    if (pending.size > 0) {
      try {
        this.file.tx(() => undefined);
      } catch (err) {
        const counters = Object.fromEntries(pending.snapshot());
        const why = (err as Error).message;
        const line = 'outbox: counters could not be written before stopping (disk full)';
        this.file.log.error({ counters, err: why }, line);
      }
    }
    db.close();
  }
}
