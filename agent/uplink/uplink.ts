import type { OffsetClock } from '../../shared/clock/index.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import { BATCH_MAX_BYTES, BATCH_MAX_EVENTS, EVENT_MAX_BYTES } from '../../firmware-protocol/limits.js';
import { describeError, isVigilError } from '../errors.js';
import type { BackoffPolicy } from '../outbox/backoff.js';
import type { ClaimedItem, EnqueueOptions, EnqueueResult, ItemRef, Outbox, OutboxEvent } from '../outbox/index.js';
import { ClockCorrector, SKEW } from './clock-skew.js';
import { UPLINK_DEFAULTS, type UplinkSettings } from './config.js';
import { decideFailure, type FailurePolicy, type FailureState } from './failure-policy.js';
import { buildHeartbeat, type CameraStatus, type HeartbeatSource } from './heartbeat.js';
import { MessageRateLimit } from './rate-limit.js';
import { ReviewDelivery } from './review-delivery.js';
import type { Ack, SendResult, Transport, TransportFailure } from './types.js';

export interface UplinkOptions extends Partial<UplinkSettings> {
  outbox: Outbox;
  transport: Transport;
  deviceId: string;
  /** Corrected clock used for signatures and message times; the uplink adjusts its offset. */
  clock: OffsetClock;
  logger?: Logger;
  version?: string;
  /** Bytes of event JSON per message (kept under the 512 KiB batch limit). */
  batchMaxBytes?: number;
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
  /** This run's boot id (Heartbeat.boot_id): a random id drawn at every daemon start. */
  bootId?: string;
  model?: HeartbeatSource['model'];
}

/** Settings that are not in the config file (the config's own come from its schema: UPLINK_DEFAULTS). */
const TUNING = {
  version: '0.0.0',
  batchMaxBytes: BATCH_MAX_BYTES - 2 * EVENT_MAX_BYTES,
  pruneIntervalMs: 60_000,
  idlePollMs: 1_000,
  transportBackoff: { baseMs: 1_000, maxMs: 60_000 },
  rePairPauseMs: 60_000,
  clockSlackMs: 5_000,
};
/** Clock-skew refusals in a row retried at once with a corrected clock (failure-policy.ts). */
const MAX_SKEW_RETRIES = 3;
/** Options the uplink may run without. */
type Optional = 'cameras' | 'clockSync' | 'bootId' | 'model';

/** The uplink as the daemon's status endpoint shows it. */
export interface UplinkStatus {
  running: boolean;
  transport: string;
  connected: boolean;
  pausedUntilMs: number | null;
  consecutiveFailures: number;
  lastAckAtMs: number | null;
  clockOffsetMs: number;
}

export interface UplinkMetrics {
  eventMessages: number;
  eventsSent: number;
  /** Review records sent (one per message), resends included. */
  reviewsSent: number;
  /** Result records (command results) sent (one per message), resends included. */
  resultsSent: number;
  thumbnailsSent: number;
  heartbeatsSent: number;
  acked: number;
  rejected: number;
  failures: number;
  clockAdjustments: number;
}

/**
 * The uplink is the sender: it drains the outbox through one transport — claim due items (event records in
 * batches, then thumbnails), sign and send them, and settle them by the collector's end-to-end acks. Items stay
 * in_flight until an ack names them; a lease that runs out puts them back (the collector answers a re-send with
 * `duplicate`). Its parts: the message rate limit (rate-limit.ts), what a failure means (failure-policy.ts, a pure
 * function), clock correction (clock-skew.ts) and the heartbeat (heartbeat.ts).
 */
export class Uplink {
  readonly metrics: UplinkMetrics = {
    eventMessages: 0,
    eventsSent: 0,
    reviewsSent: 0,
    resultsSent: 0,
    thumbnailsSent: 0,
    heartbeatsSent: 0,
    acked: 0,
    rejected: 0,
    failures: 0,
    clockAdjustments: 0,
  };
  private readonly o: Required<Omit<UplinkOptions, Optional | 'logger'>> & Pick<UplinkOptions, Optional>;
  private readonly log: Logger;
  private running = false;
  private pumpDone: Promise<void> | undefined;
  private readonly sending = new Set<Promise<void>>();
  private wake: (() => void) | undefined;
  /** Failure bookkeeping: skew and transport failures in a row, the transport's pause (failure-policy.ts). */
  private failures: FailureState = { consecutiveSkew: 0, consecutiveFailures: 0, pausedUntilMs: 0 };
  private readonly policy: FailurePolicy;
  private readonly rate: MessageRateLimit;
  private readonly clockFix: ClockCorrector;
  /** Review records: sent alone, acked by kind review, let go quietly by a collector from before them. */
  readonly reviews: ReviewDelivery;
  private nextLeaseCheck = 0;
  private nextPrune = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private lastAckAtMs: number | null = null;
  private deadSinceStart = 0;
  private droppedAtStart = 0;
  private readonly startedAtMs = Date.now();

  constructor(options: UplinkOptions) {
    this.o = { ...TUNING, ...UPLINK_DEFAULTS, ...options };
    this.o.batchMaxEvents = Math.min(BATCH_MAX_EVENTS, Math.max(1, this.o.batchMaxEvents));
    this.log = options.logger ?? silentLogger();
    const { rePairPauseMs, transportBackoff } = this.o;
    this.policy = { maxSkewRetries: MAX_SKEW_RETRIES, rePairPauseMs, transportBackoff };
    this.rate = new MessageRateLimit(this.o.messagesPerSecond, this.o.messageBurst);
    this.reviews = new ReviewDelivery(this.o.outbox, this.log, () => this.lastAckAtMs);
    this.clockFix = new ClockCorrector({
      clock: this.o.clock,
      log: this.log,
      slackMs: this.o.clockSlackMs,
      clockSync: this.o.clockSync,
      heartbeat: () => Buffer.from(JSON.stringify(this.heartbeat())),
      onCorrected: () => void this.metrics.clockAdjustments++,
      resendInFlight: () => void this.o.outbox.recoverInFlight(),
    });
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
    if (this.o.clockSync)
      await this.o.clockSync.start(
        () => undefined,
        () => undefined,
      );
    this.pumpDone = this.pump();
    if (this.o.heartbeatIntervalMs > 0) {
      this.heartbeatTimer = setInterval(() => void this.sendHeartbeat(), this.o.heartbeatIntervalMs);
      this.heartbeatTimer.unref();
    }
  }

  /** (Re)connected: what backed off during the outage goes now. */
  private onTransportReady(): void {
    this.collectorBack('connected');
  }

  /**
   * The collector answers again (a connection, a send or a heartbeat got through): the transport pause and the
   * item backoffs earned during the outage end, and what waited goes now.
   */
  private collectorBack(how: string): void {
    try {
      const n = this.o.outbox.expedite();
      if (n > 0) this.log.info({ items: n }, `uplink: ${how}; backed-off items are due now`);
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'uplink: could not expedite backed-off items');
    }
    this.failures = { ...this.failures, consecutiveFailures: 0, pausedUntilMs: 0 };
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
        const { pausedUntilMs } = this.failures;
        if (now < pausedUntilMs) {
          await this.sleep(Math.min(pausedUntilMs - now, this.o.idlePollMs));
          continue;
        }
        const tokenWait = this.rate.waitMs(now);
        if (tokenWait > 0) {
          await this.sleep(tokenWait);
          continue;
        }
        if (this.sending.size >= this.o.concurrency || ob.inFlightCount() >= this.o.maxInFlightItems) {
          await this.sleep(Math.min(this.o.idlePollMs, this.o.ackTimeoutMs / 4));
          continue;
        }
        const leaseMs = this.o.ackTimeoutMs;
        const batch = { limit: this.o.batchMaxEvents, maxBytes: this.o.batchMaxBytes };
        const events = ob.claim({ kind: 'event', ...batch, leaseMs });
        if (events.length > 0) {
          this.rate.take(now);
          this.track(this.sendEvents(events));
          continue;
        }
        // Review records after the due event records, one per message (PROTOCOL.md §2.1).
        const review = this.reviews.canSend()
          ? this.reviews.beforeSend(ob.claim({ kind: 'review', limit: 1, leaseMs }), now)[0]
          : undefined;
        if (review) {
          this.rate.take(now);
          this.track(this.sendReview(review));
          continue;
        }
        // Command results (acked kind result, PROTOCOL.md §6), then thumbnails: one item per message.
        const one = (kind: 'result' | 'thumbnail'): ClaimedItem | undefined => ob.claim({ kind, limit: 1, leaseMs })[0];
        const single = one('result') ?? one('thumbnail');
        if (single) {
          this.rate.take(now);
          this.track(this.sendItem(single));
          continue;
        }
        // Nothing claimable. A due item may still be waiting on a dependency (a thumbnail whose event record is in
        // flight): never spin — an ack or an enqueue wakes the loop anyway.
        const wakeAt = ob.nextWakeAt();
        await this.sleep(Math.max(20, Math.min(this.o.idlePollMs, wakeAt === null ? Infinity : wakeAt - Date.now())));
      } catch (err) {
        // e.g. a full disk while claiming: keep the loop alive, try again shortly. The outbox logs the disk-full
        // state once when it starts and once when it ends; repeating it here every second would only bury that.
        const fields = { err: describeError(err) };
        if (isVigilError(err, 'outbox_disk_full')) this.log.debug(fields, 'uplink: send loop waits for disk space');
        else this.log.error(fields, 'uplink: send loop error');
        await this.sleep(1_000);
      }
    }
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

  private async sendReview(item: ClaimedItem): Promise<void> {
    this.metrics.reviewsSent++;
    const result = await this.o.transport.sendEvents(Buffer.from(this.withSentAt(item.body), 'utf8'));
    if (result.failure) this.reviews.answered(item);
    this.settle([item], result);
  }

  /** A thumbnail or a result record (the command id in `eventId`). */
  private async sendItem(item: ClaimedItem): Promise<void> {
    const t = this.o.transport;
    const thumbnail = item.kind === 'thumbnail';
    this.metrics[thumbnail ? 'thumbnailsSent' : 'resultsSent']++;
    const send = thumbnail ? t.sendThumbnail(item.eventId, item.body) : t.sendResult(item.eventId, item.body);
    this.settle([item], await send);
  }

  private settle(items: ClaimedItem[], result: SendResult): void {
    if (result.failure) {
      this.handleFailure(items, result.failure);
      return;
    }
    if (this.failures.consecutiveFailures > 0) this.collectorBack('the collector answers again');
    if (result.serverTimeMs !== undefined) this.clockFix.follow(result.serverTimeMs, 'collector Date header');
    if (result.ack) this.applyAck(result.ack, false);
  }

  /** Applies the failure policy (failure-policy.ts) to the items of a failed send or a rejected ack group. */
  private handleFailure(refs: readonly ItemRef[], f: TransportFailure): void {
    const ob = this.o.outbox;
    this.metrics.failures++;
    const input = { failure: f, state: this.failures, nowMs: Date.now(), jitter: Math.random() };
    const d = decideFailure(input, this.policy);
    this.failures = d.state;
    if (d.clockTo !== undefined) this.clockFix.correct(d.clockTo, f.code);
    const reason = { code: f.code, message: f.message };
    if (d.action === 'drop') {
      // A review record dropped by the collector goes quietly (a collector from before review items).
      const reviews = refs.filter((r) => r.kind === 'review');
      if (reviews.length > 0) this.reviews.dropped(reviews, f);
      this.deadSinceStart += ob.markDead(
        refs.filter((r) => r.kind !== 'review'),
        reason,
      );
      return;
    }
    ob.retryLater(refs, d.retryInMs === undefined ? reason : { ...reason, delayMs: d.retryInMs });
    if (d.action === 'wait') {
      this.log.warn({ code: f.code, retry_after_ms: d.retryInMs }, 'uplink: collector asked to wait');
    }
    if (d.action === 're_pair') {
      const why = `the collector refuses this device's credentials (${f.message})`;
      this.log.error({ code: f.code }, `uplink: ${why}; nothing is dropped, pair the device again`);
    }
    if (d.transportPauseMs !== undefined) {
      const fields = { code: f.code, pause_ms: d.transportPauseMs, failures: d.state.consecutiveFailures };
      this.log.warn(fields, `uplink: send failed: ${f.message}`);
    }
  }

  /**
   * Settles outbox items by a collector ack. A `stale` ack (signature good, timestamp outside the window) only
   * triggers a clock sync.
   */
  applyAck(ack: Ack, stale: boolean): void {
    const ob = this.o.outbox;
    if (stale) {
      // Protocol §6: an ack that fails only the timestamp check settles nothing; it means the box clock is off.
      // The items stay in flight and are re-sent after the clock is fixed (the collector answers `duplicate`).
      const serverMs = Date.parse(ack.server_time);
      const failed = (err: unknown): void => this.log.warn({ err: describeError(err) }, 'uplink: clock sync failed');
      void this.clockFix.syncOverHttps(serverMs).catch(failed);
      return;
    }
    this.clockFix.follow(Date.parse(ack.server_time), 'ack server_time');
    const ok: ItemRef[] = [];
    const rejected = new Map<string, { refs: ItemRef[]; message: string; code: string }>();
    let anyItem = false;
    for (const a of ack.acks) {
      if (a.kind === 'heartbeat') {
        this.lastAckAtMs = Date.now();
        continue;
      }
      const reviewRef = this.reviews.refOf(a);
      if (reviewRef) {
        anyItem = true;
        this.reviews.settle(reviewRef, a);
        this.notify();
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
      this.failures = { ...this.failures, consecutiveSkew: 0 };
    }
    const skew = rejected.get(SKEW);
    if (skew) {
      this.clockFix.correct(Date.parse(ack.server_time), SKEW);
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
      const failure = result.failure;
      // Heartbeats go during a transport pause too: one that gets through ends the pause (the collector is back).
      if (!failure && this.failures.consecutiveFailures > 0) this.collectorBack('a heartbeat got through');
      if (failure?.code === SKEW && failure.serverTimeMs !== undefined) {
        this.clockFix.correct(failure.serverTimeMs, 'heartbeat');
      }
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
      ...(this.o.model ? { model: this.o.model } : {}),
    });
  }

  /** A read-only view for the daemon's local status endpoint. */
  status(): UplinkStatus {
    return {
      running: this.running,
      transport: this.o.transport.name,
      connected: this.o.transport.isReady(),
      pausedUntilMs: this.failures.pausedUntilMs > Date.now() ? this.failures.pausedUntilMs : null,
      consecutiveFailures: this.failures.consecutiveFailures,
      lastAckAtMs: this.lastAckAtMs,
      clockOffsetMs: this.o.clock.offsetMs,
    };
  }

  /** Sends one heartbeat now (the timer does this every heartbeatIntervalMs). */
  heartbeatNow(): Promise<void> {
    return this.sendHeartbeat();
  }
}
