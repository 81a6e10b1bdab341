import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { systemClock, type Clock } from '../../../shared/clock/index.js';
import { newDeviceId } from '../../../shared/ids/index.js';
import { SigningErrorCode, type DeviceCredentials, type DeviceKey } from '../../../shared/signing/index.js';
import { VigilError } from '../../errors.js';
import type * as Sink from '../../ingest/sink.js';

/**
 * An IngestSink in memory, for ingest tests that do not need a database: same dedupe rules as the contract
 * (id + rev + fingerprint), thumbnails kept only when their stream ended cleanly. `failStores` makes the next N
 * store calls throw (database down).
 */
export class MemorySink implements Sink.IngestSink {
  readonly devices = new Map<string, { keys: DeviceKey[]; revoked: boolean }>();
  readonly nonces = new Map<string, number>();
  /** `${device}|${id}|${rev}` → stored message (event or review: their ids never collide, evt_ / rev_). */
  readonly messages = new Map<string, { fingerprint: string; event: Sink.WireObject; receivedAtMs: number }>();
  readonly thumbnails = new Map<string, { bytes: Buffer; sha256: string }>();
  readonly heartbeats: { deviceId: string; heartbeat: Sink.IngestHeartbeat; skewS: number }[] = [];
  readonly contacts: { deviceId: string; contact: Sink.DeviceContact }[] = [];
  readonly published: Sink.IngestChange[] = [];
  /** Bytes a thumbnail put had written when its stream failed (to prove they were discarded). */
  discardedThumbnailBytes = 0;
  failStores = 0;
  storeCalls = 0;

  /** `clock` decides nonce expiry (a test moving time passes its ManualClock). */
  constructor(private readonly clock: Clock = systemClock) {}

  addDevice(deviceId: string = newDeviceId()): DeviceCredentials {
    const key = { keyId: 'k1', secret: randomBytes(32) };
    this.devices.set(deviceId, { keys: [key], revoked: false });
    return { deviceId, ...key };
  }

  revoke(deviceId: string): void {
    const d = this.devices.get(deviceId);
    if (d) d.revoked = true;
  }

  /** Everything the sink holds for a device (to assert "nothing stored"). */
  storedFor(deviceId: string): { events: number; thumbnails: number; heartbeats: number } {
    const prefix = `${deviceId}|`;
    return {
      events: [...this.messages.keys()].filter((k) => k.startsWith(prefix)).length,
      thumbnails: [...this.thumbnails.keys()].filter((k) => k.startsWith(prefix)).length,
      heartbeats: this.heartbeats.filter((h) => h.deviceId === deviceId).length,
    };
  }

  async activeKeys(deviceId: string): Promise<DeviceKey[] | undefined> {
    const d = this.devices.get(deviceId);
    return d && !d.revoked ? d.keys : undefined;
  }

  async rememberNonce(deviceId: string, nonce: string, expiresAtMs: number): Promise<boolean> {
    if (await this.nonceRecorded(deviceId, nonce)) return false;
    this.nonces.set(`${deviceId}|${nonce}`, expiresAtMs);
    return true;
  }

  async nonceRecorded(deviceId: string, nonce: string): Promise<boolean> {
    const exp = this.nonces.get(`${deviceId}|${nonce}`);
    return exp !== undefined && exp > this.clock.now();
  }

  private maybeFail(): void {
    this.storeCalls++;
    if (this.failStores > 0) {
      this.failStores--;
      throw new Error('database unavailable (test)');
    }
  }

  async storeEventMessages(
    deviceId: string,
    events: readonly Sink.IngestTopicMessage[],
    receivedAtMs: number,
  ): Promise<Sink.StoreEventResult[]> {
    this.maybeFail();
    // All-or-nothing like a transaction: decide first, then write.
    const out: Sink.StoreEventResult[] = [];
    const writes: [string, { fingerprint: string; event: Sink.WireObject; receivedAtMs: number }][] = [];
    for (const m of events) {
      const k = `${deviceId}|${m.id}|${m.rev}`;
      const prior = this.messages.get(k) ?? writes.find(([wk]) => wk === k)?.[1];
      if (!prior) {
        const wire = m.kind === 'review' ? m.review : m.event;
        writes.push([k, { fingerprint: m.contentSha256, event: wire, receivedAtMs }]);
        out.push({ id: m.id, rev: m.rev, status: 'stored' });
      } else if (prior.fingerprint === m.contentSha256) out.push({ id: m.id, rev: m.rev, status: 'duplicate' });
      else
        out.push({
          id: m.id,
          rev: m.rev,
          status: 'conflict',
          code: 'event_conflict',
          message: `event ${m.id} rev ${m.rev} was already accepted with different content`,
        });
    }
    for (const [k, v] of writes) this.messages.set(k, v);
    return out;
  }

  /** Like one transaction: a replay refused, or a store that throws, leaves the nonce unrecorded. */
  async storeSignedEventMessages(
    deviceId: string,
    events: readonly Sink.IngestTopicMessage[],
    receivedAtMs: number,
    claim: Sink.NonceClaim,
  ): Promise<Sink.StoreEventResult[]> {
    if ((await this.nonceRecorded(deviceId, claim.nonce)) && claim.onReplay === 'reject') {
      throw new VigilError(SigningErrorCode.replay, 'nonce already used within the replay window');
    }
    const results = await this.storeEventMessages(deviceId, events, receivedAtMs);
    this.nonces.set(`${deviceId}|${claim.nonce}`, claim.expiresAtMs);
    return results;
  }

  async eventForThumbnail(
    deviceId: string,
    eventId: string,
  ): Promise<{ announced: Sink.AnnouncedThumbnail | null } | undefined> {
    let latest: { rev: number; event: Sink.WireObject } | undefined;
    for (const [k, v] of this.messages) {
      const [dev, id, rev] = k.split('|');
      if (dev === deviceId && id === eventId && (!latest || Number(rev) > latest.rev))
        latest = { rev: Number(rev), event: v.event };
    }
    if (!latest) return undefined;
    const t = latest.event.thumbnail as { sha256?: string; size?: number } | undefined;
    return {
      announced:
        t && typeof t.sha256 === 'string' && typeof t.size === 'number' ? { sha256: t.sha256, size: t.size } : null,
    };
  }

  async putThumbnail(
    deviceId: string,
    eventId: string,
    stream: Readable,
    expected: Sink.ThumbnailExpectation,
  ): Promise<Sink.ThumbnailResult> {
    this.maybeFail();
    const k = `${deviceId}|${eventId}`;
    const chunks: Buffer[] = [];
    let written = 0;
    try {
      for await (const chunk of stream) {
        chunks.push(chunk as Buffer);
        written += (chunk as Buffer).length;
      }
    } catch (err) {
      this.discardedThumbnailBytes += written;
      throw err;
    }
    const prior = this.thumbnails.get(k);
    if (prior && prior.sha256 === expected.sha256) return { status: 'duplicate' };
    this.thumbnails.set(k, { bytes: Buffer.concat(chunks), sha256: expected.sha256 });
    return { status: 'stored' };
  }

  async recordHeartbeat(deviceId: string, heartbeat: Sink.IngestHeartbeat, skewS: number): Promise<void> {
    this.maybeFail();
    this.heartbeats.push({ deviceId, heartbeat, skewS });
  }

  async noteContact(deviceId: string, contact: Sink.DeviceContact): Promise<void> {
    this.contacts.push({ deviceId, contact });
  }

  publish(change: Sink.IngestChange): void {
    this.published.push(change);
  }
}
