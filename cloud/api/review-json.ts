import type { ReviewNotifyStatus } from '../notify/review-notifier.js';
import { bestScore } from '../store/event-view.js';
import type { EventRecord, ReviewRecord } from '../store/store.js';

/** A review item as the app API returns it (list and detail), its objects' summaries and its push state. */
export interface ReviewJson {
  id: string;
  device_id: string;
  camera: string;
  severity: ReviewRecord['severity'];
  status: ReviewRecord['status'];
  started_at: string;
  ended_at: string | null;
  duration_s: number | null;
  /** Event ids, in order of joining. */
  objects: string[];
  labels: string[];
  /** Zones the objects entered, in order of entry. */
  zones: string[];
  /** The box's choice of the item's best picture (one of objects), or null. */
  thumbnail_event: string | null;
  reviewed: boolean;
  reviewed_at: string | null;
  /** The API token (or session) that marked it reviewed. */
  reviewed_by: string | null;
  rev: number;
  created_at: string;
  updated_at: string;
}

const iso = (t: number | null | undefined): string | null =>
  t === null || t === undefined ? null : new Date(t).toISOString();

export function reviewJson(r: ReviewRecord): ReviewJson {
  return {
    id: r.id,
    device_id: r.deviceId,
    camera: r.camera,
    severity: r.severity,
    status: r.status,
    started_at: new Date(r.startedAt).toISOString(),
    ended_at: iso(r.endedAt),
    duration_s: r.endedAt === null ? null : Math.max(0, r.endedAt - r.startedAt) / 1000,
    objects: r.objects,
    labels: r.labels,
    zones: r.zones,
    thumbnail_event: r.thumbnailEvent,
    reviewed: r.reviewedAt !== null,
    reviewed_at: iso(r.reviewedAt),
    reviewed_by: r.reviewedBy,
    rev: r.lastRev,
    created_at: new Date(r.createdAt).toISOString(),
    updated_at: new Date(r.updatedAt).toISOString(),
  };
}

const thumbnailUrl = (eventId: string): string => `/v1/events/${encodeURIComponent(eventId)}/thumbnail`;

/** One object of an item, summarised (the whole event is GET /v1/events/{id}). */
function eventSummary(e: EventRecord): Record<string, unknown> {
  return {
    id: e.id,
    label: e.label,
    score: e.score,
    top_score: e.topScore,
    status: e.status,
    started_at: new Date(e.startedAt).toISOString(),
    ended_at: iso(e.endedAt),
    zones: e.zones,
    current_zones: e.currentZones,
    stationary: e.stationary,
    thumbnail_url: e.thumbnail ? thumbnailUrl(e.id) : null,
  };
}

/**
 * The item's best picture: the box's thumbnail_event when its thumbnail is stored, else the best-scoring object
 * that has one; null when none has.
 */
export function bestThumbnail(
  r: ReviewRecord,
  events: readonly EventRecord[],
): { event_id: string; url: string } | null {
  const withPicture = events.filter((e) => e.thumbnail !== null);
  const chosen =
    withPicture.find((e) => e.id === r.thumbnailEvent) ??
    [...withPicture].sort((a, b) => bestScore(b) - bestScore(a))[0];
  return chosen ? { event_id: chosen.id, url: thumbnailUrl(chosen.id) } : null;
}

/** GET /v1/reviews/{id}: the item, its objects (events not stored yet are left out), best picture, push state. */
export function reviewDetailJson(
  r: ReviewRecord,
  events: readonly EventRecord[],
  s: ReviewNotifyStatus,
): Record<string, unknown> {
  const { job, push, deliveries } = s;
  return {
    ...reviewJson(r),
    events: events.map(eventSummary),
    thumbnail: bestThumbnail(r, events),
    notification:
      !job && !push
        ? null
        : {
            job_state: job?.state ?? null,
            last_error: job?.lastError ?? null,
            decision: push?.decision ?? null,
            decision_detail: push?.decisionDetail ?? null,
            push_state: push?.pushState ?? null,
            push_count: push?.pushSeq ?? 0,
            first_push_at: iso(push?.firstPushAt),
            last_push_at: iso(push?.lastPushAt),
            push_title: push?.notification?.title ?? null,
            push_body: push?.notification?.body ?? null,
            push_deliveries: deliveries.map((d) => ({
              target_id: d.targetId,
              platform: d.platform,
              status: d.status,
              http_status: d.httpStatus,
              reason: d.reason,
              attempts: d.attempts,
              at: iso(d.updatedAt),
            })),
          },
  };
}
