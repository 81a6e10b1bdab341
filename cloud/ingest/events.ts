import { Type } from '@sinclair/typebox';
import { validator, formatIssues } from '../../shared/schema/index.js';
import { BATCH_MAX_EVENTS, EVENT_MAX_BYTES } from '../../firmware-protocol/limits.js';
import { validateEvent, type AckItem, type Event } from '../../firmware-protocol/messages.js';
import { EVENT_ID_RE } from '../../firmware-protocol/patterns.js';
import { eventFingerprint } from '../../firmware-protocol/fingerprint.js';
import { rejectedItem } from './ack.js';
import type { ResolvedIngestDeps } from './deps.js';
import { checkVersion, decodeJsonBody, wireError } from './errors.js';
import { topLevelKey } from './json-limits.js';
import type { IngestEventMessage, NonceClaim, StoreEventResult } from './sink.js';
import { VigilError } from '../errors.js';
import { SigningErrorCode } from '../../shared/signing/index.js';

/**
 * Events body (`POST …/events`, MQTT `…/events`): one Event or an EventBatch.
 *
 * A single Event is all-or-nothing: any problem is an error for the whole request (HTTP 4xx).
 * A batch is acked per item (protocol: "the batch is not atomic"): a bad wrapper fails the request, a bad item whose
 * id and rev can still be read is acked `rejected` with its code while the good items are stored; an item that
 * cannot even be identified fails the request (it could not be acked).
 */

const BatchWrapper = validator(
  Type.Object(
    {
      v: Type.Literal(1),
      events: Type.Array(Type.Unknown(), { minItems: 1, maxItems: BATCH_MAX_EVENTS }),
    },
    { additionalProperties: true },
  ),
);

export interface EventsOutcome {
  /** Ack items in the order of the body's events. */
  items: AckItem[];
  /** The body was a single Event (not a batch). */
  single: boolean;
}

/** Id and rev of a possibly invalid event, when both are readable (so it can be acked). */
export function identifyEvent(value: unknown): { id: string; rev: number } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { id, rev } = value as { id?: unknown; rev?: unknown };
  // A rev past 2^53-1 cannot be named in an Ack (AckItem.rev): such an item is not identifiable.
  if (
    typeof id === 'string' &&
    EVENT_ID_RE.test(id) &&
    typeof rev === 'number' &&
    Number.isSafeInteger(rev) &&
    rev >= 0
  )
    return { id, rev };
  return undefined;
}

/** Every identifiable event of a parsed events body (single or batch); for acking a message rejected as a whole. */
export function identifyEvents(value: unknown): { id: string; rev: number }[] {
  if (typeof value === 'object' && value !== null && Array.isArray((value as { events?: unknown }).events)) {
    return (value as { events: unknown[] }).events
      .slice(0, BATCH_MAX_EVENTS)
      .map(identifyEvent)
      .filter((x) => x !== undefined);
  }
  const one = identifyEvent(value);
  return one ? [one] : [];
}

function checkOwnDevice(e: Event, deviceId: string, where: string): void {
  if (e.device_id !== deviceId)
    throw wireError(
      'device_mismatch',
      `${where}/device_id is ${e.device_id}, but the message is signed by ${deviceId}`,
    );
}

/**
 * Parses + validates; stores valid items in one sink transaction; returns per-item acks. Throws wire errors.
 *
 * `nonce`: the request's nonce when verification deferred recording it (VerifyOptions.deferNonce). It is then
 * recorded in the same transaction as the events: a request costs one commit, and when storing throws (database
 * down, device revoked meanwhile, a concurrent replay) nothing is left behind, nonce included, so an identical
 * retry is processed rather than refused as a replay. A body that fails parsing or validation as a whole records
 * no nonce: nothing was stored and a replay of it fails the same way. A batch whose items were all rejected at
 * validation records the nonce alone (a replay is then refused, as for any other request).
 */
export async function ingestEvents(
  deps: ResolvedIngestDeps,
  deviceId: string,
  body: Uint8Array,
  receivedAtMs: number,
  nonce?: NonceClaim,
): Promise<EventsOutcome> {
  const limit = deps.config.body_limits.events_bytes;
  if (body.length > limit)
    throw wireError('payload_too_large', `events body is ${body.length} bytes; the limit is ${limit}`, { limit });
  // One Event is at most EVENT_MAX_BYTES: known before parsing when the body has no top-level `events` (a batch).
  if (body.length > EVENT_MAX_BYTES && topLevelKey(body, 'events') === 'no') {
    throw wireError(
      'payload_too_large',
      `event is ${body.length} bytes; the limit is ${EVENT_MAX_BYTES} (EVENT_MAX_BYTES)`,
      { limit: EVENT_MAX_BYTES },
    );
  }
  const value = decodeJsonBody(body, 'events body');
  checkVersion(value, 'events body');
  const single = !(typeof value === 'object' && value !== null && !Array.isArray(value) && 'events' in value);
  if (single && body.length > EVENT_MAX_BYTES) {
    throw wireError(
      'payload_too_large',
      `event is ${body.length} bytes; the limit is ${EVENT_MAX_BYTES} (EVENT_MAX_BYTES)`,
      { limit: EVENT_MAX_BYTES },
    );
  }

  // slots: either an ack decided already (invalid item) or an index into `valid`.
  const slots: (AckItem | number)[] = [];
  const valid: IngestEventMessage[] = [];
  if (single) {
    // check() first: the compiled checker is fast; parse() walks the error iterator even for valid input.
    const e = validateEvent.check(value) ? value : validateEvent.parse(value, 'event');
    checkOwnDevice(e, deviceId, '');
    valid.push({ id: e.id, rev: e.rev, contentSha256: eventFingerprint(e), event: e });
    slots.push(0);
  } else {
    const batch = BatchWrapper.parse(value, 'event batch');
    batch.events.forEach((item, i) => {
      const where = `/events/${i}`;
      const size = Buffer.byteLength(JSON.stringify(item) ?? '', 'utf8');
      if (size > EVENT_MAX_BYTES) {
        const ident = identifyEvent(item);
        const message =
          `event batch: ${where} is ${size} bytes as JSON; ` + `the limit is ${EVENT_MAX_BYTES} (EVENT_MAX_BYTES)`;
        if (!ident)
          throw wireError('payload_too_large', `${message} (and the item has no valid id/rev to reject it by)`, {
            limit: EVENT_MAX_BYTES,
          });
        slots.push(rejectedItem(ident.id, ident.rev, 'event', 'payload_too_large', message));
        return;
      }
      const issues = validateEvent.check(item) ? [] : validateEvent.issues(item);
      if (issues.length > 0) {
        const ident = identifyEvent(item);
        const message =
          'event batch: ' + formatIssues(issues.map((x) => ({ ...x, path: where + (x.path === '/' ? '' : x.path) })));
        if (!ident)
          throw wireError('invalid_message', `${message} (and the item has no valid id/rev to reject it by)`, {
            issues,
          });
        slots.push(rejectedItem(ident.id, ident.rev, 'event', 'invalid_message', message));
        return;
      }
      const e = item as Event;
      if (e.device_id !== deviceId) {
        slots.push(
          rejectedItem(
            e.id,
            e.rev,
            'event',
            'device_mismatch',
            `${where}/device_id is ${e.device_id}, but the message is signed by ${deviceId}`,
          ),
        );
        return;
      }
      slots.push(valid.length);
      valid.push({ id: e.id, rev: e.rev, contentSha256: eventFingerprint(e), event: e });
    });
  }

  let results: StoreEventResult[] = [];
  if (valid.length > 0) {
    const sink = deps.sink;
    results = nonce
      ? await sink.storeSignedEventMessages(deviceId, valid, receivedAtMs, nonce)
      : await sink.storeEventMessages(deviceId, valid, receivedAtMs);
    if (results.length !== valid.length)
      throw new Error(`sink returned ${results.length} results for ${valid.length} event messages`);
  } else if (
    nonce &&
    !(await deps.sink.rememberNonce(deviceId, nonce.nonce, nonce.expiresAtMs)) &&
    nonce.onReplay === 'reject'
  ) {
    throw new VigilError(SigningErrorCode.replay, 'nonce already used within the replay window');
  }

  const items = slots.map((slot): AckItem => {
    if (typeof slot !== 'number') return slot;
    const r = results[slot]!;
    const msg = valid[slot]!;
    switch (r.status) {
      case 'stored':
        deps.metrics.counts.events_stored++;
        deps.sink.publish({
          type: 'event.stored',
          deviceId,
          eventId: msg.id,
          rev: msg.rev,
          receivedAtMs,
          event: msg.event,
        });
        return { id: msg.id, rev: msg.rev, kind: 'event', status: 'accepted' };
      case 'duplicate':
        deps.metrics.counts.events_duplicate++;
        return { id: msg.id, rev: msg.rev, kind: 'event', status: 'duplicate' };
      case 'conflict':
        return rejectedItem(
          msg.id,
          msg.rev,
          'event',
          'event_conflict',
          r.message ?? `event ${msg.id} rev ${msg.rev} was already accepted with different content`,
        );
      case 'rejected':
        return rejectedItem(
          msg.id,
          msg.rev,
          'event',
          r.code ?? 'invalid_message',
          r.message ?? `event ${msg.id} rev ${msg.rev} cannot be stored`,
        );
      default:
        throw new Error(`sink returned an unknown status: ${String(r.status satisfies never)}`);
    }
  });
  for (const it of items) if (it.status === 'rejected') deps.metrics.reject(it.code ?? 'rejected');
  return { items, single };
}

/** For a single-event request: the rejection of its one item as an error (HTTP answers it with 4xx). */
export function singleItemError(outcome: EventsOutcome): Error | undefined {
  const item = outcome.items[0];
  if (!outcome.single || !item || item.status !== 'rejected') return undefined;
  const code = item.code ?? 'invalid_message';
  const message = item.message ?? 'event rejected';
  if (!VigilError.has(code)) return wireError('internal_error', `${code}: ${message}`, { id: item.id, rev: item.rev });
  return wireError(code, message, { id: item.id, rev: item.rev });
}
