import { isVigilError, VigilError } from '../errors.js';
import type { EnqueueResult, ThumbnailOutcome } from './api.js';
import type { BareRecord } from './budget.js';
import type { OutboxFile } from './file.js';
import { isDiskFullError } from './open.js';

/** How often, at most, the outbox tries to write what waits in memory (besides when the disk-full state ends). */
const FLUSH_EVERY_MS = 1_000;

/**
 * Event records the full disk could not take, kept in memory in order (at most `max`) and written, oldest first,
 * as soon as there is room — each through the same insert as any enqueue (`insert`: budget, conflict check and
 * the open-event ledger, in one transaction). Every refusal is counted: `refused.disk_full` when a record comes
 * and is held, `lost.disk_full` when the memory queue is full or the agent stops while the disk still is.
 */
export class HeldRecords {
  private readonly held: BareRecord[] = [];
  private nextFlush = 0;

  constructor(
    private readonly file: OutboxFile,
    /** Writes one record (inside the caller's transaction). */
    private readonly insert: (record: BareRecord) => void,
    private readonly max: number,
  ) {}

  get length(): number {
    return this.held.length;
  }

  /**
   * The disk cannot take the record: keep it in memory (bounded) and count the refusal (`refused.disk_full`: the
   * disk refused it when it came; it is still written once there is room unless the agent stops first).
   */
  hold(record: BareRecord, thumbnail: ThumbnailOutcome, skippedBefore: number): EnqueueResult {
    const { event } = record;
    this.file.pending.add('refused.disk_full');
    if (this.held.length >= this.max) {
      this.file.pending.add('lost.disk_full');
      const held = this.held.length;
      const what = { event_id: event.id, rev: event.rev, type: event.type, held };
      this.file.log.error(what, 'outbox: disk full and the in-memory queue is full; event message lost');
      const why = `the disk holding ${this.file.path} is full and ${held} event messages already wait in memory`;
      throw new VigilError('outbox_disk_full', `${why}; ${event.id} rev ${event.rev} was refused`, {
        details: { path: this.file.path, held, event_id: event.id, rev: event.rev },
      });
    }
    if (this.held.length === 0) {
      const what = { event_id: event.id, rev: event.rev };
      this.file.log.warn(what, 'outbox: the full disk cannot take even event records; they wait in memory for room');
    }
    this.held.push(record);
    this.file.pending.add('thumbnails_skipped', skippedBefore + (thumbnail === 'skipped' ? 1 : 0));
    return { event: 'held', thumbnail, evicted: 0 };
  }

  /** Before each write: what waits in memory is written at most every second. */
  flushWhenDue(): void {
    if (this.held.length === 0 || this.file.clock.now() < this.nextFlush) return;
    this.nextFlush = this.file.clock.now() + FLUSH_EVERY_MS;
    this.flush();
  }

  /** Writes what waits in memory, oldest first, as far as the disk allows. True when nothing waits any more. */
  flush(): boolean {
    const before = this.held.length;
    const guard = this.file.guard;
    this.file.setSync('FULL');
    while (this.held.length > 0 && (guard?.roomForRecords() ?? true)) {
      const batch = this.held.slice(0, guard?.constrained ? 1 : 64);
      try {
        this.file.tx(() => {
          for (const h of batch) this.insert(h);
        });
        this.held.splice(0, batch.length);
        continue;
      } catch (err) {
        if (isDiskFullError(err)) break;
      }
      // Something in the batch is refused for good (over budget, conflict): one by one, then.
      const h = this.held[0]!;
      try {
        this.file.tx(() => this.insert(h));
      } catch (err) {
        if (isDiskFullError(err)) break;
        const overBudget = isVigilError(err, 'outbox_full');
        this.file.pending.add(overBudget ? 'refused.outbox_full' : 'lost.disk_full');
        const what = { event_id: h.event.id, rev: h.event.rev, err: (err as Error).message };
        this.file.log.error(what, 'outbox: an event record kept in memory was refused when written; lost');
      }
      this.held.shift();
    }
    if (before > 0 && this.held.length < before) {
      const counts = { written: before - this.held.length, still_held: this.held.length };
      this.file.log.info(counts, 'outbox: event records kept in memory written to disk');
    }
    return this.held.length === 0;
  }

  /**
   * At close: a last chance to write what waits; if the disk is still full it is lost, counted (`lost.disk_full`,
   * written if anything can be) and logged. The open-event ledger ends such events at the next start when their
   * `new` got to disk.
   */
  flushOrLose(): void {
    if (this.held.length === 0 || this.flush()) return;
    const lost = this.held.length;
    this.file.pending.add('lost.disk_full', lost);
    const events = [...new Set(this.held.map((h) => h.event.id))].slice(0, 20);
    this.file.log.error({ lost, events }, 'outbox: stopping on a full disk; event records kept in memory are lost');
    this.held.length = 0;
  }
}
