import { schemaVersion } from '../db/migrate.js';
import type { SqlDatabase } from '../db/sql.js';
import type { LostEventEnd } from './event-sweep.js';
import type { StoreEventResult, TopicMessageInput } from './messages.js';
import type {
  CameraSnoozeInput,
  CameraSnoozeRecord,
  ReviewCounts,
  ReviewCursor,
  ReviewFilter,
  ReviewPage,
  ReviewRecord,
} from './reviews.js';
import {
  SqlPushTokens,
  type PushOutcomeInput,
  type PushPlatform,
  type PushPreferences,
  type PushTokenInput,
  type PushTokenRecord,
} from './push-tokens.js';
import type { EventListJoin, JoinedEventPage } from './event-list.js';
import { SqlEventMessages, type EventMessageRecord } from './event-messages.js';
import { SqlDevices } from './sql-devices.js';
import { SqlEvents } from './sql-events.js';
import { SqlNonces } from './sql-nonces.js';
import { SqlReviews } from './sql-reviews.js';
import { SqlSnoozes } from './sql-snoozes.js';
import { SqlThumbnails } from './sql-thumbnails.js';
import { SqlTokens } from './sql-tokens.js';
import type {
  ApiTokenRecord,
  NewApiToken,
  NewPairingCode,
  PairedDevice,
  PairingCodeExchange,
  DeviceKeyRecord,
  DeviceRecord,
  DeviceStatusRecord,
  EventCursor,
  EventFilter,
  EventPage,
  EventRecord,
  EventsStoredHook,
  HeartbeatInput,
  LabelDayCount,
  NewDeviceKey,
  PairingCodeRecord,
  Store,
  StoreNonceClaim,
  TenantRecord,
  ThumbnailInput,
  ThumbnailRecord,
} from './store.js';

/**
 * The Store over either SQL dialect, on a migrated database (cloud/db: openDatabase). One part per job, each over
 * the same database: access records (./sql-tokens.ts), devices and their status (./sql-devices.ts), events and
 * nonces (./sql-events.ts, ./sql-nonces.ts; message history ./event-messages.ts), review items (./sql-reviews.ts,
 * stored with the events), camera snoozes (./sql-snoozes.ts), thumbnails (./sql-thumbnails.ts), push registrations
 * (./push-tokens.ts).
 */
export class SqlStore implements Store {
  readonly kind: 'sqlite' | 'postgres';

  private readonly eventHooks: EventsStoredHook[] = [];
  private readonly tokens: SqlTokens;
  private readonly devices: SqlDevices;
  private readonly events: SqlEvents;
  private readonly messages: SqlEventMessages;
  private readonly nonces: SqlNonces;
  private readonly reviews: SqlReviews;
  private readonly snoozes: SqlSnoozes;
  private readonly thumbnails: SqlThumbnails;
  private readonly push: SqlPushTokens;

  constructor(private readonly db: SqlDatabase) {
    this.kind = db.dialect;
    this.tokens = new SqlTokens(db);
    this.devices = new SqlDevices(db);
    this.reviews = new SqlReviews(db);
    this.events = new SqlEvents(db, this.eventHooks, this.reviews);
    this.messages = new SqlEventMessages(db);
    this.snoozes = new SqlSnoozes(db);
    this.nonces = new SqlNonces(db);
    this.thumbnails = new SqlThumbnails(db);
    this.push = new SqlPushTokens(db);
  }

  onEventsStored(hook: EventsStoredHook): void {
    this.eventHooks.push(hook);
  }

  async ping(): Promise<void> {
    await this.db.get('SELECT 1 AS ok');
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  schemaVersion(): Promise<number> {
    return schemaVersion(this.db);
  }

  // --- tenants, API tokens, pairing codes (./sql-tokens.ts) ---

  ensureTenant(id: string, name?: string): Promise<TenantRecord> {
    return this.tokens.ensureTenant(id, name);
  }

  createApiToken(input: NewApiToken): Promise<ApiTokenRecord> {
    return this.tokens.createApiToken(input);
  }

  findApiToken(tokenSha256: string): Promise<ApiTokenRecord | undefined> {
    return this.tokens.findApiToken(tokenSha256);
  }

  listApiTokens(tenantId: string): Promise<ApiTokenRecord[]> {
    return this.tokens.listApiTokens(tenantId);
  }

  revokeApiToken(tenantId: string, id: string, now: number): Promise<boolean> {
    return this.tokens.revokeApiToken(tenantId, id, now);
  }

  createPairingCode(input: NewPairingCode): Promise<PairingCodeRecord> {
    return this.tokens.createPairingCode(input);
  }

  listPairingCodes(tenantId: string): Promise<PairingCodeRecord[]> {
    return this.tokens.listPairingCodes(tenantId);
  }

  revokePairingCode(tenantId: string, idOrSha256: string, now: number): Promise<boolean> {
    return this.tokens.revokePairingCode(tenantId, idOrSha256, now);
  }

  consumePairingCode(input: PairingCodeExchange): Promise<PairedDevice> {
    return this.tokens.consumePairingCode(input);
  }

  // --- devices, keys, status (./sql-devices.ts) ---

  getDevice(tenantId: string, deviceId: string): Promise<DeviceRecord | undefined> {
    return this.devices.getDevice(tenantId, deviceId);
  }

  findDevice(deviceId: string): Promise<DeviceRecord | undefined> {
    return this.devices.findDevice(deviceId);
  }

  listDevices(tenantId: string): Promise<DeviceRecord[]> {
    return this.devices.listDevices(tenantId);
  }

  revokeDevice(tenantId: string, deviceId: string, now: number): Promise<boolean> {
    return this.devices.revokeDevice(tenantId, deviceId, now);
  }

  activeDeviceKeys(deviceId: string): Promise<DeviceKeyRecord[] | undefined> {
    return this.devices.activeDeviceKeys(deviceId);
  }

  listDeviceKeys(tenantId: string, deviceId: string): Promise<DeviceKeyRecord[] | undefined> {
    return this.devices.listDeviceKeys(tenantId, deviceId);
  }

  addDeviceKey(
    tenantId: string,
    deviceId: string,
    key: NewDeviceKey,
    now: number,
  ): Promise<DeviceKeyRecord[] | undefined> {
    return this.devices.addDeviceKey(tenantId, deviceId, key, now);
  }

  retireDeviceKey(tenantId: string, deviceId: string, keyId: string, now: number): Promise<boolean> {
    return this.devices.retireDeviceKey(tenantId, deviceId, keyId, now);
  }

  recordHeartbeat(deviceId: string, hb: HeartbeatInput, receivedAt: number): Promise<void> {
    return this.devices.recordHeartbeat(deviceId, hb, receivedAt);
  }

  touchDevice(deviceId: string, seenAt: number, skewMs?: number): Promise<void> {
    return this.devices.touchDevice(deviceId, seenAt, skewMs);
  }

  getDeviceStatus(deviceId: string): Promise<DeviceStatusRecord | undefined> {
    return this.devices.getDeviceStatus(deviceId);
  }

  endLostEvents(now: number, lostAfterMs: number, limit?: number): Promise<LostEventEnd[]> {
    return this.devices.endLostEvents(now, lostAfterMs, limit);
  }

  listDeviceStatus(tenantId: string): Promise<DeviceStatusRecord[]> {
    return this.devices.listDeviceStatus(tenantId);
  }

  // --- events (./sql-events.ts, their history ./event-messages.ts) and nonces (./sql-nonces.ts) ---

  storeEventMessages(
    deviceId: string,
    messages: readonly TopicMessageInput[],
    receivedAt: number,
    nonce?: StoreNonceClaim,
  ): Promise<StoreEventResult[]> {
    return this.events.storeEventMessages(deviceId, messages, receivedAt, nonce);
  }

  findDeviceEvent(deviceId: string, eventId: string): Promise<EventRecord | undefined> {
    return this.events.findDeviceEvent(deviceId, eventId);
  }

  getEvent(tenantId: string, eventId: string): Promise<EventRecord | undefined> {
    return this.events.getEvent(tenantId, eventId);
  }

  getEvents(tenantId: string, eventIds: readonly string[]): Promise<EventRecord[]> {
    return this.events.getEvents(tenantId, eventIds);
  }

  listEvents(tenantId: string, filter: EventFilter, limit: number, after?: EventCursor): Promise<EventPage> {
    return this.events.listEvents(tenantId, filter, limit, after);
  }

  listEventsWith<T>(
    tenantId: string,
    filter: EventFilter,
    limit: number,
    after: EventCursor | undefined,
    join: EventListJoin<T>,
  ): Promise<JoinedEventPage<T>> {
    return this.events.listEventsWith(tenantId, filter, limit, after, join);
  }

  listEventMessages(tenantId: string, eventId: string): Promise<EventMessageRecord[] | undefined> {
    return this.messages.list(tenantId, eventId);
  }

  countEventsByLabelDay(tenantId: string, filter: EventFilter): Promise<LabelDayCount[]> {
    return this.events.countEventsByLabelDay(tenantId, filter);
  }

  rememberNonce(deviceId: string, nonce: string, expiresAt: number, now: number): Promise<boolean> {
    return this.nonces.rememberNonce(deviceId, nonce, expiresAt, now);
  }

  nonceRecorded(deviceId: string, nonce: string, now: number): Promise<boolean> {
    return this.nonces.nonceRecorded(deviceId, nonce, now);
  }

  purgeNonces(now: number): Promise<number> {
    return this.nonces.purgeNonces(now);
  }

  // --- review items (./sql-reviews.ts) and camera snoozes (./sql-snoozes.ts) ---

  getReview(tenantId: string, reviewId: string): Promise<ReviewRecord | undefined> {
    return this.reviews.getReview(tenantId, reviewId);
  }

  listReviews(tenantId: string, filter: ReviewFilter, limit: number, after?: ReviewCursor): Promise<ReviewPage> {
    return this.reviews.listReviews(tenantId, filter, limit, after);
  }

  countReviews(tenantId: string, filter: ReviewFilter): Promise<ReviewCounts> {
    return this.reviews.countReviews(tenantId, filter);
  }

  setReviewed(
    tenantId: string,
    reviewId: string,
    mark: { at: number; by: string } | null,
    now: number,
  ): Promise<ReviewRecord | undefined> {
    return this.reviews.setReviewed(tenantId, reviewId, mark, now);
  }

  reviewsHoldingEvent(eventId: string): Promise<string[]> {
    return this.reviews.reviewsHoldingEvent(eventId);
  }

  deviceSendsReviews(deviceId: string): Promise<boolean> {
    return this.reviews.deviceSendsReviews(deviceId);
  }

  snoozeCamera(input: CameraSnoozeInput): Promise<CameraSnoozeRecord | undefined> {
    return this.snoozes.snoozeCamera(input);
  }

  unsnoozeCamera(tenantId: string, deviceId: string, camera: string): Promise<boolean> {
    return this.snoozes.unsnoozeCamera(tenantId, deviceId, camera);
  }

  getCameraSnooze(tenantId: string, deviceId: string, camera: string): Promise<CameraSnoozeRecord | undefined> {
    return this.snoozes.getCameraSnooze(tenantId, deviceId, camera);
  }

  // --- thumbnails (./sql-thumbnails.ts) ---

  recordThumbnail(
    input: ThumbnailInput,
    receivedAt: number,
    options?: { replace?: boolean },
  ): Promise<'stored' | 'duplicate' | 'conflict'> {
    return this.thumbnails.recordThumbnail(input, receivedAt, options);
  }

  findDeviceThumbnail(deviceId: string, eventId: string): Promise<ThumbnailRecord | undefined> {
    return this.thumbnails.findDeviceThumbnail(deviceId, eventId);
  }

  getThumbnail(tenantId: string, eventId: string): Promise<ThumbnailRecord | undefined> {
    return this.thumbnails.getThumbnail(tenantId, eventId);
  }

  // --- push registrations (./push-tokens.ts) ---

  upsertPushToken(input: PushTokenInput): Promise<{ record: PushTokenRecord; created: boolean }> {
    return this.push.upsertPushToken(input);
  }

  listPushTokens(tenantId: string, platform?: PushPlatform): Promise<PushTokenRecord[]> {
    return this.push.listPushTokens(tenantId, platform);
  }

  getPushToken(tenantId: string, id: string): Promise<PushTokenRecord | undefined> {
    return this.push.getPushToken(tenantId, id);
  }

  deletePushToken(tenantId: string, id: string): Promise<boolean> {
    return this.push.deletePushToken(tenantId, id);
  }

  pruneToken(id: string): Promise<boolean> {
    return this.push.pruneToken(id);
  }

  recordOutcome(id: string, outcome: PushOutcomeInput, now: number): Promise<boolean> {
    return this.push.recordOutcome(id, outcome, now);
  }

  setPushPreferences(tenantId: string, id: string, preferences: PushPreferences): Promise<PushTokenRecord | undefined> {
    return this.push.setPushPreferences(tenantId, id, preferences);
  }
}
