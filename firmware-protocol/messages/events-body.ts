import { Type } from '@sinclair/typebox';
import { validator, type SchemaIssue } from '../../shared/schema/index.js';
import { BATCH_MAX_EVENTS } from '../limits.js';
import type { AckKind } from './ack.js';
import { V } from './common.js';
import { validateEvent, validateEventBatch, type Event } from './event.js';
import { isReviewItem, validateReview, type Review } from './review.js';

/**
 * Reading the body of the events topic / endpoint, which is a single Event, a single Review or an EventBatch whose
 * items are either: leniently (the valid events, the valid reviews and the rejected items, so each item is acked on
 * its own) or strictly (events only; any bad item fails the body). Items are told apart by `kind: "review"`.
 */

/**
 * Outer shape of a batch, items unchecked: lets a collector accept the good items of a batch and reject the bad
 * ones.
 */
const EventBatchShell = Type.Object(
  { v: V, events: Type.Array(Type.Unknown(), { minItems: 1, maxItems: BATCH_MAX_EVENTS }) },
  { additionalProperties: true },
);
const validateEventBatchShell = validator(EventBatchShell);

/**
 * One item of an events body that failed validation. `kind` is the ack kind to answer it with (`review` for an item
 * with `kind: "review"`, else `event`); `id`/`rev` are echoed when readable so it can be acked.
 */
export interface RejectedItem {
  /** Position in the body (0 for a single message). */
  index: number;
  kind: Extract<AckKind, 'event' | 'review'>;
  id: string | undefined;
  rev: number | undefined;
  issues: SchemaIssue[];
}
/** @deprecated name from before review items: the same as RejectedItem. */
export type RejectedEvent = RejectedItem;

/** A valid item of an events body with its position in the body (0 for a single message). */
export interface Indexed<T> {
  index: number;
  message: T;
}

/** What `splitEventsBody` returns: the valid events, the valid reviews and the rejected items. */
export interface EventsBodyParts {
  events: Event[];
  reviews: Review[];
  rejected: RejectedItem[];
  /** Every valid item in body order, for a reader that acks in body order. */
  items: Array<(Indexed<Event> & { kind: 'event' }) | (Indexed<Review> & { kind: 'review' })>;
}

/**
 * Splits the body of the events topic / endpoint (a single Event or Review, or an EventBatch) into valid events,
 * valid reviews and rejected items. Throws `invalid_message` only when the body as a whole is unusable (not an
 * object, bad batch shape).
 */
export function splitEventsBody(value: unknown): EventsBodyParts {
  const isBatch = typeof value === 'object' && value !== null && !Array.isArray(value) && 'events' in value;
  const list = isBatch ? validateEventBatchShell.parse(value, 'event batch').events : [value];
  const parts: EventsBodyParts = { events: [], reviews: [], rejected: [], items: [] };
  list.forEach((item, index) => {
    const review = isReviewItem(item);
    const issues = review ? validateReview.issues(item) : validateEvent.issues(item);
    if (issues.length === 0) {
      if (review) {
        parts.reviews.push(item as Review);
        parts.items.push({ index, kind: 'review', message: item as Review });
      } else {
        parts.events.push(item as Event);
        parts.items.push({ index, kind: 'event', message: item as Event });
      }
      return;
    }
    const rec = typeof item === 'object' && item !== null ? (item as Record<string, unknown>) : {};
    parts.rejected.push({
      index,
      kind: review ? 'review' : 'event',
      id: typeof rec.id === 'string' ? rec.id : undefined,
      rev: typeof rec.rev === 'number' && Number.isInteger(rec.rev) ? rec.rev : undefined,
      issues: isBatch ? issues.map((i) => ({ ...i, path: `/events/${index}${i.path === '/' ? '' : i.path}` })) : issues,
    });
  });
  return parts;
}

/** Strict form: a single Event or an EventBatch of events normalized to a list; throws `invalid_message` on any bad
 * item, a review item included (use `splitEventsBody` to read bodies that may carry reviews). */
export function parseEventsBody(value: unknown): Event[] {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && 'events' in value) {
    const events = validateEventBatch.parse(value, 'event batch').events;
    const at = events.findIndex(isReviewItem);
    if (at >= 0) validateEvent.parse(events[at], `event batch: /events/${at}`);
    return events as Event[];
  }
  return [validateEvent.parse(value, 'event')];
}
