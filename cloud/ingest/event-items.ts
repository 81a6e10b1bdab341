import { formatIssues, type SchemaIssue } from '../../shared/schema/index.js';
import { eventFingerprint } from '../../firmware-protocol/fingerprint.js';
import {
  BATCH_MAX_EVENTS,
  EVENT_MAX_BYTES,
  LABEL_MAX,
  REVIEW_OBJECTS_MAX,
  ZONE_NAME_MAX,
  ZONES_MAX,
} from '../../firmware-protocol/limits.js';
import { isReviewItem, validateEvent, validateReview, type AckItem } from '../../firmware-protocol/messages.js';
import { EVENT_ID_RE, REVIEW_ID_RE } from '../../firmware-protocol/patterns.js';
import { rejectedItem } from './ack.js';
import { wireError } from './errors.js';
import type { IngestTopicMessage } from './sink.js';

/**
 * The items of an events body (./events.ts): event messages and review messages (`kind: "review"`), told apart,
 * identified for their acks (ack kind `event` or `review`), checked against the protocol limits with pointed
 * messages, validated, and turned into what the store takes.
 */
export type ItemKind = 'event' | 'review';

/** Id, rev and ack kind of a possibly invalid item, when readable (so it can be acked). */
export interface ItemIdentity {
  kind: ItemKind;
  id: string;
  rev: number;
}

export function identifyItem(value: unknown): ItemIdentity | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const kind: ItemKind = isReviewItem(value) ? 'review' : 'event';
  const { id, rev } = value as { id?: unknown; rev?: unknown };
  // A rev past 2^53-1 cannot be named in an Ack (AckItem.rev): such an item is not identifiable.
  if (
    typeof id === 'string' &&
    (kind === 'review' ? REVIEW_ID_RE : EVENT_ID_RE).test(id) &&
    typeof rev === 'number' &&
    Number.isSafeInteger(rev) &&
    rev >= 0
  )
    return { kind, id, rev };
  return undefined;
}

/** Every identifiable item of a parsed events body (single or batch); for acking a message rejected as a whole. */
export function identifyItems(value: unknown): ItemIdentity[] {
  if (typeof value === 'object' && value !== null && Array.isArray((value as { events?: unknown }).events)) {
    return (value as { events: unknown[] }).events
      .slice(0, BATCH_MAX_EVENTS)
      .map(identifyItem)
      .filter((x) => x !== undefined);
  }
  const one = identifyItem(value);
  return one ? [one] : [];
}

/**
 * A review message over a protocol limit, said plainly (the schema's wording is generic): how many objects, labels
 * or zones it lists against the limit, and which label or zone name is too long.
 */
export function reviewLimitIssues(item: unknown): SchemaIssue[] {
  if (typeof item !== 'object' || item === null) return [];
  const r = item as { objects?: unknown; labels?: unknown; zones?: unknown };
  const out: SchemaIssue[] = [];
  const count = (field: string, value: unknown, max: number, limit: string, what: string): void => {
    if (Array.isArray(value) && value.length > max)
      out.push({
        path: `/${field}`,
        message: `lists ${value.length} ${what}; a review message lists at most ${max} (${limit})`,
      });
  };
  const lengths = (field: string, value: unknown, max: number, limit: string): void => {
    if (!Array.isArray(value)) return;
    value.slice(0, 256).forEach((v, i) => {
      if (typeof v === 'string' && v.length > max)
        out.push({ path: `/${field}/${i}`, message: `is ${v.length} characters; the limit is ${max} (${limit})` });
    });
  };
  count('objects', r.objects, REVIEW_OBJECTS_MAX, 'REVIEW_OBJECTS_MAX', 'objects');
  count('labels', r.labels, REVIEW_OBJECTS_MAX, 'REVIEW_OBJECTS_MAX', 'labels');
  count('zones', r.zones, ZONES_MAX, 'ZONES_MAX', 'zones');
  lengths('labels', r.labels, LABEL_MAX, 'LABEL_MAX');
  lengths('zones', r.zones, ZONE_NAME_MAX, 'ZONE_NAME_MAX');
  return out;
}

/** Schema and rule issues of one item, checked as what its `kind` says (limits first, in plain words). */
export function itemIssues(item: unknown): SchemaIssue[] {
  if (isReviewItem(item)) {
    const limits = reviewLimitIssues(item);
    if (limits.length > 0) return limits;
    return validateReview.check(item) ? [] : validateReview.issues(item);
  }
  // check() first: the compiled checker is fast; issues() walks the error iterator even for valid input.
  return validateEvent.check(item) ? [] : validateEvent.issues(item);
}

/** What the store takes for a valid item. */
export function storeInput(item: unknown): IngestTopicMessage {
  const wire = item as { id: string; rev: number };
  const contentSha256 = eventFingerprint(item as Record<string, unknown>);
  if (isReviewItem(item))
    return { kind: 'review', id: wire.id, rev: wire.rev, contentSha256, review: item as Record<string, unknown> };
  return { id: wire.id, rev: wire.rev, contentSha256, event: item as Record<string, unknown> };
}

/** A single-item body: valid, or a wire error for the whole request (HTTP 4xx). */
export function checkSingle(item: unknown, deviceId: string): IngestTopicMessage {
  const issues = itemIssues(item);
  const what = isReviewItem(item) ? 'review' : 'event';
  if (issues.length > 0) throw wireError('invalid_message', `${what}: ${formatIssues(issues)}`, { issues });
  const deviceOf = (item as { device_id: string }).device_id;
  if (deviceOf !== deviceId)
    throw wireError('device_mismatch', `/device_id is ${deviceOf}, but the message is signed by ${deviceId}`);
  return storeInput(item);
}

/**
 * One item of a batch: valid (what to store), or its ack decided already (a `rejected` naming why). Throws a wire
 * error only for a bad item that cannot be identified (it could not be acked: the request fails as a whole).
 */
export function checkBatchItem(item: unknown, index: number, deviceId: string): IngestTopicMessage | AckItem {
  const where = `/events/${index}`;
  const ident = identifyItem(item);
  const what = isReviewItem(item) ? 'review' : 'event';
  const size = Buffer.byteLength(JSON.stringify(item) ?? '', 'utf8');
  if (size > EVENT_MAX_BYTES) {
    const message = `event batch: ${where} is ${size} bytes as JSON; the limit is ${EVENT_MAX_BYTES} (EVENT_MAX_BYTES)`;
    if (!ident)
      throw wireError('payload_too_large', `${message} (and the item has no valid id/rev to reject it by)`, {
        limit: EVENT_MAX_BYTES,
      });
    return rejectedItem(ident.id, ident.rev, ident.kind, 'payload_too_large', message);
  }
  const issues = itemIssues(item);
  if (issues.length > 0) {
    const message =
      'event batch: ' + formatIssues(issues.map((x) => ({ ...x, path: where + (x.path === '/' ? '' : x.path) })));
    if (!ident)
      throw wireError('invalid_message', `${message} (and the item has no valid id/rev to reject it by)`, { issues });
    return rejectedItem(ident.id, ident.rev, ident.kind, 'invalid_message', message);
  }
  const m = item as { id: string; rev: number; device_id: string };
  if (m.device_id !== deviceId) {
    const message = `${where}/device_id is ${m.device_id}, but the message is signed by ${deviceId}`;
    return rejectedItem(m.id, m.rev, what, 'device_mismatch', message);
  }
  return storeInput(item);
}
