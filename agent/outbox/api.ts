import type { Clock } from '../../shared/clock/index.js';
import type { Logger } from '../../shared/log/index.js';
import type { BackoffPolicy } from './backoff.js';
import type { ReserveState } from './disk-state.js';
import type { ItemKind, ItemState, OutboxEvent } from './types.js';

/** The Outbox's options, results and reports (outbox.ts). */

export interface OutboxOptions {
  /** The outbox file, normally `<data dir>/outbox.db`. */
  path: string;
  /** Most bytes of un-acked bodies (+256 B per row) the outbox keeps. Default: `outbox.budget_bytes`'s (config.ts). */
  budgetBytes?: number;
  /** How long acked and dropped rows are kept (bodies are freed at once). Default: `outbox.retention`'s. */
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
  /**
   * Bytes of the disk-full reserve (`outbox.db.reserve` + spare pages, disk-full.ts); 0 turns it off. Unset: 0, on
   * purpose not `outbox.reserve_bytes`'s default: the reserve is the daemon's (it passes the configured value), and
   * the CLI or a test opening the same file must not take one.
   */
  reserveBytes?: number;
  /** Most event records kept in memory while the disk is too full for them (default 10,000). */
  heldMax?: number;
  /**
   * Open for reading only (`outbox list|stats`, doctor): nothing is written, no reserve is taken, and a full disk
   * with no room for the -shm file is read through exclusive locking instead of failing.
   */
  readonly?: boolean;
}

/**
 * `skipped`: not stored because the disk is full (the event went without it, counted in `thumbnails_skipped`);
 * `dropped`: not stored because of the outbox budget (counted in `dropped.thumbnail.<type>`).
 */
export type ThumbnailOutcome = 'none' | 'queued' | 'duplicate' | 'dropped' | 'skipped';

export interface EnqueueOptions {
  /**
   * The same event record as it must read when its thumbnail is not stored (no announcement of a thumbnail that
   * will never come, or the previous one): stored instead of `event` when the thumbnail is skipped or dropped.
   */
  withoutThumbnail?: OutboxEvent;
  /** The event should have carried a thumbnail that could not be written before it got here: count it. */
  thumbnailSkipped?: boolean;
}

export interface EnqueueResult {
  /** `held`: the disk is full even for the record; it waits in memory and is written as soon as there is room. */
  event: 'queued' | 'duplicate' | 'held';
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
  /**
   * Items and event messages that will never reach the collector, all time: evicted by the budget
   * (`dropped.*`), event messages refused over budget (`refused.outbox_full`) or lost from memory while the disk was
   * full (`lost.disk_full`).
   */
  dropped: number;
  /** The disk holding the outbox is full (disk-state.ts: the same answer for the daemon, `status`, CLI, doctor). */
  diskFull: boolean;
  /** Event messages the disk could not take when they came (kept in memory), and those refused over budget. */
  refused: { disk_full: number; outbox_full: number };
  /** Event messages queued without the thumbnail they should have carried (it could not be written). */
  thumbnailsSkipped: number;
  /** Event records waiting in memory for room on the disk (this process only). */
  held: number;
  reserve: ReserveState;
  freeBytes: number | null;
  nextDueAt: number | null;
}

export interface ListOptions {
  states?: ItemState[];
  kind?: ItemKind;
  limit?: number;
}
