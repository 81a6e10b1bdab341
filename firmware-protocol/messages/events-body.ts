import { Type } from '@sinclair/typebox';
import { validator, type SchemaIssue } from '../../shared/schema/index.js';
import { BATCH_MAX_EVENTS } from '../limits.js';
import { V } from './common.js';
import { validateEvent, validateEventBatch, type Event } from './event.js';

/**
 * Reading the body of the events topic / endpoint, which is either a single Event or an EventBatch: leniently (the
 * valid events and the rejected items, so each item is acked on its own) or strictly (any bad item fails the body).
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

/** One event of an events body that failed validation; `id`/`rev` are echoed when readable so it can be acked. */
export interface RejectedEvent {
  index: number;
  id: string | undefined;
  rev: number | undefined;
  issues: SchemaIssue[];
}

/**
 * Splits the body of the events topic / endpoint (a single Event or an EventBatch) into valid events and rejected
 * items. Throws `invalid_message` only when the body as a whole is unusable (not an object, bad batch shape).
 */
export function splitEventsBody(value: unknown): { events: Event[]; rejected: RejectedEvent[] } {
  const isBatch = typeof value === 'object' && value !== null && !Array.isArray(value) && 'events' in value;
  const items = isBatch ? validateEventBatchShell.parse(value, 'event batch').events : [value];
  const events: Event[] = [];
  const rejected: RejectedEvent[] = [];
  items.forEach((item, index) => {
    const issues = validateEvent.issues(item);
    if (issues.length === 0) {
      events.push(item as Event);
      return;
    }
    const rec = typeof item === 'object' && item !== null ? (item as Record<string, unknown>) : {};
    rejected.push({
      index,
      id: typeof rec.id === 'string' ? rec.id : undefined,
      rev: typeof rec.rev === 'number' && Number.isInteger(rec.rev) ? rec.rev : undefined,
      issues: isBatch ? issues.map((i) => ({ ...i, path: `/events/${index}${i.path === '/' ? '' : i.path}` })) : issues,
    });
  });
  return { events, rejected };
}

/** Strict form: a single Event or an EventBatch normalized to a list; throws `invalid_message` on any bad item. */
export function parseEventsBody(value: unknown): Event[] {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && 'events' in value)
    return validateEventBatch.parse(value, 'event batch').events;
  return [validateEvent.parse(value, 'event')];
}
