/**
 * What the outbox stores. An item is one thing the collector must acknowledge: an event record (the protocol Event
 * JSON, one per id+rev), the JPEG thumbnail that belongs to one event rev, a review record (the protocol Review
 * JSON, one per review id+rev; its id sits in the `event_id` column), or a result record (the protocol
 * CommandResult of one command: the command id in `event_id`, rev 0). Items are addressed by (kind, id, rev) — the
 * same triple the collector's end-to-end ack names.
 */

export type ItemKind = 'event' | 'thumbnail' | 'review' | 'result';
export const ITEM_KINDS: readonly ItemKind[] = ['event', 'thumbnail', 'review', 'result'];
/** The kinds of event-path records (a result record is enqueued on its own: Outbox.enqueueResult). */
export type RecordKind = Exclude<ItemKind, 'thumbnail' | 'result'>;
export type EventType = 'new' | 'update' | 'end';

/**
 * pending → in_flight (claimed, lease running) → acked (the collector named it in an ack).
 * in_flight → pending again when the lease expires, the send fails, or the agent restarts.
 * dead: the collector rejected it for good (code kept); visible and retryable from the CLI.
 * dropped: evicted by the disk budget (thumbnails, superseded updates); counted and logged, never silent.
 */
export type ItemState = 'pending' | 'in_flight' | 'acked' | 'dead' | 'dropped';

export const ITEM_STATES: readonly ItemState[] = ['pending', 'in_flight', 'acked', 'dead', 'dropped'];
/** States that still hold a body and count against the disk budget. */
export const LIVE_STATES: readonly ItemState[] = ['pending', 'in_flight', 'dead'];

/**
 * The part of a protocol Event (or Review: `kind: "review"`) the outbox needs; the whole object is stored as JSON.
 */
export interface OutboxEvent {
  id: string;
  rev: number;
  type: EventType;
  [field: string]: unknown;
}

/** The item kind a record is stored as: `review` for a protocol Review (`kind: "review"`), else `event`. */
export function recordKind(record: OutboxEvent): RecordKind {
  return record.kind === 'review' ? 'review' : 'event';
}

export interface ItemRef {
  kind: ItemKind;
  eventId: string;
  rev: number;
}

export interface OutboxItem extends ItemRef {
  seq: number;
  eventType: EventType;
  state: ItemState;
  /**
   * Lower is sent first within a kind (each kind is claimed on its own): new/end 0, update 1 for event and review
   * records; thumbnail new/end 2, thumbnail update 3; result records 0.
   */
  priority: number;
  attempts: number;
  /** Epoch ms when a pending item becomes due. */
  nextAttemptAt: number;
  /** Epoch ms when an in_flight item's lease expires. */
  leaseUntil: number | null;
  createdAt: number;
  /** Epoch ms when the item left the live states (acked or dropped). */
  doneAt: number | null;
  /** Body size in bytes (kept after the body is freed on ack/drop). */
  bytes: number;
  /** Lowercase hex SHA-256 of the body, checked before every send. */
  sha256: string;
  lastErrorCode: string | null;
  lastError: string | null;
}

export interface ClaimedItem extends OutboxItem {
  body: Buffer;
}

export function priorityOf(kind: ItemKind, eventType: EventType): number {
  const base = kind === 'thumbnail' ? 2 : 0;
  return base + (eventType === 'update' ? 1 : 0);
}

export function refKey(r: ItemRef): string {
  return `${r.kind}\u0000${r.eventId}\u0000${r.rev}`;
}

export function describeRef(r: ItemRef): string {
  return `${r.kind} ${r.eventId} rev ${r.rev}`;
}
