import type { Readable } from 'node:stream';
import { systemClock, type Clock } from '../../shared/clock/index.js';
import type { Logger } from '../../shared/log/index.js';
import { silentLogger } from '../../shared/log/index.js';
import type { DeviceKey } from '../../shared/signing/index.js';
import type { EventBus } from '../live/event-bus.js';
import { thumbnailKey, type BlobStore } from '../blob/blob-store.js';
import type {
  AnnouncedThumbnail,
  DeviceContact,
  IngestChange,
  IngestHeartbeat,
  IngestSink,
  IngestTopicMessage,
  NonceClaim,
  StoreEventResult,
  ThumbnailExpectation,
  ThumbnailResult,
} from '../ingest/sink.js';
import { deviceKeyContext, type SecretBox } from '../pairing/secret-box.js';
import type { Store } from '../store/store.js';

/**
 * The IngestSink over the store, the blob store, the secrets box and the live feed: what ingest writes lands here.
 * Every method resolves only after its writes are durable (the store's commit; the blob's fsync+rename or S3 PUT).
 */
export interface StoreSinkOptions {
  store: Store;
  blobs: BlobStore;
  secrets: SecretBox;
  bus: EventBus;
  clock?: Clock;
  log?: Logger;
  /** How long decrypted device keys are cached (a revocation takes effect within this), ms. Default 2000. */
  keyCacheMs?: number;
  /** Called after each heartbeat is stored, before it is acked (the model registry keeps the box's `model`). */
  onHeartbeat?: (deviceId: string, heartbeat: IngestHeartbeat, receivedAtMs: number) => Promise<void>;
}

interface CachedKeys {
  keys: DeviceKey[] | undefined;
  until: number;
}

export class StoreIngestSink implements IngestSink {
  private readonly store: Store;
  private readonly blobs: BlobStore;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly keyCache = new Map<string, CachedKeys>();
  private readonly tenants = new Map<string, string>();

  constructor(private readonly options: StoreSinkOptions) {
    this.store = options.store;
    this.blobs = options.blobs;
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger();
  }

  /** Forgets cached keys (after a rotation or revocation made through this process). */
  forgetKeys(deviceId?: string): void {
    if (deviceId === undefined) this.keyCache.clear();
    else this.keyCache.delete(deviceId);
  }

  async activeKeys(deviceId: string): Promise<DeviceKey[] | undefined> {
    const now = this.clock.now();
    const hit = this.keyCache.get(deviceId);
    if (hit && hit.until > now) return hit.keys;
    const records = await this.store.activeDeviceKeys(deviceId);
    const keys = records?.map((r) => ({
      keyId: r.keyId,
      secret: this.options.secrets.open(r.secretSealed, deviceKeyContext(deviceId, r.keyId)),
    }));
    if (this.keyCache.size > 10_000) this.keyCache.clear();
    this.keyCache.set(deviceId, { keys, until: now + (this.options.keyCacheMs ?? 2000) });
    return keys;
  }

  rememberNonce(deviceId: string, nonce: string, expiresAtMs: number): Promise<boolean> {
    return this.store.rememberNonce(deviceId, nonce, expiresAtMs, this.clock.now());
  }

  storeEventMessages(
    deviceId: string,
    events: readonly IngestTopicMessage[],
    receivedAtMs: number,
  ): Promise<StoreEventResult[]> {
    return this.store.storeEventMessages(deviceId, events, receivedAtMs);
  }

  storeSignedEventMessages(
    deviceId: string,
    events: readonly IngestTopicMessage[],
    receivedAtMs: number,
    claim: NonceClaim,
  ): Promise<StoreEventResult[]> {
    return this.store.storeEventMessages(deviceId, events, receivedAtMs, {
      nonce: claim.nonce,
      expiresAt: claim.expiresAtMs,
      now: this.clock.now(),
      onReplay: claim.onReplay,
    });
  }

  nonceRecorded(deviceId: string, nonce: string): Promise<boolean> {
    return this.store.nonceRecorded(deviceId, nonce, this.clock.now());
  }

  async eventForThumbnail(
    deviceId: string,
    eventId: string,
  ): Promise<{ announced: AnnouncedThumbnail | null } | undefined> {
    const event = await this.store.findDeviceEvent(deviceId, eventId);
    return event && { announced: event.announcedThumbnail };
  }

  async putThumbnail(
    deviceId: string,
    eventId: string,
    stream: Readable,
    expected: ThumbnailExpectation,
  ): Promise<ThumbnailResult> {
    const existing = await this.store.findDeviceThumbnail(deviceId, eventId);
    if (existing?.sha256 === expected.sha256) {
      await drain(stream);
      return { status: 'duplicate' };
    }
    const device = await this.store.findDevice(deviceId);
    if (!device) {
      stream.destroy();
      return { status: 'conflict' };
    }
    const key = thumbnailKey(device.tenantId, deviceId, eventId, expected.sha256);
    await this.blobs.put(key, stream, {
      size: expected.size,
      sha256: expected.sha256,
      contentType: expected.contentType,
    });
    const status = await this.store.recordThumbnail(
      {
        deviceId,
        eventId,
        blobKey: key,
        sha256: expected.sha256,
        size: expected.size,
        contentType: expected.contentType,
      },
      this.clock.now(),
      { replace: true },
    );
    if (status === 'conflict') {
      await this.blobs.delete(key).catch(() => undefined);
    } else if (status === 'stored' && existing && existing.blobKey !== key) {
      // The replaced thumbnail's bytes are no longer referenced.
      await this.blobs
        .delete(existing.blobKey)
        .catch((err: unknown) =>
          this.log.warn({ err, key: existing.blobKey }, 'could not delete a replaced thumbnail'),
        );
    }
    return { status };
  }

  async recordHeartbeat(
    deviceId: string,
    heartbeat: IngestHeartbeat,
    skewS: number,
    receivedAtMs: number,
  ): Promise<void> {
    const hb = heartbeat as {
      sent_at?: string;
      version?: string;
      outbox?: { depth?: number; dropped?: number };
      cameras?: unknown;
      boot_id?: string;
      uptime_s?: number;
    };
    // sent_at has millisecond resolution; the signature timestamp only seconds.
    const sentAt = typeof hb.sent_at === 'string' ? Date.parse(hb.sent_at) : NaN;
    const skewMs = Number.isNaN(sentAt) ? Math.round(skewS * 1000) : sentAt - receivedAtMs;
    await this.store.recordHeartbeat(
      deviceId,
      {
        skewMs,
        version: hb.version ?? null,
        outboxDepth: hb.outbox?.depth ?? null,
        dropped: hb.outbox?.dropped ?? null,
        cameras: hb.cameras ?? [],
        message: heartbeat,
        bootId: typeof hb.boot_id === 'string' ? hb.boot_id : null,
        uptimeS: typeof hb.uptime_s === 'number' ? hb.uptime_s : null,
      },
      receivedAtMs,
    );
    await this.options.onHeartbeat?.(deviceId, heartbeat, receivedAtMs);
  }

  async noteContact(deviceId: string, contact: DeviceContact): Promise<void> {
    await this.store.touchDevice(deviceId, contact.atMs, Math.round(contact.skewS * 1000));
  }

  publish(change: IngestChange): void {
    void this.tenantOf(change.deviceId)
      .then((tenantId) => {
        if (!tenantId) return;
        this.options.bus.publish({
          type: change.type,
          tenantId,
          deviceId: change.deviceId,
          eventId: 'eventId' in change ? change.eventId : undefined,
          reviewId: change.type === 'review.stored' ? change.reviewId : undefined,
          rev: change.type === 'event.stored' || change.type === 'review.stored' ? change.rev : undefined,
          at: change.receivedAtMs,
        });
      })
      .catch((err: unknown) => this.log.warn({ err }, 'live feed publish failed'));
  }

  private async tenantOf(deviceId: string): Promise<string | undefined> {
    const known = this.tenants.get(deviceId);
    if (known) return known;
    const device = await this.store.findDevice(deviceId);
    if (device) {
      if (this.tenants.size > 10_000) this.tenants.clear();
      this.tenants.set(deviceId, device.tenantId);
    }
    return device?.tenantId;
  }
}

/** Reads a stream to its end, discarding it; a checker's error (bytes not as announced) propagates. */
async function drain(stream: Readable): Promise<void> {
  for await (const _chunk of stream) {
    // the same bytes are already stored
  }
}
