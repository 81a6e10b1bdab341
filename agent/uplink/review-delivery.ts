import type { AckItem } from '../../firmware-protocol/messages.js';
import { isReviewId } from '../../firmware-protocol/patterns.js';
import type { Logger } from '../../shared/log/index.js';
import type { ClaimedItem, ItemRef, Outbox } from '../outbox/index.js';
import type { TransportFailure } from './types.js';

/** Counter (outbox `counters`) of review records a collector from before review items could not take. */
export const REVIEWS_UNSUPPORTED = 'reviews.unsupported';
/** Counter of review records a collector that knows them rejected (a box bug: logged once per code). */
export const REVIEWS_REJECTED = 'reviews.rejected';
/** Sends of one review record that went unanswered while the collector acked other items, before it is let go. */
export const REVIEW_UNANSWERED_MAX = 3;
/** Review records in flight at once: a collector that never answers them holds at most this many leases. */
export const REVIEWS_IN_FLIGHT_MAX = 4;

const PREDATES = 'collector_predates_reviews';

/**
 * What the uplink does with review records (firmware-protocol PROTOCOL.md §2.1). They travel alone (one per
 * message), after the event records that are due, and never block them. An ack of kind `review` accepted or
 * duplicate settles one; anything else lets it go quietly — `Outbox.discard`, counted, logged once, never dead:
 * - an ack of kind `event` naming its `rev_` id, or a whole-request drop (HTTP 400 `invalid_message` for a single
 *   review body): the collector predates review items (`reviews.unsupported`);
 * - a `rejected` ack of kind `review` (`reviews.rejected`, the code logged once);
 * - no answer at all (MQTT: a pre-review collector cannot name a `rev_` id in an event ack): after
 *   `REVIEW_UNANSWERED_MAX` sends whose lease ran out while the collector acked other items (`reviews.unsupported`).
 */
export class ReviewDelivery {
  /** Review records sent and not answered yet: when, and how often they went unanswered before. */
  private readonly sent = new Map<string, { sentAtMs: number; unanswered: number }>();
  private predatesLogged = false;
  private readonly rejectedLogged = new Set<string>();
  /** Review records settled by an ack / let go, since start. */
  acked = 0;
  discarded = 0;

  constructor(
    private readonly outbox: Outbox,
    private readonly log: Logger,
    /** When the collector last acked anything (epoch ms). */
    private readonly lastAckAtMs: () => number | null,
  ) {}

  /** A review record may be claimed now (few in flight). */
  canSend(): boolean {
    return this.outbox.inFlightCount('review') < REVIEWS_IN_FLIGHT_MAX;
  }

  /**
   * The outbox ref an ack item names when it is about a review record: kind `review`, or kind `event` naming a
   * review id (a collector from before review items). Undefined for anything else.
   */
  refOf(a: AckItem): ItemRef | undefined {
    if (a.kind === 'review' || (a.kind === 'event' && isReviewId(a.id))) {
      return { kind: 'review', eventId: a.id, rev: a.rev };
    }
    return undefined;
  }

  /** Settles a review record by an ack item naming it (see the class comment). */
  settle(ref: ItemRef, a: AckItem): void {
    this.answered(ref);
    if (a.kind === 'review' && (a.status === 'accepted' || a.status === 'duplicate')) {
      this.acked += this.outbox.ack([ref]);
      return;
    }
    if (a.kind === 'event') this.predates([ref], `the collector acked it as an event (${a.status} ${a.code ?? ''})`);
    else this.rejected([ref], a.code ?? 'rejected', a.message ?? a.code ?? 'rejected');
  }

  /** A whole-request failure the policy drops (4xx): the review records in it go quietly. */
  dropped(refs: readonly ItemRef[], f: TransportFailure): void {
    for (const r of refs) this.answered(r);
    this.predates(refs, `the collector refused the request: ${f.status ?? ''} ${f.code}`);
  }

  /** Any other answer to a send (a failure retried later): the collector did not ignore it. */
  answered(ref: ItemRef): void {
    this.sent.delete(key(ref));
  }

  /**
   * Claimed review records about to be sent: one that went unanswered too often (its lease ran out while the
   * collector acked other items) is let go instead. Returns the ones to send.
   */
  beforeSend(items: readonly ClaimedItem[], nowMs: number): ClaimedItem[] {
    const out: ClaimedItem[] = [];
    const lastAck = this.lastAckAtMs();
    for (const it of items) {
      const k = key(it);
      const prev = this.sent.get(k);
      const ignored = prev !== undefined && lastAck !== null && lastAck > prev.sentAtMs;
      const unanswered = (prev?.unanswered ?? 0) + (ignored ? 1 : 0);
      if (unanswered >= REVIEW_UNANSWERED_MAX) {
        this.sent.delete(k);
        this.predates([it], `${unanswered} sends went unanswered while the collector acked other items`);
        continue;
      }
      this.sent.set(k, { sentAtMs: nowMs, unanswered });
      out.push(it);
    }
    return out;
  }

  private predates(refs: readonly ItemRef[], why: string): void {
    const n = this.outbox.discard(refs, { code: PREDATES, message: why }, REVIEWS_UNSUPPORTED);
    this.discarded += n;
    if (n > 0 && !this.predatesLogged) {
      this.predatesLogged = true;
      this.log.warn(
        { reason: why },
        'uplink: collector predates review items; review messages are deleted, events are not affected',
      );
    }
  }

  private rejected(refs: readonly ItemRef[], code: string, message: string): void {
    const n = this.outbox.discard(refs, { code, message }, REVIEWS_REJECTED);
    this.discarded += n;
    if (n > 0 && !this.rejectedLogged.has(code)) {
      this.rejectedLogged.add(code);
      this.log.warn({ code, message }, 'uplink: collector rejected a review message; it is deleted');
    }
  }
}

const key = (r: ItemRef): string => `${r.eventId}\u0000${r.rev}`;
