import type { Readable } from 'node:stream';
import type { AnnouncedThumbnail } from '../store/event-view.js';
import type { EventMessageInput, StoreEventResult, TopicMessageInput, WireObject } from '../store/messages.js';
import type { NonceClaim, VerifierSink } from '../verify/sink.js';

export type { ReviewMessageInput, StoreEventResult, StoreEventStatus, WireObject } from '../store/messages.js';
export type { AnnouncedThumbnail } from '../store/event-view.js';
export type { DeviceContact, NonceClaim, VerifierSink } from '../verify/sink.js';

/**
 * What ingest needs from the rest of the collector (store, blob store, device status, live event bus); the device
 * keys, the replay window and contact notes are the verifier's part of it (cloud/verify/sink.ts).
 *
 * Ingest verifies, validates and acknowledges; it never touches a database or a disk itself. The collector's
 * storage layer implements this interface (one object, or an adapter over store + blobs + status + bus) and hands
 * it to `registerIngestRoutes(app, { sink, ... })` and `startMqttIngest({ sink, ... })`.
 *
 * The one rule every method shares: when a returned promise resolves, what it wrote survives a `kill -9` and a
 * power cut (committed transaction with a synced WAL / fsynced file + rename). Ingest sends the Ack only after that,
 * so a device deletes an event from its outbox only once the collector can never lose it.
 */
export interface IngestSink extends VerifierSink {
  /**
   * Stores the event messages of one request/MQTT message in ONE transaction, durable when the promise resolves.
   * Returns one result per input, in the same order. Review messages (`kind: 'review'`) of the same request are
   * items of the same list, stored in the same transaction with the same dedupe rules (by device, review id, rev).
   *
   * A message is identified by (device, event id, rev); `contentSha256` is its dedupe fingerprint
   * (firmware-protocol `eventFingerprint`: canonical JSON without `sent_at`), so the store compares hashes:
   * - not stored before                        → insert, `stored`
   * - same id + rev, same contentSha256        → write nothing, `duplicate`
   * - same id + rev, different contentSha256   → write nothing, `conflict` (the other messages of the batch are
   *                                              still stored; ingest acks that one `rejected`/`event_conflict`)
   * - cannot be stored as sent (e.g. the event id belongs to another device) → write nothing, `rejected` with a wire
   *   error `code` and `message`.
   * A higher rev of a known id is a newer version of the same event: store it and make it the event's current
   * version. A lower rev arriving after a higher one is stored as history but never regresses the current version.
   * Throwing (database down) fails the whole request with a 5xx / no ack; nothing may be half-written.
   */
  storeEventMessages(
    deviceId: string,
    events: readonly IngestTopicMessage[],
    receivedAtMs: number,
  ): Promise<StoreEventResult[]>;

  /**
   * `storeEventMessages` and `rememberNonce` in ONE durable transaction, so a signed events request costs one
   * commit (the verifier deferred recording its nonce: VerifyOptions.deferNonce). The nonce is recorded first,
   * inside the transaction:
   * - `claim.onReplay === 'reject'` and the nonce is already recorded (a replay that raced past `nonceRecorded`)
   *   → throw `nonce_replayed` (401); nothing is written.
   * - `claim.onReplay === 'allow'` (MQTT redelivery: events are idempotent) → store anyway.
   * Throwing for any reason (database down, device revoked meanwhile) must leave nothing behind, the nonce
   * included: an identical retry of a request that failed is then processed, not refused as a replay.
   */
  storeSignedEventMessages(
    deviceId: string,
    events: readonly IngestTopicMessage[],
    receivedAtMs: number,
    claim: NonceClaim,
  ): Promise<StoreEventResult[]>;

  /**
   * The event a thumbnail upload names, as far as thumbnails care. `undefined` when this device never sent an event
   * with this id (ingest answers `unknown_event`, 404). `announced` is the `thumbnail` field (firmware-protocol
   * ThumbnailInfo: sha256, size, …) of the latest stored revision, or null when it announced none; ingest rejects an
   * upload whose sha256/size differ from the announcement with `thumbnail_mismatch` (409).
   */
  eventForThumbnail(deviceId: string, eventId: string): Promise<{ announced: AnnouncedThumbnail | null } | undefined>;

  /**
   * Streams a JPEG thumbnail of a known event into the blob store and records it on the event.
   *
   * `stream` carries bytes ingest has already read whole and checked (size, signed SHA-256, a decodable JPEG of
   * bounded dimensions: ./thumbnail.ts), so it does not fail in practice; still, the implementation writes to a
   * temporary name and publishes the blob (rename / complete the upload) and its database record only after the
   * stream ended cleanly, and on a stream error deletes what it wrote and rejects. Resolves once blob and record
   * are durable.
   * Result: `stored`; `duplicate` when the same sha256 is already recorded for the event (may skip the write, but
   * must still consume or destroy the stream). A different thumbnail already recorded is REPLACED (protocol: a later
   * `update` may announce a new thumbnail; ingest has already checked this upload against the event's current
   * announcement). `conflict` is for a sink that cannot replace (nothing changed; ingest answers
   * `thumbnail_mismatch`).
   */
  putThumbnail(
    deviceId: string,
    eventId: string,
    stream: Readable,
    expected: ThumbnailExpectation,
  ): Promise<ThumbnailResult>;

  /**
   * Records a verified heartbeat: device status (last seen, uptime, cameras, outbox depth …) and the clock skew seen
   * on its signature (`skewS` = device clock − collector clock, seconds). Durable on return.
   */
  recordHeartbeat(deviceId: string, heartbeat: IngestHeartbeat, skewS: number, receivedAtMs: number): Promise<void>;

  /**
   * Publishes a change to the live feed (SSE for the apps). Called after the change is durable; must not throw
   * or block (queue internally). Not called for duplicates.
   */
  publish(change: IngestChange): void;
}

/** One event message as ingest validated it (the store's input type, cloud/store/messages.ts). */
export type IngestEventMessage = EventMessageInput;
/** One item of the events topic / endpoint as ingest validated it: an event message or a review message. */
export type IngestTopicMessage = TopicMessageInput;

export interface ThumbnailExpectation {
  /** Exact byte length (Content-Length / MQTT body). */
  size: number;
  /** Lowercase hex SHA-256 of the JPEG bytes (the signed body hash). */
  sha256: string;
  /** Always `image/jpeg` in protocol v1. */
  contentType: string;
}

export interface ThumbnailResult {
  status: 'stored' | 'duplicate' | 'conflict';
}

/** A validated wire Heartbeat (firmware-protocol `Heartbeat`), as a JSON object. */
export type IngestHeartbeat = WireObject;

/** What the live feed hears from ingest. */
export type IngestChange =
  | { type: 'event.stored'; deviceId: string; eventId: string; rev: number; receivedAtMs: number; event: WireObject }
  | { type: 'review.stored'; deviceId: string; reviewId: string; rev: number; receivedAtMs: number }
  | { type: 'thumbnail.stored'; deviceId: string; eventId: string; sha256: string; size: number; receivedAtMs: number }
  | { type: 'heartbeat'; deviceId: string; receivedAtMs: number; skewS: number };
