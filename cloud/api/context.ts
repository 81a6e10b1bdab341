import type { onRequestAsyncHookHandler } from 'fastify';
import type { Clock } from '../../shared/clock/index.js';
import type { Logger } from '../../shared/log/index.js';
import type { BlobStore } from '../blob/blob-store.js';
import type { EventListNotify, VerificationStatus } from '../notify/event-list.js';
import type { EventNotifyStatus } from '../notify/notifier.js';
import type { ReviewNotifyStatus } from '../notify/review-notifier.js';
import type { DeviceBrokerAccess, PairingEndpoints } from '../pairing/devices.js';
import type { SecretBox } from '../pairing/secret-box.js';
import type { EventListJoin, Store } from '../store/store.js';
import type { EventBus } from '../live/event-bus.js';

/** What the app-facing routes need; built once by the server (cloud/server/app.ts). */
export interface ApiContext {
  store: Store;
  blobs: BlobStore;
  secrets: SecretBox;
  bus: EventBus;
  clock: Clock;
  log: Logger;
  /** A device with no verified message for this long is offline. */
  offlineAfterMs: number;
  /** Default lifetime of a pairing code. */
  codeTtlMs: number;
  /** POST /v1/pair attempts per client address (sustained per minute, burst) and for the whole collector. */
  pairingAttempts: { perMinute: number; burst: number; globalPerMinute: number; globalBurst: number };
  /** Where paired boxes send (known once the server listens). */
  endpoints(): PairingEndpoints;
  /** Called after a device's keys changed (rotation, revocation), so caches drop them at once. */
  keysChanged(deviceId: string): void;
  /** Broker logins of boxes (cloud/broker): issued at pairing and rotation, disabled at revocation. */
  brokerAccess?: DeviceBrokerAccess;
  /**
   * Verify-then-notify (cloud/notify): an event's job, verification and push deliveries; a review item's push job,
   * push record and the last push's deliveries; each listed event's verification and push state (joined into the
   * list query).
   */
  notify: {
    eventStatus(eventId: string): Promise<EventNotifyStatus>;
    reviewStatus(reviewId: string): Promise<ReviewNotifyStatus>;
    eventList(verdict?: VerificationStatus): EventListJoin<EventListNotify>;
  };
  /** The thumbnail route's access check around the token check (signed links: cloud/server/thumbnail-access.ts). */
  thumbnailAccess: (tokenCheck: onRequestAsyncHookHandler) => onRequestAsyncHookHandler;
}
