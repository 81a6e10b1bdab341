/**
 * What the store takes from ingest and answers: one validated event message per input, one result per message.
 * Ingest's IngestSink speaks these same types (cloud/ingest/sink.ts re-exports them), so the store depends on
 * nothing above it.
 */

/** A JSON object as parsed from the wire (after schema validation). */
export type WireObject = { readonly [key: string]: unknown };

/**
 * One event message as ingest validated it. `event` is the wire Event (firmware-protocol `Event`, already checked
 * against its schema and cross-field rules, `device_id` equal to the signing device); `id`/`rev` are copied out.
 */
export interface EventMessageInput {
  /** Absent or `event`: an event message (review messages say `review`). */
  kind?: 'event';
  id: string;
  rev: number;
  /** Dedupe fingerprint: firmware-protocol `eventFingerprint(event)` (SHA-256 of canonical JSON without `sent_at`). */
  contentSha256: string;
  /** The validated wire Event, as a JSON object. */
  event: WireObject;
}

/**
 * One review message as ingest validated it (firmware-protocol `Review`, `kind: "review"`, schema and cross-field
 * rules checked, `device_id` equal to the signing device). Deduplicated like events, by (device, id, rev) and
 * `contentSha256` (the same fingerprint: canonical JSON without `sent_at`).
 */
export interface ReviewMessageInput {
  kind: 'review';
  id: string;
  rev: number;
  contentSha256: string;
  /** The validated wire Review, as a JSON object. */
  review: WireObject;
}

/** An item of the events topic / endpoint: an event message or a review message. */
export type TopicMessageInput = EventMessageInput | ReviewMessageInput;

/** True for the review messages of a request's items. */
export function isReviewInput(m: TopicMessageInput): m is ReviewMessageInput {
  return m.kind === 'review';
}

export type StoreEventStatus = 'stored' | 'duplicate' | 'conflict' | 'rejected';

export interface StoreEventResult {
  id: string;
  rev: number;
  status: StoreEventStatus;
  /** Wire error code for `rejected` (and optionally `conflict`: `event_conflict`). */
  code?: string;
  message?: string;
}
