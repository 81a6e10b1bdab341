import { createHash } from 'node:crypto';
import { VigilError } from '../errors.js';
import type { EventType, ItemKind, ItemState, OutboxEvent, OutboxItem } from './types.js';

/** The `items` row as SQLite returns it, its mapping to OutboxItem, and the checks an event passes first. */

export interface Row {
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

export const COLUMN_NAMES = [
  'seq',
  'kind',
  'event_id',
  'rev',
  'event_type',
  'priority',
  'state',
  'attempts',
  'next_attempt_at',
  'lease_until',
  'created_at',
  'done_at',
  'bytes',
  'sha256',
  'last_error_code',
  'last_error',
];
export const COLUMNS = COLUMN_NAMES.join(', ');
/** The item columns qualified by a table alias (for joins with bodies). */
export const PREFIXED = (alias: string): string => COLUMN_NAMES.map((c) => `${alias}.${c}`).join(', ');

export function toItem(r: Row): OutboxItem {
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

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

const EVENT_TYPES: readonly EventType[] = ['new', 'update', 'end'];

export function checkEvent(event: OutboxEvent): void {
  if (typeof event !== 'object' || event === null)
    throw new VigilError('invalid_event', 'outbox: event must be an object');
  if (typeof event.id !== 'string' || event.id.length === 0)
    throw new VigilError('invalid_event', 'outbox: event /id must be a non-empty string');
  if (!Number.isInteger(event.rev) || event.rev < 0)
    throw new VigilError('invalid_event', `outbox: event ${event.id} /rev must be an integer >= 0`);
  if (!EVENT_TYPES.includes(event.type))
    throw new VigilError('invalid_event', `outbox: event ${event.id} /type must be new, update or end`);
}

export interface NewItem {
  kind: ItemKind;
  body: Buffer;
}
