import type { ReviewSeverity } from './review-apply.js';

/**
 * Review items and camera snoozes as the store keeps them (tables reviews, review_messages, review_tags,
 * camera_snoozes: cloud/db/migrations.ts 8). Review messages are stored with the request's event messages, in the
 * same transaction (Store.storeEventMessages); this part of the store reads them back, filters them, keeps the
 * collector's own `reviewed` mark, and keeps the per-camera snoozes the notify policy honours.
 */
export type { ReviewSeverity } from './review-apply.js';

/** A review item: its row, the current state by rev (./review-apply.ts). */
export interface ReviewRecord {
  id: string;
  tenantId: string;
  deviceId: string;
  camera: string;
  severity: ReviewSeverity;
  status: 'active' | 'ended';
  startedAt: number;
  endedAt: number | null;
  /** Event ids, in order of joining. */
  objects: string[];
  labels: string[];
  /** Zones, in order of entry. */
  zones: string[];
  thumbnailEvent: string | null;
  lastRev: number;
  /** When someone marked it reviewed (null: not reviewed), and which API token did. */
  reviewedAt: number | null;
  reviewedBy: string | null;
  createdAt: number;
  updatedAt: number;
  /** The highest-rev message received. */
  message: unknown;
}

export interface ReviewFilter {
  deviceId?: string | undefined;
  camera?: string | undefined;
  severity?: ReviewSeverity | undefined;
  /** Items whose objects entered this zone. */
  zone?: string | undefined;
  /** Items with an object of this label. */
  label?: string | undefined;
  /** true: reviewed only; false: not reviewed only. */
  reviewed?: boolean | undefined;
  /** started_at >= since (ms) */
  since?: number | undefined;
  /** started_at < until (ms) */
  until?: number | undefined;
}

/** Position after the last row of a page; newest first (the same shape as the event cursor). */
export interface ReviewCursor {
  startedAt: number;
  id: string;
}

export interface ReviewPage {
  reviews: ReviewRecord[];
  next: ReviewCursor | null;
}

/** Items per severity: how many match, and how many of them nobody marked reviewed yet. */
export type ReviewCounts = Record<ReviewSeverity, { total: number; unreviewed: number }>;

/** A camera whose pushes are held until `until`. */
export interface CameraSnoozeRecord {
  tenantId: string;
  deviceId: string;
  camera: string;
  until: number;
  /** API token that set it. */
  createdBy: string | null;
  createdAt: number;
}

export interface CameraSnoozeInput {
  tenantId: string;
  deviceId: string;
  camera: string;
  until: number;
  createdBy: string | null;
  now: number;
}

export interface ReviewStore {
  getReview(tenantId: string, reviewId: string): Promise<ReviewRecord | undefined>;
  listReviews(tenantId: string, filter: ReviewFilter, limit: number, after?: ReviewCursor): Promise<ReviewPage>;
  /** Items matching `filter` (its severity and reviewed ignored: counted apart), per severity; one query. */
  countReviews(tenantId: string, filter: ReviewFilter): Promise<ReviewCounts>;
  /**
   * Marks an item reviewed (`mark` = when and by which token) or not reviewed (`null`). Returns the item after, or
   * undefined when the tenant has no such item. Marking an item already reviewed keeps the first mark.
   */
  setReviewed(
    tenantId: string,
    reviewId: string,
    mark: { at: number; by: string } | null,
    now: number,
  ): Promise<ReviewRecord | undefined>;
  /** Ids of the review items whose current objects include this event (any tenant; for notify). */
  reviewsHoldingEvent(eventId: string): Promise<string[]>;
  /** True once the device has sent at least one review item (its firmware groups objects into review items). */
  deviceSendsReviews(deviceId: string): Promise<boolean>;

  /** Sets (or moves) a camera's snooze. The device must be the tenant's (else undefined). */
  snoozeCamera(input: CameraSnoozeInput): Promise<CameraSnoozeRecord | undefined>;
  /** Clears a camera's snooze; false when it had none. */
  unsnoozeCamera(tenantId: string, deviceId: string, camera: string): Promise<boolean>;
  /** The camera's snooze, if one was set (it may have run out: compare `until` with now). */
  getCameraSnooze(tenantId: string, deviceId: string, camera: string): Promise<CameraSnoozeRecord | undefined>;
}
