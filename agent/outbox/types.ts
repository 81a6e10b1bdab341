/**
 * What the outbox stores. An item is one thing the collector must acknowledge: an event record (the protocol Event
 * JSON, one per id+rev) or the JPEG thumbnail that belongs to one event rev. Items are addressed by
 * (kind, event id, rev) — the same triple the collector's end-to-end ack names.
 */

export type ItemKind = 'event' | 'thumbnail';
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

/** The part of a protocol Event the outbox needs; the whole object is stored as JSON. */
export interface OutboxEvent {
  id: string;
  rev: number;
  type: EventType;
  [field: string]: unknown;
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
  /** Lower is sent first: event new/end 0, event update 1, thumbnail new/end 2, thumbnail update 3. */
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
  const base = kind === 'event' ? 0 : 2;
  return base + (eventType === 'update' ? 1 : 0);
}

export function refKey(r: ItemRef): string {
  return `${r.kind}\u0000${r.eventId}\u0000${r.rev}`;
}

export function describeRef(r: ItemRef): string {
  return `${r.kind} ${r.eventId} rev ${r.rev}`;
}
