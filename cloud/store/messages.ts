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
  id: string;
  rev: number;
  /** Dedupe fingerprint: firmware-protocol `eventFingerprint(event)` (SHA-256 of canonical JSON without `sent_at`). */
  contentSha256: string;
  /** The validated wire Event, as a JSON object. */
  event: WireObject;
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
