import { Type } from '@sinclair/typebox';
import { validator } from '../../shared/schema/index.js';
import { BATCH_MAX_EVENTS, EVENT_MAX_BYTES } from '../../firmware-protocol/limits.js';
import type { AckItem } from '../../firmware-protocol/messages.js';
import { rejectedItem } from './ack.js';
import type { ResolvedIngestDeps } from './deps.js';
import { checkVersion, decodeJsonBody, wireError } from './errors.js';
import { checkBatchItem, checkSingle } from './event-items.js';
import { topLevelKey } from './json-limits.js';
import type { IngestTopicMessage, NonceClaim, StoreEventResult } from './sink.js';
import { VigilError } from '../errors.js';
import { SigningErrorCode } from '../../shared/signing/index.js';

export { identifyItem, identifyItems, type ItemIdentity } from './event-items.js';

/**
 * Events body (`POST …/events`, MQTT `…/events`): one Event, one Review (`kind: "review"`), or an EventBatch whose
 * items are either. Review messages are verified, deduplicated and stored like events (in the same transaction) and
 * acked with ack kind `review`.
 *
 * A single message is all-or-nothing: any problem is an error for the whole request (HTTP 4xx).
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
  /** Ack items in the order of the body's items. */
  items: AckItem[];
  /** The body was a single message (not a batch). */
  single: boolean;
}

/**
 * Parses + validates; stores valid items in one sink transaction; returns per-item acks. Throws wire errors.
 *
 * `nonce`: the request's nonce when verification deferred recording it (VerifyOptions.deferNonce). It is then
 * recorded in the same transaction as the messages: a request costs one commit, and when storing throws (database
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
  // One message is at most EVENT_MAX_BYTES: known before parsing when the body has no top-level `events` (a batch).
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
  const valid: IngestTopicMessage[] = [];
  if (single) {
    valid.push(checkSingle(value, deviceId));
    slots.push(0);
  } else {
    const batch = BatchWrapper.parse(value, 'event batch');
    batch.events.forEach((item, i) => {
      const checked = checkBatchItem(item, i, deviceId);
      if ('status' in checked) {
        slots.push(checked);
        return;
      }
      slots.push(valid.length);
      valid.push(checked);
    });
  }

  let results: StoreEventResult[] = [];
  if (valid.length > 0) {
    const sink = deps.sink;
    results = nonce
      ? await sink.storeSignedEventMessages(deviceId, valid, receivedAtMs, nonce)
      : await sink.storeEventMessages(deviceId, valid, receivedAtMs);
    if (results.length !== valid.length)
      throw new Error(`sink returned ${results.length} results for ${valid.length} messages`);
  } else if (
    nonce &&
    !(await deps.sink.rememberNonce(deviceId, nonce.nonce, nonce.expiresAtMs)) &&
    nonce.onReplay === 'reject'
  ) {
    throw new VigilError(SigningErrorCode.replay, 'nonce already used within the replay window');
  }

  const items = slots.map((slot): AckItem => {
    if (typeof slot !== 'number') return slot;
    return ackOf(deps, deviceId, valid[slot]!, results[slot]!, receivedAtMs);
  });
  for (const it of items) if (it.status === 'rejected') deps.metrics.reject(it.code ?? 'rejected');
  return { items, single };
}

/** The ack of one stored item (and its live-feed change when it was stored now). */
function ackOf(
  deps: ResolvedIngestDeps,
  deviceId: string,
  msg: IngestTopicMessage,
  r: StoreEventResult,
  receivedAtMs: number,
): AckItem {
  const kind = msg.kind === 'review' ? 'review' : 'event';
  const what = msg.kind === 'review' ? 'review item' : 'event';
  switch (r.status) {
    case 'stored':
      if (msg.kind === 'review') {
        deps.metrics.counts.reviews_stored++;
        deps.sink.publish({ type: 'review.stored', deviceId, reviewId: msg.id, rev: msg.rev, receivedAtMs });
      } else {
        deps.metrics.counts.events_stored++;
        deps.sink.publish({
          type: 'event.stored',
          deviceId,
          eventId: msg.id,
          rev: msg.rev,
          receivedAtMs,
          event: msg.event,
        });
      }
      return { id: msg.id, rev: msg.rev, kind, status: 'accepted' };
    case 'duplicate':
      if (msg.kind === 'review') deps.metrics.counts.reviews_duplicate++;
      else deps.metrics.counts.events_duplicate++;
      return { id: msg.id, rev: msg.rev, kind, status: 'duplicate' };
    case 'conflict':
      return rejectedItem(
        msg.id,
        msg.rev,
        kind,
        'event_conflict',
        r.message ?? `${what} ${msg.id} rev ${msg.rev} was already accepted with different content`,
      );
    case 'rejected':
      return rejectedItem(
        msg.id,
        msg.rev,
        kind,
        r.code ?? 'invalid_message',
        r.message ?? `${what} ${msg.id} rev ${msg.rev} cannot be stored`,
      );
    default:
      throw new Error(`sink returned an unknown status: ${String(r.status satisfies never)}`);
  }
}

/** For a single-message request: the rejection of its one item as an error (HTTP answers it with 4xx). */
export function singleItemError(outcome: EventsOutcome): Error | undefined {
  const item = outcome.items[0];
  if (!outcome.single || !item || item.status !== 'rejected') return undefined;
  const code = item.code ?? 'invalid_message';
  const message = item.message ?? `${item.kind} rejected`;
  if (!VigilError.has(code)) return wireError('internal_error', `${code}: ${message}`, { id: item.id, rev: item.rev });
  return wireError(code, message, { id: item.id, rev: item.rev });
}
