import type { EndReason, LostEventEnd } from './event-sweep.js';
import type { PushTokenStore } from './push-tokens.js';
import type { SqlExecutor } from '../db/sql.js';
import type { EventMessageView } from './event-view.js';
import type { EventListJoin, JoinedEventPage } from './event-list.js';
import type { EventMessageRecord } from './event-messages.js';
import type { StoreEventResult, TopicMessageInput } from './messages.js';
import type { ReviewStore } from './reviews.js';

/**
 * The collector's storage: one interface, two implementations (SQLite embedded default, PostgreSQL for scale),
 * both in ./sql-store.ts over a small dialect adapter. Every method is tenant-scoped where an app can reach it:
 * an object of another tenant is simply not found.
 *
 * Times are milliseconds since the epoch throughout the store; the API turns them into ISO strings.
 */

export type Role = 'admin' | 'reader';

/** See Store.onEventsStored: the events and review items whose messages this transaction stored. */
export type EventsStoredHook = (
  x: SqlExecutor,
  stored: { tenantId: string; deviceId: string; eventIds: readonly string[]; reviewIds: readonly string[] },
) => Promise<void>;

export interface TenantRecord {
  id: string;
  name: string;
  createdAt: number;
}

export interface ApiTokenRecord {
  id: string;
  tenantId: string;
  name: string;
  role: Role;
  createdAt: number;
  revokedAt: number | null;
}

export interface PairingCodeRecord {
  id: string;
  tenantId: string;
  name: string | null;
  /** Last characters of the code, so a list can tell codes apart without revealing them. */
  hint: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  usedByDevice: string | null;
  revokedAt: number | null;
}

export type PairingCodeState = 'pending' | 'used' | 'expired' | 'revoked';

export interface DeviceRecord {
  id: string;
  tenantId: string;
  name: string | null;
  createdAt: number;
  revokedAt: number | null;
}

export interface DeviceKeyRecord {
  deviceId: string;
  keyId: string;
  /** AES-256-GCM sealed secret (see cloud/pairing/secret-box.ts); the store never sees the plain secret. */
  secretSealed: string;
  status: 'active' | 'retired';
  createdAt: number;
  retiredAt: number | null;
}

export interface NewDeviceKey {
  keyId: string;
  secretSealed: string;
}

/** Latest known state of a box, from its heartbeats. */
/** A new API token: its SHA-256 is stored, never the token. */
export interface NewApiToken {
  tenantId: string;
  name: string;
  role: Role;
  tokenSha256: string;
  now: number;
}

/** A new pairing code: the SHA-256 of the normalised code is stored, with a hint to tell codes apart. */
export interface NewPairingCode {
  tenantId: string;
  name: string | null;
  codeSha256: string;
  hint: string;
  now: number;
  expiresAt: number;
}

/** A pairing code exchanged for a device with its first key. */
export interface PairingCodeExchange {
  codeSha256: string;
  now: number;
  deviceId: string;
  deviceName: string | null;
  key: NewDeviceKey;
}

/** What an exchanged pairing code made: the device, and the code now marked used. */
export interface PairedDevice {
  device: DeviceRecord;
  code: PairingCodeRecord;
}

export interface DeviceStatusRecord {
  deviceId: string;
  /** Collector time of the last heartbeat or upload. */
  lastSeenAt: number | null;
  lastHeartbeatAt: number | null;
  /** Box clock minus collector clock, ms, from the last heartbeat. */
  clockSkewMs: number | null;
  version: string | null;
  outboxDepth: number | null;
  dropped: number | null;
  /** Per-camera states as the box reported them. */
  cameras: unknown;
  /** The whole last heartbeat message. */
  heartbeat: unknown;
  /** Boot id of the box's current run (Heartbeat.boot_id), when it sends one. */
  bootId?: string | null;
  /** Collector time that run started (its first heartbeat's arrival minus the box's uptime). */
  bootStartedAt?: number | null;
  /** Collector time this boot id was first seen. */
  bootSeenAt?: number | null;
}

export interface HeartbeatInput {
  /** Box clock minus collector clock (ms), from the heartbeat's signature timestamp. */
  skewMs: number | null;
  version: string | null;
  outboxDepth: number | null;
  dropped: number | null;
  cameras: unknown;
  /** The message as received, kept for the API. */
  message: unknown;
  /** Heartbeat.boot_id, when sent. */
  bootId?: string | null;
  /** Heartbeat.uptime_s: seconds since the box's agent started. */
  uptimeS?: number | null;
}

export type {
  EventMessageInput,
  ReviewMessageInput,
  StoreEventResult,
  StoreEventStatus,
  TopicMessageInput,
  WireObject,
} from './messages.js';
export type {
  CameraSnoozeInput,
  CameraSnoozeRecord,
  ReviewCounts,
  ReviewCursor,
  ReviewFilter,
  ReviewPage,
  ReviewRecord,
  ReviewSeverity,
  ReviewStore,
} from './reviews.js';
export type { AnnouncedThumbnail, EventMessageView } from './event-view.js';
export type { EventListJoin, JoinedEventPage } from './event-list.js';
export type { EventMessageRecord } from './event-messages.js';
export type {
  PushOutcomeInput,
  PushPlatform,
  PushPreferences,
  PushTokenInput,
  PushTokenRecord,
  PushTokenStore,
} from './push-tokens.js';

/** An event: its row, and the typed view of its latest message (./event-view.ts). */
export interface EventRecord extends EventMessageView {
  id: string;
  tenantId: string;
  deviceId: string;
  camera: string;
  label: string;
  score: number;
  box: unknown;
  startedAt: number;
  endedAt: number | null;
  durationMs: number | null;
  status: 'active' | 'ended';
  lastRev: number;
  /** Why it ended (the box's reason, or the collector's device_lost); null while active or when unknown. */
  endReason: EndReason | null;
  thumbnail: ThumbnailRecord | null;
  createdAt: number;
  updatedAt: number;
  /** The highest-rev message received for this event (read its fields through the view, not by hand). */
  message: unknown;
}

export interface ThumbnailInput {
  deviceId: string;
  eventId: string;
  blobKey: string;
  sha256: string;
  size: number;
  contentType: string;
}

export interface ThumbnailRecord {
  tenantId: string;
  deviceId: string;
  eventId: string;
  blobKey: string;
  sha256: string;
  size: number;
  contentType: string;
  createdAt: number;
}

export interface EventFilter {
  deviceId?: string | undefined;
  camera?: string | undefined;
  label?: string | undefined;
  status?: 'active' | 'ended' | undefined;
  /** Events that entered this zone (Event.zones). */
  zone?: string | undefined;
  /** started_at >= since (ms) */
  since?: number | undefined;
  /** started_at < until (ms) */
  until?: number | undefined;
}

/** Position after the last row of a page; newest first. */
export interface EventCursor {
  startedAt: number;
  id: string;
}

export interface EventPage {
  events: EventRecord[];
  next: EventCursor | null;
}

export interface LabelDayCount {
  /** UTC day, YYYY-MM-DD. */
  day: string;
  label: string;
  count: number;
}

/**
 * Push registrations (upsert/list/delete, pruneToken, recordOutcome) are declared in ./push-tokens.ts; review items
 * (read, filter, reviewed mark) and camera snoozes in ./reviews.ts.
 */
export interface Store extends PushTokenStore, ReviewStore {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Runs `hook` inside the transaction of every storeEventMessages() call that stored at least one message (event or
   * review), after the messages are applied (e.g. to queue work atomically with the event). A hook that throws fails
   * the whole request.
   */
  onEventsStored(hook: EventsStoredHook): void;
  /** Cheap round trip to the database; throws when it is unusable. */
  ping(): Promise<void>;
  /** Closes the database the store runs on (a store from openStore(); the collector closes its database itself). */
  close(): Promise<void>;
  /** Schema version after migrations. */
  schemaVersion(): Promise<number>;

  ensureTenant(id: string, name?: string): Promise<TenantRecord>;

  // --- API tokens (stored as SHA-256 of the token) ---
  createApiToken(input: NewApiToken): Promise<ApiTokenRecord>;
  findApiToken(tokenSha256: string): Promise<ApiTokenRecord | undefined>;
  listApiTokens(tenantId: string): Promise<ApiTokenRecord[]>;
  revokeApiToken(tenantId: string, id: string, now: number): Promise<boolean>;

  // --- pairing codes (stored as SHA-256 of the normalised code) ---
  createPairingCode(input: NewPairingCode): Promise<PairingCodeRecord>;
  listPairingCodes(tenantId: string): Promise<PairingCodeRecord[]>;
  /** Revokes by id or by code hash. False when no pending code of this tenant matches. */
  revokePairingCode(tenantId: string, idOrSha256: string, now: number): Promise<boolean>;
  /**
   * Single-use exchange, in one transaction: marks the code used and creates the device with its first key.
   * Throws VigilError `pairing_code_invalid` (400), `pairing_code_used` (409), `pairing_code_expired` (410).
   */
  consumePairingCode(input: PairingCodeExchange): Promise<PairedDevice>;

  // --- devices and keys ---
  getDevice(tenantId: string, deviceId: string): Promise<DeviceRecord | undefined>;
  /** Device by id regardless of tenant; for ingest, which learns the tenant from the device. */
  findDevice(deviceId: string): Promise<DeviceRecord | undefined>;
  listDevices(tenantId: string): Promise<DeviceRecord[]>;
  revokeDevice(tenantId: string, deviceId: string, now: number): Promise<boolean>;
  /** Active keys of a live device; undefined when the device is unknown or revoked. */
  activeDeviceKeys(deviceId: string): Promise<DeviceKeyRecord[] | undefined>;
  listDeviceKeys(tenantId: string, deviceId: string): Promise<DeviceKeyRecord[] | undefined>;
  /** Adds an active key; when that makes three, the oldest active one is retired. Returns the keys after. */
  addDeviceKey(
    tenantId: string,
    deviceId: string,
    key: NewDeviceKey,
    now: number,
  ): Promise<DeviceKeyRecord[] | undefined>;
  /** Retires one key. Throws `last_active_key` (409) rather than leave a live device without a key. */
  retireDeviceKey(tenantId: string, deviceId: string, keyId: string, now: number): Promise<boolean>;

  // --- device status ---
  recordHeartbeat(deviceId: string, hb: HeartbeatInput, receivedAt: number): Promise<void>;
  /** Marks the device as seen (any verified message), with that message's clock skew when known. */
  touchDevice(deviceId: string, seenAt: number, skewMs?: number): Promise<void>;
  getDeviceStatus(deviceId: string): Promise<DeviceStatusRecord | undefined>;
  /**
   * Ends, with end_reason device_lost, the active events of boxes silent for `lostAfterMs`, and of boxes that
   * restarted (new boot id seen `lostAfterMs` ago) from before the restart. Idempotent, safe with several
   * collectors; returns what this call ended (./event-sweep.ts).
   */
  endLostEvents(now: number, lostAfterMs: number, limit?: number): Promise<LostEventEnd[]>;
  listDeviceStatus(tenantId: string): Promise<DeviceStatusRecord[]>;

  // --- events ---
  /**
   * Stores the event and review messages of one request in ONE transaction; resolves only after the commit is
   * durable. Per message (identified by device, id, rev; compared by `contentSha256`): `stored`, `duplicate` (same
   * content seen before), `conflict` (same id+rev, other content: `event_conflict`), `rejected` (the id belongs to
   * another device). Each stored message is applied to its event row (./event-apply.ts) or review row
   * (./review-apply.ts) by rev.
   * Throws `unknown_device` / `device_revoked` for the whole batch.
   *
   * `nonce`: the signed request's nonce, recorded in the SAME transaction (see NonceClaim), so a request costs one
   * commit and a request that fails leaves nothing behind, not even its nonce.
   */
  storeEventMessages(
    deviceId: string,
    messages: readonly TopicMessageInput[],
    receivedAt: number,
    nonce?: StoreNonceClaim,
  ): Promise<StoreEventResult[]>;
  /** An event of this device (any tenant), for ingest's thumbnail checks. */
  findDeviceEvent(deviceId: string, eventId: string): Promise<EventRecord | undefined>;
  getEvent(tenantId: string, eventId: string): Promise<EventRecord | undefined>;
  /** The tenant's events among `eventIds`, in that order (unknown ids left out; e.g. a review item's objects). */
  getEvents(tenantId: string, eventIds: readonly string[]): Promise<EventRecord[]>;
  listEvents(tenantId: string, filter: EventFilter, limit: number, after?: EventCursor): Promise<EventPage>;
  /**
   * listEvents with another stage's columns and filters joined in the same query (./event-list.ts), e.g. each
   * event's verification for the app's list.
   */
  listEventsWith<T>(
    tenantId: string,
    filter: EventFilter,
    limit: number,
    after: EventCursor | undefined,
    join: EventListJoin<T>,
  ): Promise<JoinedEventPage<T>>;
  /** The messages the box sent about the tenant's event, oldest first; undefined when it has no such event. */
  listEventMessages(tenantId: string, eventId: string): Promise<EventMessageRecord[] | undefined>;
  countEventsByLabelDay(tenantId: string, filter: EventFilter): Promise<LabelDayCount[]>;

  // --- thumbnails (metadata; bytes live in the blob store) ---
  /**
   * Records a thumbnail of a device's event: `duplicate` when the same sha is already recorded; when another one is,
   * `conflict` unless `replace` (the event's latest rev announced this new one), in which case it replaces it.
   */
  recordThumbnail(
    input: ThumbnailInput,
    receivedAt: number,
    options?: { replace?: boolean },
  ): Promise<'stored' | 'duplicate' | 'conflict'>;
  /** The recorded thumbnail of a device's event (any tenant), for ingest. */
  findDeviceThumbnail(deviceId: string, eventId: string): Promise<ThumbnailRecord | undefined>;
  getThumbnail(tenantId: string, eventId: string): Promise<ThumbnailRecord | undefined>;

  // --- replay protection shared by every collector on this database ---
  /** Records a nonce; false when it is already recorded and not expired. */
  rememberNonce(deviceId: string, nonce: string, expiresAt: number, now: number): Promise<boolean>;
  /** Read-only: true when the nonce is recorded and not expired (it is recorded later, with the request's writes). */
  nonceRecorded(deviceId: string, nonce: string, now: number): Promise<boolean>;
  purgeNonces(now: number): Promise<number>;
}

/** A request's nonce to record with its writes (ingest's NonceClaim plus the time expiry is judged at). */
export interface StoreNonceClaim {
  nonce: string;
  expiresAt: number;
  now: number;
  /** `reject`: already recorded (a replay) → throw `nonce_replayed` (401), nothing written. `allow`: store anyway. */
  onReplay: 'reject' | 'allow';
}
