import { parseDuration, systemClock, type Clock } from '../../shared/clock/index.js';
import { describeError } from '../errors.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import type { LiveChange } from '../live/event-bus.js';
import { pushTargetOf, recordPushResults } from '../push/targets.js';
import type { Notification, PushService } from '../push/index.js';
import type { QueueConfig } from '../queue/config.js';
import type { Job, JobQueue } from '../queue/jobs.js';
import { JobWorker, type JobContext, type JobOutcome } from '../queue/worker.js';
import type { SqlExecutor } from '../db/sql.js';
import { bestScore } from '../store/event-view.js';
import type { EventRecord, ReviewRecord, Store } from '../store/store.js';
import type { NotifyConfig } from './config.js';
import type { ThumbnailLinks } from './links.js';
import type { DeliveryRecord } from './records.js';
import { wantedTargets } from './preferences.js';
import type { ReviewPushRecord, ReviewPushRecords } from './review-records.js';
import { decideReview, type ReviewDecision, type ReviewObject } from './review-policy.js';

/**
 * One push per review item (boxes that send review items), updated in place: the job each stored review message
 * re-arms (in the transaction that stores it), run again for every later message of the item.
 *
 *   review item ─▶ its objects' verdicts (the per-event verify jobs: ./notifier.ts, which for such a box judge but
 *   never push) ─▶ waits for them (woken as each object is decided) ─▶ snooze, quiet hours ─▶ review policy
 *   (./review-policy.ts) ─▶ claim push n (state `sending`) ─▶ PushService fan-out to the tokens whose own
 *   preferences want it (./preferences.ts), collapse id = review id ─▶ per-token outcomes + `sent`
 *
 * Restart-safe like the event job: a push left `sending` is sent again only to tokens without a settled outcome,
 * with the same collapse id, so the phone shows it once.
 */
export const REVIEW_NOTIFY_JOB = 'notify_review';

/** What the review push job holds on one item (GET /v1/reviews/{id}: cloud/api/review-json.ts). */
export interface ReviewNotifyStatus {
  job: Job | null;
  push: ReviewPushRecord | null;
  /** Deliveries of the last push. */
  deliveries: DeliveryRecord[];
}

export interface ReviewNotifierOptions {
  store: Store;
  /** The job queue (shared with the event verify jobs; another kind). */
  jobs: JobQueue;
  records: ReviewPushRecords;
  push: PushService;
  links: ThumbnailLinks;
  notify: NotifyConfig;
  queue: QueueConfig;
  clock?: Clock;
  log?: Logger;
  owner?: string;
  /** Called after each decision (tests, benchmarks). */
  onDecision?: (reviewId: string, decision: ReviewDecision, at: number) => void;
}

export class ReviewNotifier {
  readonly worker: JobWorker;
  readonly records: ReviewPushRecords;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly verdictWaitMs: number;

  constructor(private readonly options: ReviewNotifierOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger();
    this.records = options.records;
    this.verdictWaitMs = parseDuration(options.notify.review_verdict_wait);
    this.worker = new JobWorker({
      queue: options.jobs,
      kind: REVIEW_NOTIFY_JOB,
      handler: (ctx) => this.handle(ctx),
      config: options.queue,
      clock: this.clock,
      log: this.log,
      rerunWhenWoken: true,
      ...(options.owner ? { owner: options.owner } : {}),
    });
  }

  /** The store hook: (re-)arms the job of every review item whose message this transaction stored. */
  readonly enqueueInTransaction = async (
    x: SqlExecutor,
    stored: { tenantId: string; reviewIds: readonly string[] },
  ): Promise<void> => {
    if (!this.options.notify.enabled) return;
    const now = this.clock.now();
    for (const id of new Set(stored.reviewIds))
      await this.options.jobs.rearm({ kind: REVIEW_NOTIFY_JOB, eventId: id, tenantId: stored.tenantId }, now, x);
  };

  start(): void {
    if (this.options.notify.enabled) this.worker.start();
  }

  async stop(options: { waitMs?: number; abandon?: boolean } = {}): Promise<void> {
    await this.worker.stop(options);
  }

  /** A review message stored by this collector: its job is due now. */
  onChange(change: LiveChange): void {
    if (change.type === 'review.stored') this.worker.kick();
  }

  /** An object's verify job decided: the items holding it, waiting for its verdict, decide now. */
  async objectDecided(eventId: string): Promise<void> {
    const now = this.clock.now();
    let woken = false;
    for (const id of await this.options.store.reviewsHoldingEvent(eventId))
      if (await this.options.jobs.wake(REVIEW_NOTIFY_JOB, id, now)) woken = true;
    if (woken) this.worker.kick();
  }

  async status(reviewId: string): Promise<ReviewNotifyStatus> {
    const [job, push, deliveries] = await Promise.all([
      this.options.jobs.get(REVIEW_NOTIFY_JOB, reviewId),
      this.records.get(reviewId),
      this.records.deliveries(reviewId),
    ]);
    return { job: job ?? null, push: push ?? null, deliveries };
  }

  private async handle({ job }: JobContext): Promise<JobOutcome> {
    const { store, notify } = this.options;
    const review = await store.getReview(job.tenantId, job.eventId);
    if (!review) return { kind: 'done' };
    const log = this.log.child({ review_id: review.id, attempt: job.attempts });
    let rec = await this.records.get(review.id);
    const lastAttempt = job.attempts >= this.options.queue.max_attempts;
    if (rec?.pushState === 'sending' && rec.notification) {
      log.info('resending a push left unrecorded (collapses on the phone)');
      const resent = await this.send(review, rec.pushSeq, rec.notification, lastAttempt, log);
      if (resent.kind !== 'done') return resent;
      // Then decide as usual: the item may have changed while the push was left unrecorded.
      rec = await this.records.get(review.id);
    }

    const now = this.clock.now();
    const events = await store.getEvents(review.tenantId, review.objects);
    const decision = decideReview(
      {
        review: {
          id: review.id,
          tenantId: review.tenantId,
          camera: review.camera,
          severity: review.severity,
          labels: review.labels,
          zones: review.zones,
          objectCount: review.objects.length,
          startedAt: review.startedAt,
        },
        objects: await this.objects(review, events),
        snoozedUntil: (await store.getCameraSnooze(review.tenantId, review.deviceId, review.camera))?.until ?? null,
        pushesSoFar: rec?.pushSeq ?? 0,
        lastSent: rec?.notification ?? null,
        now,
      },
      notify,
    );
    this.options.onDecision?.(review.id, decision, now);
    if (decision.reason === 'waiting') return { kind: 'snooze', until: decision.until ?? now, note: decision.detail };
    if (!decision.push || !decision.content) {
      if (decision.reason !== 'unchanged')
        await this.records.saveDecision(review.id, review.tenantId, decision.reason, decision.detail, now);
      log.info({ reason: decision.reason, detail: decision.detail }, 'no review push');
      return { kind: 'done' };
    }
    const lead = leadEvent(review, events, decision.leadEventId);
    const c = decision.content;
    const n: Notification = {
      event_id: lead,
      review_id: review.id,
      title: c.title,
      body: c.body,
      thumbnail_url: this.options.links.sign(lead, now),
      collapse_id: review.id,
      priority: c.priority,
      unverified: c.unverified,
      ...(c.update ? { update: true } : {}),
      thread_id: review.camera,
    };
    const seq = await this.records.claimPush(review.id, review.tenantId, decision.reason, n, now);
    log.info({ reason: decision.reason, seq, title: n.title }, 'review push decided');
    return this.send(review, seq, n, lastAttempt, log);
  }

  /** The item's objects with their verdicts, and until when each verdict is waited for. */
  private async objects(review: ReviewRecord, events: readonly EventRecord[]): Promise<ReviewObject[]> {
    const byId = new Map(events.map((e) => [e.id, e]));
    const verdicts = await this.records.objectVerdicts(review.objects);
    return verdicts.map((v) => {
      const e = byId.get(v.eventId);
      // An object whose event is not stored yet is waited for from the item's last message on.
      return { ...v, label: e?.label ?? null, dueBy: (e?.createdAt ?? review.updatedAt) + this.verdictWaitMs };
    });
  }

  private async send(
    review: ReviewRecord,
    seq: number,
    n: Notification,
    lastAttempt: boolean,
    log: Logger,
  ): Promise<JobOutcome> {
    const settled = await this.records.settledTargets(review.id, seq);
    const tokens = await this.options.store.listPushTokens(review.tenantId);
    // Each phone's own preferences (any of the item's labels, its camera, quiet hours) pick who gets it.
    const subject = { deviceId: review.deviceId, camera: review.camera, labels: review.labels };
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
    await this.records.recordDeliveries(review.id, seq, results, final, now);
    const counts = await recordPushResults(this.options.store, results, now);
    log.info(
      { seq, targets: targets.length, already_settled: settled.size, skipped_by_preferences: skipped, ...counts },
      final ? 'review push recorded' : 'review push partly delivered; retrying the rest',
    );
    if (final) return { kind: 'done' };
    return {
      kind: 'retry',
      error:
        `push: ${retry.length} token(s) to retry ` +
        `(${retry.map((r) => r.outcome.reason ?? r.outcome.httpStatus).join(', ')})`,
      retryAfterMs: Math.max(0, ...retry.map((r) => r.outcome.retryAfterMs ?? 0)),
    };
  }
}

/**
 * The event a review push opens and shows the thumbnail of: the box's choice (thumbnail_event) when its picture is
 * stored, else the verified object that titles the push, else the best-scoring object with a picture, else the
 * box's choice or the first object.
 */
export function leadEvent(review: ReviewRecord, events: readonly EventRecord[], verifiedLead?: string): string {
  const withPicture = events.filter((e) => e.thumbnail !== null);
  if (review.thumbnailEvent && withPicture.some((e) => e.id === review.thumbnailEvent)) return review.thumbnailEvent;
  if (verifiedLead && withPicture.some((e) => e.id === verifiedLead)) return verifiedLead;
  const best = [...withPicture].sort((a, b) => bestScore(b) - bestScore(a))[0];
  return best?.id ?? review.thumbnailEvent ?? review.objects[0] ?? review.id;
}

/** Logs a failure to wake review jobs (never fails the caller: the job's own wait ends it anyway). */
export function logWakeFailure(log: Logger, eventId: string) {
  return (err: unknown): void =>
    log.warn({ err: describeError(err), event_id: eventId }, 'could not wake the review push jobs');
}
