import { parseDuration, systemClock, type Clock } from '../../shared/clock/index.js';
import { componentLogger, silentLogger, type Logger } from '../../shared/log/index.js';
import type { EventBus, LiveChange } from '../live/event-bus.js';
import type { BlobStore } from '../blob/blob-store.js';
import { createPushService, type PushConfig, type PushService } from '../push/index.js';
import type { QueueConfig } from '../queue/config.js';
import type { ReclassifyConfig } from '../reclassify/config.js';
import { Reclassifier } from '../reclassify/reclassifier.js';
import type { VisionProvider } from '../reclassify/provider.js';
import type { SqlDatabase } from '../db/sql.js';
import type { EventListJoin, EventsStoredHook, Store } from '../store/store.js';
import { JobQueue } from '../queue/jobs.js';
import type { NotifyConfig } from './config.js';
import { deriveLinkKey, ThumbnailLinks } from './links.js';
import { eventListJoin, type EventListNotify, type VerificationStatus } from './event-list.js';
import { Notifier, type EventNotifyStatus } from './notifier.js';
import type { Decision } from './policy.js';
import { SqlAnswerCache } from './records.js';
import { ReviewNotifier, type ReviewNotifyStatus } from './review-notifier.js';
import type { ReviewDecision } from './review-policy.js';
import { ReviewPushRecords } from './review-records.js';

/**
 * cloud/notify — verify, then notify (the stage after store/ and reclassify/, before push/).
 * `createNotify()` assembles the reclassifier, the push service, the signed thumbnail links and the job worker
 * for the collector (cloud/server/app.ts):
 *
 *   const notify = createNotify({ database, store, blobs, secretsKey, baseUrl, config, … });
 *   store.onEventsStored(notify.enqueueInTransaction);   // a job per new event / review item, in its transaction
 *   new StoreIngestSink({ …, bus: notify.tap(bus) });     // wake jobs when events/thumbnails/review items land
 *
 * Boxes that send review items get one push per alert item (./review-notifier.ts); the others one per event.
 *   notify.start(); … await notify.close();
 */
export { NotifyConfigSchema, notifyConfig, type NotifyConfig } from './config.js';
export { decide, prefilter, type Decision, type Verdict, type PolicyEvent, type PushHistory } from './policy.js';
export { Notifier, NOTIFY_JOB, type EventNotifyStatus } from './notifier.js';
export { ReviewNotifier, REVIEW_NOTIFY_JOB, type ReviewNotifyStatus } from './review-notifier.js';
export { decideReview, type ReviewDecision } from './review-policy.js';
export { ThumbnailLinks, deriveLinkKey, redactLinkSignature } from './links.js';
export { NotifyRecords, SqlAnswerCache } from './records.js';
export {
  eventListJoin,
  VERIFICATION_STATUSES,
  type EventListNotify,
  type VerificationStatus,
} from './event-list.js';

export interface CreateNotifyOptions {
  /** The collector's database: the job queue, the notify records and the answer cache keep their tables there. */
  database: SqlDatabase;
  store: Store;
  blobs: BlobStore;
  /** The collector's secrets key; the link-signing key is derived from it. */
  secretsKey: Buffer;
  /** Base URL for links in pushes (server.public_url, else the bound address; read when a push is built). */
  baseUrl: () => string;
  config: { notify: NotifyConfig; reclassify: ReclassifyConfig; queue: QueueConfig; push: PushConfig };
  clock?: Clock;
  log?: Logger;
  /** Replaces config-built parts (tests, benchmarks). */
  pushService?: PushService;
  providers?: Record<string, VisionProvider>;
  owner?: string;
  onDecision?: (eventId: string, decision: Decision, at: number) => void;
  onReviewDecision?: (reviewId: string, decision: ReviewDecision, at: number) => void;
}

export interface Notify {
  notifier: Notifier;
  reviews: ReviewNotifier;
  /** The store hook: a verify job per new event, the push job of each review item re-armed per message. */
  enqueueInTransaction: EventsStoredHook;
  reclassifier: Reclassifier;
  push: PushService;
  links: ThumbnailLinks;
  /** A bus that forwards every change and lets the notifier react to this collector's own changes. */
  tap(bus: EventBus): EventBus;
  /** An event's job, verification and push deliveries (shown by GET /v1/events/{id}: cloud/api/event-json.ts). */
  eventStatus(eventId: string): Promise<EventNotifyStatus>;
  /** A review item's push job, its push record and the last push's deliveries (GET /v1/reviews/{id}). */
  reviewStatus(reviewId: string): Promise<ReviewNotifyStatus>;
  /**
   * Each listed event's verification and push state, joined into the list query (GET /v1/events), optionally
   * only events of one verification status (./event-list.ts).
   */
  eventList(verdict?: VerificationStatus): EventListJoin<EventListNotify>;
  /** Tenant of an event (a signed thumbnail link carries none: cloud/server/thumbnail-access.ts). */
  tenantOfEvent(eventId: string): Promise<string | undefined>;
  start(): void;
  /** Stops the worker (running jobs finish or go back to the queue), then the LLM and push clients. */
  close(options?: { waitMs?: number; abandon?: boolean }): Promise<void>;
}

export function createNotify(options: CreateNotifyOptions): Notify {
  const clock = options.clock ?? systemClock;
  const log = options.log ?? silentLogger();
  const { config } = options;
  const reclassifier = new Reclassifier({
    config: config.reclassify,
    cacheBackend: new SqlAnswerCache(options.database),
    providers: options.providers,
    clock,
    log: componentLogger(log, 'reclassify'),
  });
  const push = options.pushService ?? createPushService(config.push, { clock, logger: log });
  const links = new ThumbnailLinks(
    deriveLinkKey(options.secretsKey),
    options.baseUrl,
    parseDuration(config.notify.link_ttl),
  );
  const reviews = new ReviewNotifier({
    store: options.store,
    jobs: new JobQueue(options.database),
    records: new ReviewPushRecords(options.database),
    push,
    links,
    notify: config.notify,
    queue: config.queue,
    clock,
    log: componentLogger(log, 'notify'),
    ...(options.owner ? { owner: options.owner } : {}),
    ...(options.onReviewDecision ? { onDecision: options.onReviewDecision } : {}),
  });
  const notifier = new Notifier({
    reviews,
    database: options.database,
    store: options.store,
    blobs: options.blobs,
    reclassifier,
    push,
    links,
    notify: config.notify,
    queue: config.queue,
    clock,
    log: componentLogger(log, 'notify'),
    ...(options.owner ? { owner: options.owner } : {}),
    ...(options.onDecision ? { onDecision: options.onDecision } : {}),
  });
  let closed = false;

  return {
    notifier,
    reviews,
    async enqueueInTransaction(x, stored) {
      if (stored.eventIds.length > 0) await notifier.enqueueInTransaction(x, stored);
      if (stored.reviewIds.length > 0) await reviews.enqueueInTransaction(x, stored);
    },
    reclassifier,
    push,
    links,
    tap(bus: EventBus): EventBus {
      return {
        publish(change: LiveChange): void {
          bus.publish(change);
          notifier.onChange(change);
          reviews.onChange(change);
        },
        subscribe: (tenantId, listener) => bus.subscribe(tenantId, listener),
        get subscribers() {
          return bus.subscribers;
        },
        close: () => bus.close(),
      };
    },
    eventStatus: (eventId) => notifier.eventStatus(eventId),
    reviewStatus: (reviewId) => reviews.status(reviewId),
    eventList: eventListJoin,
    tenantOfEvent: (eventId) => notifier.records.tenantOfEvent(eventId),
    start: () => {
      notifier.start();
      reviews.start();
    },
    async close(closeOptions = {}) {
      if (closed) return;
      closed = true;
      await notifier.stop(closeOptions);
      await reviews.stop(closeOptions);
      await reclassifier.close();
      if (!options.pushService) await push.close();
    },
  };
}
