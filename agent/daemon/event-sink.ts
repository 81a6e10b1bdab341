import { describeError } from '../errors.js';
import type { Logger } from '../../shared/log/index.js';
import { WireEventBuilder, WireReviewBuilder } from '../wire/index.js';
import type { ReviewMessage } from '../review/index.js';
import type { EventPictures } from '../thumbnail/index.js';
import type { EventMessage } from '../track/messages.js';
import type { Uplink } from '../uplink/index.js';

export interface EventSinkCounters {
  /** Event messages the outbox accepted (queued, recognised as a duplicate, or kept in memory on a full disk). */
  accepted: number;
  /** Event messages the outbox refused (over budget, invalid, disk full with its memory queue full): lost, logged. */
  refused: number;
  thumbnails: number;
  /** Event messages that went without the thumbnail they should have carried. */
  thumbnailsSkipped: number;
  /** Review messages the outbox accepted. */
  reviews: number;
  /** Review messages the outbox refused (over budget, disk full with its memory queue full): lost, logged. */
  reviewsRefused: number;
}

/**
 * Where every camera's event messages go: the pipeline's message with its thumbnail in memory (`{jpeg, width,
 * height}`, as encoded: no file, nothing read back) → a protocol Event with its rev and changed-only thumbnail
 * (WireEventBuilder) → the outbox, durably, through `Uplink.enqueue` (the outbox stores the thumbnail's bytes).
 * Review messages go the same way as protocol Reviews (WireReviewBuilder, `onReview`).
 * The call is awaited by the pipeline, so a slow disk slows the cameras instead of piling up messages in memory.
 *
 * The record never waits for its picture: a thumbnail that could not be encoded makes an event message without it
 * (counted by the outbox as `thumbnails_skipped`), and a thumbnail the outbox could not store (full disk, budget)
 * is not announced; the event's next message brings the picture again.
 */
export class EventSink {
  readonly counters: EventSinkCounters = {
    accepted: 0,
    refused: 0,
    thumbnails: 0,
    thumbnailsSkipped: 0,
    reviews: 0,
    reviewsRefused: 0,
  };
  private readonly builder: WireEventBuilder;
  private readonly reviewBuilder: WireReviewBuilder;

  constructor(
    deviceId: string,
    private readonly uplink: Uplink,
    private readonly log: Logger,
    builder?: WireEventBuilder,
  ) {
    this.builder = builder ?? new WireEventBuilder(deviceId);
    this.reviewBuilder = new WireReviewBuilder(deviceId);
  }

  /** The pipeline's `onReview`. Never throws: a refused review message is counted and logged, the camera goes on. */
  readonly onReview = async (msg: ReviewMessage): Promise<void> => {
    const review = this.reviewBuilder.build(msg);
    const what = { review: review.id, type: review.type, rev: review.rev, camera: review.camera };
    try {
      const r = this.uplink.enqueue(review);
      this.counters.reviews++;
      this.log.debug({ ...what, severity: review.severity, held: r.event === 'held' }, 'review queued');
    } catch (err) {
      this.counters.reviewsRefused++;
      this.log.error({ ...what, err: describeError(err) }, 'outbox refused a review message');
    }
  };

  /** The pipeline's `onEvent`. Never throws: a refused event is counted and logged, the camera goes on. */
  readonly onEvent = async (msg: EventMessage, pictures: EventPictures = {}): Promise<void> => {
    const thumb = pictures.thumbnail;
    const missing = pictures.thumbnailMissing === true;
    if (missing) this.log.warn({ event: msg.id }, 'thumbnail could not be encoded; the event goes without it');
    const { event, thumbnail, withoutThumbnail } = this.builder.build(msg, thumb);
    try {
      const options = { ...(withoutThumbnail ? { withoutThumbnail } : {}), thumbnailSkipped: missing };
      const r = this.uplink.enqueue(event, thumbnail, options);
      this.counters.accepted++;
      if (thumbnail && r.thumbnail === 'queued') this.counters.thumbnails++;
      const notStored = r.thumbnail === 'skipped' || r.thumbnail === 'dropped';
      if (thumbnail && notStored) this.builder.thumbnailNotStored(event.id);
      if (missing || r.thumbnail === 'skipped') this.counters.thumbnailsSkipped++;
      const what = { event: event.id, type: event.type, rev: event.rev, camera: event.camera, label: event.label };
      const outcome = { thumbnail: r.thumbnail, thumbnail_missing: missing, held: r.event === 'held' };
      this.log.debug({ ...what, ...outcome }, 'event queued');
    } catch (err) {
      this.counters.refused++;
      this.log.error(
        { event: event.id, type: event.type, rev: event.rev, err: describeError(err) },
        'outbox refused an event',
      );
    }
  };
}
