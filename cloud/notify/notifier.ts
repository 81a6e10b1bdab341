import { parseDuration, systemClock, type Clock } from '../../shared/clock/index.js';
import { describeError } from '../errors.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import type { LiveChange } from '../live/event-bus.js';
import type { BlobStore } from '../blob/blob-store.js';
import { pushTargetOf, recordPushResults } from '../push/targets.js';
import type { Notification, PushService } from '../push/index.js';
import type { QueueConfig } from '../queue/config.js';
import { JobQueue, type Job } from '../queue/jobs.js';
import { JobWorker, type JobContext, type JobOutcome } from '../queue/worker.js';
import type { Reclassifier } from '../reclassify/reclassifier.js';
import type { SqlDatabase, SqlExecutor } from '../db/sql.js';
import { bestScore } from '../store/event-view.js';
import type { EventRecord, Store } from '../store/store.js';
import type { NotifyConfig } from './config.js';
import type { ThumbnailLinks } from './links.js';
import { decide, judge, prefilter, type Decision, type PolicyEvent } from './policy.js';
import { wantedTargets } from './preferences.js';
import { assertTimeZone } from './quiet-hours.js';
import { NotifyRecords, type CooldownKey, type DeliveryRecord, type VerificationRecord } from './records.js';
import { logWakeFailure, type ReviewNotifier } from './review-notifier.js';

/**
 * Verify, then notify: the job every stored event gets (queued in the transaction that stores its first message).
 *
 *   event ─▶ prefilter ─▶ wait for the announced thumbnail (snooze, woken when it lands) ─▶ reclassify (stored at once)
 *         ─▶ policy ─▶ claim the push (cooldown slot + state `sending`, one transaction) ─▶ PushService fan-out to the
 *         tenant's tokens whose own preferences want it (./preferences.ts) ─▶ per-token outcomes + state `sent` (one
 *         transaction), invalid tokens pruned
 *
 * A box that sends review items is notified per review item (./review-notifier.ts): its events are verified and
 * judged here (the verdict is recorded), but never pushed on their own; each decision wakes the review items that
 * hold the event. A box that sends none (older firmware) keeps one push per event.
 *
 * Restart-safe: a job runs again from the top after a crash. A stored classification is reused (never paid twice);
 * a `sent` push is never sent again; a push left `sending` (crash between send and record) is sent again only to
 * tokens without a settled outcome, with collapse id = event id, so the phone shows it once.
 */
export const NOTIFY_JOB = 'notify';

/** Largest thumbnail read into memory for the LLM. */
const THUMBNAIL_READ_MAX = 8 * 1024 * 1024;

/** What verify-then-notify holds on one event: its job, what the LLM and the policy said, the push deliveries. */
export interface EventNotifyStatus {
  job: Job | null;
  verification: VerificationRecord | null;
  deliveries: DeliveryRecord[];
}

export interface NotifierOptions {
  /** Where the job queue and the notify records keep their tables. */
  database: SqlDatabase;
  store: Store;
  blobs: BlobStore;
  reclassifier: Reclassifier;
  push: PushService;
  links: ThumbnailLinks;
  notify: NotifyConfig;
  queue: QueueConfig;
  clock?: Clock;
  log?: Logger;
  /** Lease owner name of this collector's worker. */
  owner?: string;
  /** Called after each decision (tests, benchmarks). */
  onDecision?: (eventId: string, decision: Decision, at: number) => void;
  /** The review items' push job: told when an event is decided (its items may wait for the verdict). */
  reviews?: Pick<ReviewNotifier, 'objectDecided'>;
}

export class Notifier {
  readonly queue: JobQueue;
  readonly records: NotifyRecords;
  readonly worker: JobWorker;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly thumbnailWaitMs: number;
  private readonly cooldownMs: number;

  constructor(private readonly options: NotifierOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger();
    this.queue = new JobQueue(options.database);
    this.records = new NotifyRecords(options.database);
    this.thumbnailWaitMs = parseDuration(options.notify.thumbnail_wait);
    this.cooldownMs = parseDuration(options.notify.cooldown);
    // A time zone typo fails at start, not at 3 am.
    if (options.notify.quiet_hours)
      assertTimeZone(options.notify.quiet_hours.time_zone, 'notify.quiet_hours.time_zone');
    for (const [t, o] of Object.entries(options.notify.tenants))
      if (o.quiet_hours) assertTimeZone(o.quiet_hours.time_zone, `notify.tenants.${t}.quiet_hours.time_zone`);
    this.worker = new JobWorker({
      queue: this.queue,
      kind: NOTIFY_JOB,
      handler: (ctx) => this.handle(ctx),
      config: options.queue,
      clock: this.clock,
      log: this.log,
      ...(options.owner ? { owner: options.owner } : {}),
    });
  }

  /**
   * The store hook: runs inside the transaction that stores event messages and queues one job per new event.
   * Later messages of the same event find the job there already (unique per kind + event id).
   */
  readonly enqueueInTransaction = async (
    x: SqlExecutor,
    stored: { tenantId: string; eventIds: readonly string[] },
  ): Promise<void> => {
    if (!this.options.notify.enabled) return;
    const now = this.clock.now();
    // One INSERT for every job of the commit (a SQLite group commit holds many requests).
    for (const eventId of new Set(stored.eventIds))
      await this.queue.enqueueAtCommit({ kind: NOTIFY_JOB, eventId, tenantId: stored.tenantId }, now, x);
  };

  start(): void {
    if (this.options.notify.enabled) this.worker.start();
  }

  async stop(options: { waitMs?: number; abandon?: boolean } = {}): Promise<void> {
    await this.worker.stop(options);
  }

  /** A change stored by this collector: a new event's job is due now; a thumbnail wakes a job waiting for it. */
  onChange(change: LiveChange): void {
    if (!change.eventId || (change.type !== 'event.stored' && change.type !== 'thumbnail.stored')) return;
    if (change.type === 'event.stored') {
      this.worker.kick();
      return;
    }
    this.queue
      .wake(NOTIFY_JOB, change.eventId, this.clock.now())
      .then((woken) => woken && this.worker.kick())
      .catch((err: unknown) =>
        this.log.warn({ err: describeError(err), event_id: change.eventId }, 'could not wake the notify job'),
      );
  }

  // --- the job ---

  private async handle({ job, signal }: JobContext): Promise<JobOutcome> {
    const event = await this.options.store.getEvent(job.tenantId, job.eventId);
    if (!event) return { kind: 'done' }; // deleted meanwhile: nothing to verify
    const log = this.log.child({ event_id: event.id, attempt: job.attempts });
    const rec = await this.records.verification(event.id);
    if (rec?.pushState === 'sent') return { kind: 'done' };

    let notification = rec?.pushState === 'sending' ? rec.notification : null;
    if (!notification) {
      const now = this.clock.now();
      const pe = policyEvent(event);
      const key = cooldownKey(event);
      const history = { pushed: false, lastPushAt: await this.records.lastPushAt(key, event.id) };
      const early = prefilter({ event: pe, history, now }, this.options.notify);
      if (early) return this.finish(event, early, now);

      let classification = rec?.classification ?? null;
      if (!classification) {
        if (event.announcedThumbnail && !event.thumbnail) {
          const until = event.createdAt + this.thumbnailWaitMs;
          if (now < until) return { kind: 'snooze', until, note: 'waiting for the thumbnail' };
          log.info('announced thumbnail did not arrive in time; deciding without it');
        }
        const thumbnail = event.thumbnail ? await this.readThumbnail(event.thumbnail.blobKey) : null;
        classification = await this.options.reclassifier.classify({
          eventId: event.id,
          camera: event.camera,
          deviceId: event.deviceId,
          label: event.label,
          score: pe.score,
          thumbnail,
          signal,
        });
        if (signal.aborted) throw new Error('job aborted');
        await this.records.saveClassification(event.id, event.tenantId, classification, this.clock.now());
        log.info(
          {
            status: classification.status,
            reason: classification.reason,
            label: classification.classify_label,
            provider: classification.provider,
            ms: classification.ms,
            cached: classification.cached,
          },
          'event re-classified',
        );
      }

      const decidedAt = this.clock.now();
      if (await this.options.store.deviceSendsReviews(event.deviceId)) {
        // The verdict only: the event's review item pushes (./review-notifier.ts), with its objects' verdicts.
        const judged = judge({ event: pe, history, now: decidedAt, classification }, this.options.notify);
        return this.finish(
          event,
          judged.push
            ? { ...judged, push: false, content: undefined, detail: `${judged.detail} (pushed by its review item)` }
            : judged,
          decidedAt,
        );
      }
      const snoozedUntil =
        (await this.options.store.getCameraSnooze(event.tenantId, event.deviceId, event.camera))?.until ?? null;
      let decision = decide(
        {
          event: pe,
          history: { pushed: false, lastPushAt: await this.records.lastPushAt(key, event.id) },
          now: decidedAt,
          classification,
          snoozedUntil,
        },
        this.options.notify,
      );
      if (!decision.push || !decision.content) return this.finish(event, decision, decidedAt);
      const n: Notification = {
        event_id: event.id,
        title: decision.content.title,
        body: decision.content.body,
        thumbnail_url: this.options.links.sign(event.id, decidedAt),
        collapse_id: event.id,
        priority: decision.content.priority,
        unverified: decision.content.unverified,
        thread_id: event.camera,
      };
      if (!(await this.records.claimPush(event.id, key, decision, n, decidedAt, this.cooldownMs))) {
        // Another event of this camera and label took the slot a moment ago.
        decision = decide(
          {
            event: pe,
            history: { pushed: false, lastPushAt: await this.records.lastPushAt(key, event.id) },
            now: decidedAt,
            classification,
            snoozedUntil,
          },
          this.options.notify,
        );
        return this.finish(
          event,
          decision.push
            ? {
                ...decision,
                push: false,
                reason: 'cooldown',
                detail: 'cooldown slot taken by a concurrent event',
                content: undefined,
              }
            : decision,
          decidedAt,
        );
      }
      this.options.onDecision?.(event.id, decision, decidedAt);
      log.info({ reason: decision.reason, verdict: decision.verdict, title: n.title }, 'push decided');
      notification = n;
    } else {
      log.info('resending a push left unrecorded (collapses on the phone)');
    }

    return this.send(event, notification, job.attempts >= this.options.queue.max_attempts, log);
  }

  private async send(event: EventRecord, n: Notification, lastAttempt: boolean, log: Logger): Promise<JobOutcome> {
    const settled = await this.records.settledTargets(event.id);
    const tokens = await this.options.store.listPushTokens(event.tenantId);
    // Each phone's own preferences (labels, cameras, quiet hours) pick who gets it.
    const subject = { deviceId: event.deviceId, camera: event.camera, labels: [event.label] };
    const { wanted, skipped } = wantedTargets(
      tokens.filter((t) => !settled.has(t.id)),
      subject,
      this.clock.now(),
    );
    const targets = wanted.map(pushTargetOf);
    const results = targets.length ? await this.options.push.send(n, targets) : [];
    const now = this.clock.now();
    const retry = results.filter((r) => r.outcome.status === 'retry');
    const final = retry.length === 0 || lastAttempt;
    await this.records.recordDeliveries(event.id, results, final, now);
    // Token bookkeeping (last outcome, pruning) is idempotent; it may run again after a crash.
    const counts = await recordPushResults(this.options.store, results, now);
    log.info(
      { targets: targets.length, already_settled: settled.size, skipped_by_preferences: skipped, ...counts },
      final ? 'push recorded' : 'push partly delivered; retrying the rest',
    );
    if (final) return { kind: 'done' };
    const waits = retry.map((r) => r.outcome.retryAfterMs ?? 0);
    return {
      kind: 'retry',
      error:
        `push: ${retry.length} token(s) to retry ` +
        `(${retry.map((r) => r.outcome.reason ?? r.outcome.httpStatus).join(', ')})`,
      retryAfterMs: Math.max(0, ...waits),
    };
  }

  private async finish(event: EventRecord, decision: Decision, now: number): Promise<JobOutcome> {
    await this.records.saveDecision(event.id, event.tenantId, decision, now);
    this.options.onDecision?.(event.id, decision, now);
    this.log.info({ event_id: event.id, reason: decision.reason, verdict: decision.verdict }, 'no push');
    await this.options.reviews?.objectDecided(event.id).catch(logWakeFailure(this.log, event.id));
    return { kind: 'done' };
  }

  private async readThumbnail(blobKey: string): Promise<Buffer | null> {
    const blob = await this.options.blobs.get(blobKey);
    if (!blob) return null;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of blob.stream) {
      size += (chunk as Buffer).length;
      if (size > THUMBNAIL_READ_MAX) {
        blob.stream.destroy();
        return null;
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  // --- what the API shows (cloud/api/event-json.ts) ---

  /** The notify job, verification record and push deliveries of an event (null / empty when it has none). */
  async eventStatus(eventId: string): Promise<EventNotifyStatus> {
    const [job, verification, deliveries] = await Promise.all([
      this.queue.get(NOTIFY_JOB, eventId),
      this.records.verification(eventId),
      this.records.deliveries(eventId),
    ]);
    return { job: job ?? null, verification: verification ?? null, deliveries };
  }
}

function policyEvent(e: EventRecord): PolicyEvent {
  return {
    id: e.id,
    tenantId: e.tenantId,
    deviceId: e.deviceId,
    camera: e.camera,
    label: e.label,
    score: bestScore(e),
    startedAt: e.startedAt,
  };
}

function cooldownKey(e: EventRecord): CooldownKey {
  return { tenantId: e.tenantId, deviceId: e.deviceId, camera: e.camera, label: e.label };
}
