import { setTimeout as sleep } from 'node:timers/promises';
import { eventsPath } from '../../../firmware-protocol/http.js';
import type { Ack } from '../../../firmware-protocol/messages.js';
import type { DeviceCredentials } from '../../../shared/signing/index.js';
import type { WireObject } from '../../ingest/sink.js';
import type { TestCloud } from '../support/cloud.js';
import type { Deliveries, NotifyHarness } from './notify-harness.js';

/**
 * Review items end to end: a box's signed review message, the item as GET /v1/reviews/{id} shows it (with its push
 * state), and the pushes that reached the local APNs / FCM / Web Push servers for it.
 */
export interface ReviewView {
  id: string;
  rev: number;
  severity: string;
  status: string;
  objects: string[];
  labels: string[];
  reviewed: boolean;
  thumbnail: { event_id: string; url: string } | null;
  events: Array<{ id: string; label: string; thumbnail_url: string | null }>;
  notification: {
    job_state: string | null;
    decision: string | null;
    decision_detail: string | null;
    push_state: string | null;
    push_count: number;
    push_title: string | null;
    push_body: string | null;
  } | null;
}

/** POST a review message as the box does (alone, signed); the ack must accept it. */
export async function sendReview(t: TestCloud, creds: DeviceCredentials, review: WireObject): Promise<void> {
  const res = await t.signedFetch(creds, 'POST', eventsPath(creds.deviceId), Buffer.from(JSON.stringify(review)));
  const body = (await res.json()) as Ack;
  const ack = body.acks?.[0];
  if (res.status !== 200 || ack?.kind !== 'review' || ack.status !== 'accepted')
    throw new Error(`review upload: ${res.status} ${JSON.stringify(body)}`);
}

/** GET /v1/reviews/{id} until `done` says so. */
export async function waitForReview(
  t: TestCloud,
  reviewId: string,
  done: (r: ReviewView) => boolean,
  timeoutMs = 20_000,
): Promise<ReviewView> {
  const end = Date.now() + timeoutMs;
  let last: ReviewView | undefined;
  while (Date.now() < end) {
    const res = await t.api(`/v1/reviews/${reviewId}`);
    if (res.status === 200) {
      last = (await res.json()) as ReviewView;
      if (done(last)) return last;
    }
    await sleep(50);
  }
  throw new Error(`review item ${reviewId} did not reach the expected state; last seen: ${JSON.stringify(last)}`);
}

/** The item's job finished with this many pushes recorded as sent. */
export const pushedTimes =
  (count: number) =>
  (r: ReviewView): boolean =>
    r.notification?.job_state === 'done' && r.notification.push_count === count && r.notification.push_state === 'sent';

/** The item's job finished (whatever it decided). */
export const reviewSettled = (r: ReviewView): boolean => r.notification?.job_state === 'done';

/** Pushes that reached each platform server for one review item (by the review_id they carry). */
export function reviewDeliveries(h: NotifyHarness, reviewId: string): Deliveries {
  return {
    apns: h.apns.deliveries.filter((d) => d.payload.review_id === reviewId),
    fcm: h.fcm.deliveries.filter(
      (d) => (d.message.data as Record<string, unknown> | undefined)?.review_id === reviewId,
    ),
    web: h.web.deliveries
      .map((d) => ({ ...d, payload: JSON.parse(d.plaintext) as Record<string, unknown> }))
      .filter((d) => d.payload.review_id === reviewId),
  };
}
