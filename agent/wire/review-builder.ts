import type { Review } from '../../firmware-protocol/messages.js';
import { REVIEW_OBJECTS_MAX, ZONES_MAX } from '../../firmware-protocol/limits.js';
import type { ReviewMessage } from '../review/messages.js';

/**
 * Turns the review stage's messages (agent/review) into protocol v1 Reviews (firmware-protocol) for the outbox:
 * adds `v`, `kind`, `device_id` and the per-item `rev` (0 for new, +1 per later message). `ended_at` only on `end`.
 * The review message's `media_start`/`media_end` are seconds into a file (analyze only) and do not go on the wire,
 * like an event's. The daemon's EventSink calls `build` for every review message.
 */
export class WireReviewBuilder {
  private readonly revs = new Map<string, number>();

  constructor(private readonly deviceId: string) {}

  build(msg: ReviewMessage): Review {
    // An update for an id this process never saw (e.g. after a restart) still needs rev ≥ 1.
    const rev = msg.type === 'new' ? 0 : (this.revs.get(msg.id) ?? 0) + 1;
    if (msg.type === 'end') this.revs.delete(msg.id);
    else this.revs.set(msg.id, rev);
    const review: Review = {
      v: 1,
      kind: 'review',
      id: msg.id,
      device_id: this.deviceId,
      camera: msg.camera,
      type: msg.type,
      rev,
      severity: msg.severity,
      started_at: msg.started_at,
      objects: msg.objects.slice(0, REVIEW_OBJECTS_MAX),
      labels: msg.labels.slice(0, REVIEW_OBJECTS_MAX),
      zones: msg.zones.slice(0, ZONES_MAX),
    };
    if (msg.type === 'end') review.ended_at = msg.ended_at ?? msg.started_at;
    if (msg.thumbnail_event && review.objects.includes(msg.thumbnail_event))
      review.thumbnail_event = msg.thumbnail_event;
    return review;
  }

  /** Review items currently open (new sent, end not yet). */
  get openItems(): number {
    return this.revs.size;
  }
}
