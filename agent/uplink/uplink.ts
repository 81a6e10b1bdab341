import type { OffsetClock } from '../../shared/clock/index.js';
import { describeError, isVigilError } from '../../shared/errors/index.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import { BATCH_MAX_BYTES, BATCH_MAX_EVENTS, EVENT_MAX_BYTES } from '../../firmware-protocol/limits.js';
import { wireErrorInfo } from '../../firmware-protocol/errors.js';
import { SigningErrorCode } from '../../shared/signing/index.js';
import { backoffDelayMs, type BackoffPolicy } from '../outbox/backoff.js';
import type { ClaimedItem, EnqueueOptions, EnqueueResult, ItemRef, Outbox, OutboxEvent } from '../outbox/index.js';
import { adjustToServerTime } from './clock-skew.js';
import { buildHeartbeat, type CameraStatus } from './heartbeat.js';
import type { Ack, SendResult, Transport, TransportFailure } from './types.js';

/**
 * The uplink drains the outbox through one transport: claim due items (event records in batches, then
 * thumbnails), sign and send them, and settle them by the collector's end-to-end acks. Items stay in_flight until
 * an ack names them; a lease that runs out puts them back (the collector answers a re-send with `duplicate`).
 *
 * Failure policy (firmware-protocol error catalogue `retry` advice):
 * - clock skew (`timestamp_out_of_tolerance`): correct the clock offset from the collector's time, retry at once;
 * - Retry-After (429/503): wait that long, for this request and the whole transport;
 * - 5xx, timeouts, network errors, broker gone: exponential backoff per item and for the transport;
 * - `drop` advice and unknown 4xx: the item is dead (kept with its code, visible, retryable from the CLI);
 * - `re_pair` (credentials refused): keep everything, pause, log loudly.
 */
export interface UplinkOptions {
  outbox: Outbox;
  transport: Transport;
  deviceId: string;
  /** Corrected clock used for signatures and message times; the uplink adjusts its offset. */
  clock: OffsetClock;
  logger?: Logger;
  version?: string;
  /** Events per message (≤ 100). */
  batchMaxEvents?: number;
  /** Bytes of event JSON per message (kept under the 512 KiB batch limit). */
  batchMaxBytes?: number;
  /** How long a sent item waits for its end-to-end ack before it is sent again. */
  ackTimeoutMs?: number;
  /** Most items in flight (sent, not yet acked) at once. */
  maxInFlightItems?: number;
  /** Sends in progress at once (HTTP requests / MQTT publishes awaiting PUBACK). */
  concurrency?: number;
  /** Heartbeat period; 0 turns heartbeats off. */
  heartbeatIntervalMs?: number;
  cameras?: () => CameraStatus[];
  pruneIntervalMs?: number;
  /** Longest sleep when idle (picks up items enqueued by other processes, e.g. `outbox retry`). */
  idlePollMs?: number;
  /** Pause of the whole transport after consecutive failures. */
  transportBackoff?: BackoffPolicy;
  /** Pause after the collector refused the device's credentials. */
  rePairPauseMs?: number;
  /**
   * An HTTPS transport used only to learn the collector's time when MQTT acks fail the timestamp check (protocol
   * §6/§7): a heartbeat is sent over it and the answer's time sets the offset. Without it the uplink takes the time
   * from the stale ack's signed `server_time`.
   */
  clockSync?: Transport;
  /** Clock differences below this are left alone (the HTTP Date header has 1 s resolution). */
  clockSlackMs?: number;
  /**
   * Most messages (event batches, thumbnails) per second, with a burst allowance; 0 turns the limit off. The
   * default stays under the collector's default per-device limit (20/s, burst 200): over MQTT a message above the
   * collector's limit is not acked at all and only comes back after the ack timeout.
   */
  messagesPerSecond?: number;
  messageBurst?: number;
  /** This run's boot id (Heartbeat.boot_id): a random id drawn at every daemon start. */
  bootId?: string;
}

export interface UplinkMetrics {
  eventMessages: number;
  eventsSent: number;
  thumbnailsSent: number;
  heartbeatsSent: number;
  acked: number;
  rejected: number;
  failures: number;
  clockAdjustments: number;
}

const SKEW = SigningErrorCode.timestamp;

export class Uplink {
  readonly metrics: UplinkMetrics = { eventMessages: 0, eventsSent: 0, thumbnailsSent: 0, heartbeatsSent: 0, acked: 0, rejected: 0, failures: 0, clockAdjustments: 0 };
  private readonly o: Required<Omit<UplinkOptions, 'cameras' | 'logger' | 'clockSync' | 'bootId'>> & Pick<UplinkOptions, 'cameras' | 'clockSync' | 'bootId'>;
  private readonly log: Logger;
  private running = false;
  private pumpDone: Promise<void> | undefined;
  private readonly sending = new Set<Promise<void>>();
  private wake: (() => void) | undefined;
  private pausedUntil = 0;
  private consecutiveFailures = 0;
  private consecutiveSkew = 0;
  private nextLeaseCheck = 0;
  private nextPrune = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private lastAckAtMs: number | null = null;
  private deadSinceStart = 0;
  private droppedAtStart = 0;
  private readonly startedAtMs = Date.now();
  private lastClockSync = 0;
  private tokens = 0;
  private tokensAt = Date.now();

  constructor(options: UplinkOptions) {
    this.o = {
      version: '0.0.0',
      batchMaxEvents: BATCH_MAX_EVENTS,
      batchMaxBytes: BATCH_MAX_BYTES - 2 * EVENT_MAX_BYTES,
      ackTimeoutMs: 30_000,
      maxInFlightItems: 2_000,
      concurrency: 4,
      heartbeatIntervalMs: 30_000,
      pruneIntervalMs: 60_000,
      idlePollMs: 1_000,
      transportBackoff: { baseMs: 1_000, maxMs: 60_000 },
      rePairPauseMs: 60_000,
      clockSlackMs: 5_000,
      messagesPerSecond: 18,
      messageBurst: 180,
      ...options,
    };
    this.o.batchMaxEvents = Math.min(BATCH_MAX_EVENTS, Math.max(1, this.o.batchMaxEvents));
    this.tokens = this.o.messageBurst;
    this.log = options.logger ?? silentLogger();
  }

  get outbox(): Outbox {
    return this.o.outbox;
  }

  /** Recovers leases of a previous run, connects, and starts draining. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.o.outbox.recoverInFlight();
    this.droppedAtStart = this.o.outbox.stats().dropped;
    await this.o.transport.start(
      (ack, meta) => this.applyAck(ack, meta.stale),
      () => this.onTransportReady(),
    );
    if (this.o.clockSync) await this.o.clockSync.start(() => undefined, () => undefined);
    this.pumpDone = this.pump();
    if (this.o.heartbeatIntervalMs > 0) {
      this.heartbeatTimer = setInterval(() => void this.sendHeartbeat(), this.o.heartbeatIntervalMs);
      this.heartbeatTimer.unref();
    }
  }

  /** (Re)connected: what backed off during the outage goes now. */
  private onTransportReady(): void {
    try {
      const n = this.o.outbox.expedite();
      if (n > 0) this.log.info({ items: n }, 'uplink: connected; backed-off items are due now');
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'uplink: could not expedite backed-off items');
    }
    this.consecutiveFailures = 0;
    this.pausedUntil = 0;
    this.notify();
  }

  /** Enqueues an event (and its thumbnail) durably and wakes the sender. Throws what `Outbox.enqueue` throws. */
  enqueue(event: OutboxEvent, thumbnail?: Uint8Array, options?: EnqueueOptions): EnqueueResult {
    const result = this.o.outbox.enqueue(event, thumbnail, options);
    this.notify();
    return result;
  }

  /** Wakes the sender: call after enqueueing so new events go out at once. */
  notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Stops sending, waits for sends in progress, closes the transport. Un-acked items stay in the outbox. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.notify();
    await this.pumpDone;
    await Promise.allSettled([...this.sending]);
    await this.o.transport.close();
    await this.o.clockSync?.close();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      const self = this;
      function done(): void {
        clearTimeout(timer);
        if (self.wake === done) self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }

  private async pump(): Promise<void> {
    const ob = this.o.outbox;
    while (this.running) {
      try {
        const now = Date.now();
        if (now >= this.nextLeaseCheck) {
          ob.releaseExpiredLeases();
          this.nextLeaseCheck = now + Math.min(1_000, Math.max(50, this.o.ackTimeoutMs / 4));
        }
        if (now >= this.nextPrune) {
          ob.prune();
          this.nextPrune = now + this.o.pruneIntervalMs;
        }
        if (!this.o.transport.isReady()) {
          await this.sleep(this.o.idlePollMs);
          continue;
        }
        if (now < this.pausedUntil) {
          await this.sleep(Math.min(this.pausedUntil - now, this.o.idlePollMs));
          continue;
        }
        const tokenWait = this.takeToken(now, false);
        if (tokenWait > 0) {
          await this.sleep(tokenWait);
          continue;
        }
        if (this.sending.size >= this.o.concurrency || ob.inFlightCount() >= this.o.maxInFlightItems) {
          await this.sleep(Math.min(this.o.idlePollMs, this.o.ackTimeoutMs / 4));
          continue;
        }
        const events = ob.claim({ kind: 'event', limit: this.o.batchMaxEvents, maxBytes: this.o.batchMaxBytes, leaseMs: this.o.ackTimeoutMs });
        if (events.length > 0) {
          this.takeToken(now, true);
          this.track(this.sendEvents(events));
          continue;
        }
        const thumbs = ob.claim({ kind: 'thumbnail', limit: 1, leaseMs: this.o.ackTimeoutMs });
        if (thumbs[0]) {
          this.takeToken(now, true);
          this.track(this.sendThumbnail(thumbs[0]));
          continue;
        }
        // Nothing claimable. A due item may still be waiting on a dependency (a thumbnail whose event record is in
        // flight): never spin — an ack or an enqueue wakes the loop anyway.
        const wakeAt = ob.nextWakeAt();
        await this.sleep(Math.max(20, Math.min(this.o.idlePollMs, wakeAt === null ? Infinity : wakeAt - Date.now())));
      } catch (err) {
        // e.g. a full disk while claiming: keep the loop alive, try again shortly. The outbox logs the disk-full
        // state once when it starts and once when it ends; repeating it here every second would only bury that.
        if (isVigilError(err, 'outbox_disk_full')) this.log.debug({ err: describeError(err) }, 'uplink: send loop waits for disk space');
        else this.log.error({ err: describeError(err) }, 'uplink: send loop error');
        await this.sleep(1_000);
      }
    }
  }

  /** Token bucket for messages: returns ms to wait for a token (0 = one is available; `take` spends it). */
  private takeToken(now: number, take: boolean): number {
    const rate = this.o.messagesPerSecond;
    if (rate <= 0) return 0;
    this.tokens = Math.min(this.o.messageBurst, this.tokens + ((now - this.tokensAt) / 1000) * rate);
    this.tokensAt = now;
    if (this.tokens >= 1) {
      if (take) this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) / rate) * 1000);
  }

  private track(p: Promise<void>): void {
    const tracked: Promise<void> = p
      .catch((err) => this.log.error({ err: describeError(err) }, 'uplink: send failed unexpectedly'))
      .finally(() => {
        this.sending.delete(tracked);
        this.notify();
      });
    this.sending.add(tracked);
  }

  /** The stored event with `sent_at` set to now: the one field a resend may change (protocol §3). */
  private withSentAt(body: Buffer): string {
    const event = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    event.sent_at = new Date(this.o.clock.now()).toISOString();
    return JSON.stringify(event);
  }

  private async sendEvents(items: ClaimedItem[]): Promise<void> {
    const events = items.map((it) => this.withSentAt(it.body));
    const body = Buffer.from(events.length === 1 ? events[0]! : `{"v":1,"events":[${events.join(',')}]}`, 'utf8');
    this.metrics.eventMessages++;
    this.metrics.eventsSent += items.length;
    const result = await this.o.transport.sendEvents(body);
    this.settle(items, result);
  }

  private async sendThumbnail(item: ClaimedItem): Promise<void> {
    this.metrics.thumbnailsSent++;
    const result = await this.o.transport.sendThumbnail(item.eventId, item.body);
    this.settle([item], result);
  }

  private settle(items: ClaimedItem[], result: SendResult): void {
    if (result.failure) {
      this.handleFailure(items, result.failure);
      return;
    }
    if (this.consecutiveFailures > 0) {
      // The collector answers again after a run of failures: stop waiting out item backoffs earned during it.
      this.consecutiveFailures = 0;
      this.o.outbox.expedite();
    }
    if (result.serverTimeMs !== undefined) this.maybeAdjustClock(result.serverTimeMs, 'collector Date header');
    if (result.ack) this.applyAck(result.ack, false);
  }

  /** Follows the collector's clock when it differs by more than the slack (protocol §7 SHOULD). */
  private maybeAdjustClock(serverMs: number, why: string): void {
    if (Number.isFinite(serverMs) && Math.abs(serverMs - this.o.clock.now()) > this.o.clockSlackMs) this.adjustClock(serverMs, why);
  }

  /** Learns the collector's time over HTTPS (a heartbeat), at most every 10 s. */
  private async syncClockOverHttps(fallbackServerMs: number): Promise<void> {
    const now = Date.now();
    if (now - this.lastClockSync < 10_000) return;
    this.lastClockSync = now;
    const sync = this.o.clockSync;
    if (!sync) {
      this.maybeAdjustClock(fallbackServerMs, 'signed server_time of an ack outside the time window');
      return;
    }
    const result = await sync.sendHeartbeat(Buffer.from(JSON.stringify(this.heartbeat())));
    const serverMs = result.failure?.serverTimeMs ?? result.serverTimeMs;
    if (serverMs !== undefined) this.maybeAdjustClock(serverMs, 'clock sync over HTTPS');
    else this.maybeAdjustClock(fallbackServerMs, 'signed server_time of an ack outside the time window');
    if (result.failure?.code === SKEW) {
      // The heartbeat itself was refused for the skew; once corrected, send one that counts.
      await sync.sendHeartbeat(Buffer.from(JSON.stringify(this.heartbeat())));
    }
  }

  private adjustClock(serverMs: number, why: string): void {
    const change = adjustToServerTime(this.o.clock, serverMs);
    if (Math.abs(change) >= 1_000) {
      this.metrics.clockAdjustments++;
      this.log.warn({ change_ms: change, offset_ms: this.o.clock.offsetMs, why }, 'uplink: corrected the clock offset from the collector time');
    }
    // Everything in flight was signed with the wrong clock and will never be acked: send it again now.
    if (Math.abs(change) > 250_000) this.o.outbox.recoverInFlight();
  }

  private handleFailure(refs: readonly ItemRef[], f: TransportFailure): void {
    const ob = this.o.outbox;
    this.metrics.failures++;
    const advice = wireErrorInfo(f.code)?.retry;
    if (f.code === SKEW && this.consecutiveSkew < 3) {
      this.consecutiveSkew++;
      if (f.serverTimeMs !== undefined) this.adjustClock(f.serverTimeMs, f.code);
      ob.retryLater(refs, { code: f.code, message: f.message, delayMs: 0 });
      return;
    }
    if (f.retryAfterMs !== undefined) {
      this.pausedUntil = Math.max(this.pausedUntil, Date.now() + f.retryAfterMs);
      ob.retryLater(refs, { code: f.code, message: f.message, delayMs: f.retryAfterMs });
      this.log.warn({ code: f.code, retry_after_ms: f.retryAfterMs }, 'uplink: collector asked to wait');
      return;
    }
    const is4xx = f.status !== undefined && f.status >= 400 && f.status < 500;
    if (advice === 'drop' || (is4xx && advice === undefined)) {
      const n = ob.markDead(refs, { code: f.code, message: f.message });
      this.deadSinceStart += n;
      return;
    }
    if (advice === 're_pair') {
      this.pausedUntil = Date.now() + this.o.rePairPauseMs;
      ob.retryLater(refs, { code: f.code, message: f.message, delayMs: this.o.rePairPauseMs });
      this.log.error({ code: f.code }, `uplink: the collector refuses this device's credentials (${f.message}); nothing is dropped, pair the device again`);
      return;
    }
    ob.retryLater(refs, { code: f.code, message: f.message });
    if (advice === undefined || f.code === 'internal_error' || f.code === 'service_unavailable') {
      // Transport-level trouble (5xx, timeout, network, broker): slow the whole transport down, not just these items.
      this.consecutiveFailures++;
      const pause = backoffDelayMs(this.consecutiveFailures, this.o.transportBackoff);
      this.pausedUntil = Math.max(this.pausedUntil, Date.now() + pause);
      this.log.warn({ code: f.code, pause_ms: pause, failures: this.consecutiveFailures }, `uplink: send failed: ${f.message}`);
    }
  }

  /** Settles outbox items by a collector ack. A `stale` ack (signature good, timestamp outside the window) only triggers a clock sync. */
  applyAck(ack: Ack, stale: boolean): void {
    const ob = this.o.outbox;
    if (stale) {
      // Protocol §6: an ack that fails only the timestamp check settles nothing; it means the box clock is off.
      // The items stay in flight and are re-sent after the clock is fixed (the collector answers `duplicate`).
      void this.syncClockOverHttps(Date.parse(ack.server_time)).catch((err) => this.log.warn({ err: describeError(err) }, 'uplink: clock sync failed'));
      return;
    }
    this.maybeAdjustClock(Date.parse(ack.server_time), 'ack server_time');
    const ok: ItemRef[] = [];
    const rejected = new Map<string, { refs: ItemRef[]; message: string; code: string }>();
    let anyItem = false;
    for (const a of ack.acks) {
      if (a.kind === 'heartbeat') {
        this.lastAckAtMs = Date.now();
        continue;
      }
      const ref = ob.refForAck(a.kind, a.id, a.rev);
      if (!ref) continue;
      anyItem = true;
      if (a.status === 'accepted' || a.status === 'duplicate') {
        ok.push(ref);
        continue;
      }
      const code = a.code ?? 'rejected';
      const group = rejected.get(code) ?? { refs: [], message: a.message ?? code, code };
      group.refs.push(ref);
      rejected.set(code, group);
    }
    if (anyItem) this.lastAckAtMs = Date.now();
    if (ok.length > 0) {
      this.metrics.acked += ob.ack(ok);
      this.consecutiveSkew = 0;
    }
    const skew = rejected.get(SKEW);
    if (skew) {
      this.adjustClock(Date.parse(ack.server_time), SKEW);
      this.metrics.rejected += skew.refs.length;
      this.handleFailure(skew.refs, { code: SKEW, message: skew.message });
      rejected.delete(SKEW);
    }
    for (const g of rejected.values()) {
      this.metrics.rejected += g.refs.length;
      this.handleFailure(g.refs, { code: g.code, message: g.message, status: 400 });
    }
    if (rejected.size > 0 || ok.length > 0) this.notify();
  }

  private async sendHeartbeat(): Promise<void> {
    if (!this.o.transport.isReady()) return;
    try {
      const hb = this.heartbeat();
      this.metrics.heartbeatsSent++;
      const result = await this.o.transport.sendHeartbeat(Buffer.from(JSON.stringify(hb)));
      if (result.ack) this.applyAck(result.ack, false);
      if (result.failure?.code === SKEW && result.failure.serverTimeMs !== undefined) this.adjustClock(result.failure.serverTimeMs, 'heartbeat');
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'uplink: heartbeat failed');
    }
  }

  private heartbeat(): ReturnType<typeof buildHeartbeat> {
    return buildHeartbeat({
        deviceId: this.o.deviceId,
        version: this.o.version,
        clock: this.o.clock,
        outbox: this.o.outbox,
        startedAtMs: this.startedAtMs,
        droppedSinceStart: () => Math.max(0, this.o.outbox.stats().dropped - this.droppedAtStart) + this.deadSinceStart,
        lastAckAtMs: () => this.lastAckAtMs,
        ...(this.o.cameras ? { cameras: this.o.cameras } : {}),
        ...(this.o.bootId ? { bootId: this.o.bootId } : {}),
      });
  }

  /** A read-only view for the daemon's local status endpoint. */
  status(): { running: boolean; transport: string; connected: boolean; pausedUntilMs: number | null; consecutiveFailures: number; lastAckAtMs: number | null; clockOffsetMs: number } {
    return {
      running: this.running,
      transport: this.o.transport.name,
      connected: this.o.transport.isReady(),
      pausedUntilMs: this.pausedUntil > Date.now() ? this.pausedUntil : null,
      consecutiveFailures: this.consecutiveFailures,
      lastAckAtMs: this.lastAckAtMs,
      clockOffsetMs: this.o.clock.offsetMs,
    };
  }

  /** Sends one heartbeat now (the timer does this every heartbeatIntervalMs). */
  heartbeatNow(): Promise<void> {
    return this.sendHeartbeat();
  }
}
