import { VigilError } from '../errors.js';
import type { WireObject } from './messages.js';

/**
 * How one review message changes the review item's current state — the same rules as events (./event-apply.ts):
 * messages are applied by `rev`, a later rev replaces what it carries, an earlier one arriving late only fills gaps
 * (an end time), and nothing goes back: an ended item stays ended, the severity never goes down (detection → alert
 * only), last_rev never decreases.
 */
export type ReviewSeverity = 'alert' | 'detection';

export interface ReviewState {
  camera: string;
  severity: ReviewSeverity;
  status: 'active' | 'ended';
  startedAt: number;
  endedAt: number | null;
  /** Event ids in order of joining. */
  objects: string[];
  labels: string[];
  /** Zones in order of entry. */
  zones: string[];
  /** The event whose thumbnail is the item's best picture, when the box chose one. */
  thumbnailEvent: string | null;
  lastRev: number;
  /** The highest-rev message. */
  message: unknown;
}

/** The fields of a wire Review (firmware-protocol `Review`, validated by ingest) the review row keeps. */
export interface ReviewFields extends Omit<ReviewState, 'status' | 'lastRev' | 'message'> {
  id: string;
  rev: number;
  type: 'new' | 'update' | 'end';
  message: WireObject;
}

function time(value: unknown, field: string, id: string): number {
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw new VigilError('invalid_message', `review ${id}: /${field} must be a date-time`);
  return ms;
}

function strings(value: unknown, field: string, id: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    throw new VigilError('invalid_message', `review ${id}: /${field} must be a list of strings`);
  return value as string[];
}

export function reviewFields(review: WireObject): ReviewFields {
  const id = String(review.id);
  const { type, severity } = review;
  if (type !== 'new' && type !== 'update' && type !== 'end')
    throw new VigilError('invalid_message', `review ${id}: /type must be new, update or end`);
  if (severity !== 'alert' && severity !== 'detection')
    throw new VigilError('invalid_message', `review ${id}: /severity must be alert or detection`);
  return {
    id,
    rev: Number(review.rev),
    type,
    camera: String(review.camera),
    severity,
    startedAt: time(review.started_at, 'started_at', id),
    endedAt: review.ended_at === undefined || review.ended_at === null ? null : time(review.ended_at, 'ended_at', id),
    objects: strings(review.objects, 'objects', id),
    labels: strings(review.labels, 'labels', id),
    zones: strings(review.zones ?? [], 'zones', id),
    thumbnailEvent: typeof review.thumbnail_event === 'string' ? review.thumbnail_event : null,
    message: review,
  };
}

const higher = (a: ReviewSeverity, b: ReviewSeverity): ReviewSeverity => (a === 'alert' || b === 'alert' ? 'alert' : b);

function ends(m: ReviewFields): boolean {
  return m.type === 'end' || m.endedAt !== null;
}

export function applyReviewMessage(
  current: ReviewState | undefined,
  m: ReviewFields,
): { next: ReviewState; changed: boolean } {
  if (!current) {
    const { id: _id, rev, type: _type, message, ...fields } = m;
    return { changed: true, next: { ...fields, status: ends(m) ? 'ended' : 'active', lastRev: rev, message } };
  }
  if (m.rev > current.lastRev) {
    return {
      changed: true,
      next: {
        camera: m.camera,
        severity: higher(current.severity, m.severity),
        status: current.status === 'ended' || ends(m) ? 'ended' : 'active',
        startedAt: Math.min(current.startedAt, m.startedAt),
        endedAt: m.endedAt ?? current.endedAt,
        objects: m.objects,
        labels: m.labels,
        zones: m.zones,
        thumbnailEvent: m.thumbnailEvent ?? current.thumbnailEvent,
        lastRev: m.rev,
        message: m.message,
      },
    };
  }
  // An older (or equal) rev arriving late: fill what is missing, never overwrite newer data.
  const next: ReviewState = {
    ...current,
    severity: higher(current.severity, m.severity),
    status: current.status === 'ended' || ends(m) ? 'ended' : 'active',
    startedAt: Math.min(current.startedAt, m.startedAt),
    endedAt: current.endedAt ?? m.endedAt,
    thumbnailEvent: current.thumbnailEvent ?? m.thumbnailEvent,
  };
  const changed =
    next.severity !== current.severity ||
    next.status !== current.status ||
    next.startedAt !== current.startedAt ||
    next.endedAt !== current.endedAt ||
    next.thumbnailEvent !== current.thumbnailEvent;
  return { next, changed };
}
