import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log/index.js';
import { validateReview } from '../../firmware-protocol/messages.js';
import type { OutboxEvent } from '../outbox/index.js';
import { REVIEW_UNANSWERED_MAX } from '../uplink/review-delivery.js';
import { startAedes } from './support-uplink/aedes-broker.js';
import { eventLife, makeReview, testDevice } from './support-uplink/events.js';
import { FakeCollector, type ReviewSupport } from './support-uplink/fake-collector.js';
import { makeAgent, waitFor, type AgentUnderTest } from './support-uplink/harness.js';

/**
 * Review records over the uplink (issue 13, PROTOCOL.md §2.1): to a collector that knows them (acked kind review),
 * and to one from before review items (the box deletes them quietly, counted, logged once, and events never wait).
 */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Transport = 'https' | 'mqtt';

interface Setup {
  c: FakeCollector;
  a: AgentUnderTest;
  logs: string[];
}

/** A fake collector reading reviews as `reviews`, and an agent talking to it over `transport`. */
async function setup(transport: Transport, reviews: ReviewSupport, heartbeatMs = 0): Promise<Setup> {
  const c = new FakeCollector(testDevice());
  c.reviews = reviews;
  let url: string;
  if (transport === 'mqtt') {
    const broker = await startAedes();
    cleanups.push(broker.close);
    await c.connectMqtt(broker.url);
    url = broker.url;
  } else url = await c.listenHttp();
  cleanups.push(() => c.close());
  const logs: string[] = [];
  const logger = createLogger({ component: 'uplink', destination: { write: (l: string) => void logs.push(l) } });
  const a = makeAgent({
    device: c.device,
    url,
    outbox: { backoff: { baseMs: 20, maxMs: 100 } },
    uplink: { logger, ackTimeoutMs: 400, heartbeatIntervalMs: heartbeatMs },
  });
  cleanups.push(a.stop);
  return { c, a, logs };
}

/** One review item's life (new, update to alert, end) of `device`. */
function reviewLife(deviceId: string): OutboxEvent[] {
  const id = makeReview().id;
  const objects = ['evt_01JGZ60B4W2Y8T6R5Q3P1N9M7K'];
  return [
    makeReview({ id, deviceId, objects, severity: 'detection' }),
    makeReview({ id, deviceId, objects, type: 'update', rev: 1, severity: 'alert' }),
    makeReview({ id, deviceId, objects, type: 'end', rev: 2, severity: 'alert' }),
  ];
}

/** Reviews first, then events, then more reviews: events must not wait on reviews. */
function enqueueMix(s: Setup, lives = 3): { events: OutboxEvent[]; reviews: OutboxEvent[] } {
  const id = s.c.device.deviceId;
  const reviews = [...reviewLife(id), ...reviewLife(id)];
  const events = Array.from({ length: lives }, () => eventLife(id)).flat();
  for (const r of reviews.slice(0, 3)) s.a.outbox.enqueue(r);
  for (const e of events) s.a.outbox.enqueue(e);
  for (const r of reviews.slice(3)) s.a.outbox.enqueue(r);
  s.a.uplink.notify();
  return { events, reviews };
}

const drained = (a: AgentUnderTest) => () => a.outbox.stats().depth === 0;
const predatesLines = (logs: string[]): string[] => logs.filter((l) => l.includes('collector predates review items'));

describe.each<Transport>(['https', 'mqtt'])('review records over %s', (transport) => {
  it('a collector that knows review items gets each alone, valid, and acks them kind review', async () => {
    const s = await setup(transport, 'known');
    const { events, reviews } = enqueueMix(s);
    await s.a.uplink.start();
    await waitFor('outbox drained', drained(s.a));
    expect(s.c.received.reviews.size).toBe(reviews.length);
    expect(s.c.received.events.size).toBe(events.length);
    for (const r of s.c.received.reviews.values()) expect(validateReview.issues(r)).toEqual([]);
    expect(s.a.uplink.metrics.reviewsSent).toBe(reviews.length); // one message each
    expect(s.a.uplink.reviews.acked).toBe(reviews.length);
    const st = s.a.outbox.stats();
    expect(st.byKind.review.acked).toBe(reviews.length);
    expect(st.counters['reviews.unsupported']).toBeUndefined();
    expect(st.total.dead).toBe(0);
  });

  it('a pre-review collector acking them kind event: deleted quietly, events all delivered', async () => {
    const s = await setup(transport, 'pre-review-event-ack');
    const { events, reviews } = enqueueMix(s);
    await s.a.uplink.start();
    await waitFor('outbox drained', drained(s.a));
    expect(s.c.received.events.size).toBe(events.length);
    expect(s.c.received.reviews.size).toBe(0);
    const st = s.a.outbox.stats();
    expect(st.counters['reviews.unsupported']).toBe(reviews.length);
    expect(st.byKind.review.dropped).toBe(reviews.length);
    expect(st.total.dead).toBe(0);
    expect(st.dropped).toBe(0); // nothing counts as lost: the heartbeat's `dropped` stays 0
    expect(s.a.uplink.metrics.reviewsSent).toBe(reviews.length); // each sent once, never again
    expect(predatesLines(s.logs)).toHaveLength(1);
  });
});

describe('review records to the collector code path from before review items, as it was', () => {
  it('HTTPS: each review body is refused 400 invalid_message; deleted quietly, events all delivered', async () => {
    const s = await setup('https', 'pre-review');
    const { events, reviews } = enqueueMix(s);
    await s.a.uplink.start();
    await waitFor('outbox drained', drained(s.a));
    expect(s.c.received.events.size).toBe(events.length);
    const st = s.a.outbox.stats();
    expect(st.counters['reviews.unsupported']).toBe(reviews.length);
    expect(st.total.dead).toBe(0);
    expect(s.a.uplink.metrics.reviewsSent).toBe(reviews.length);
    const reasons = s.a.outbox.list({ states: ['dropped'], kind: 'review' }).map((i) => i.lastErrorCode);
    expect(new Set(reasons)).toEqual(new Set(['collector_predates_reviews']));
    expect(predatesLines(s.logs)).toHaveLength(1);
  });

  it('MQTT: reviews get no ack; events flow past them; each review goes after 3 unanswered sends', async () => {
    const s = await setup('mqtt', 'pre-review', 150); // the daemon's heartbeats are acked over MQTT too
    const { events, reviews } = enqueueMix(s);
    await s.a.uplink.start();
    // Events do not wait for the reviews' leases: all of them are stored while reviews are still in the outbox.
    await waitFor('events stored', () => s.c.received.events.size === events.length);
    expect(s.a.outbox.stats().byKind.review.dropped).toBeLessThan(reviews.length);
    await waitFor('outbox drained', drained(s.a), 60_000);
    const st = s.a.outbox.stats();
    expect(st.counters['reviews.unsupported']).toBe(reviews.length);
    expect(st.total.dead).toBe(0);
    expect(s.a.uplink.metrics.reviewsSent).toBe(reviews.length * REVIEW_UNANSWERED_MAX);
    expect(predatesLines(s.logs)).toHaveLength(1);
  }, 90_000);

  it('MQTT: with nothing else to send, acked heartbeats tell the collector is there; the review goes', async () => {
    const s = await setup('mqtt', 'pre-review', 150);
    const [r] = reviewLife(s.c.device.deviceId);
    s.a.outbox.enqueue(r!);
    await s.a.uplink.start();
    await waitFor('outbox drained', drained(s.a), 30_000);
    expect(s.a.outbox.stats().counters['reviews.unsupported']).toBe(1);
    expect(s.c.received.heartbeats.length).toBeGreaterThan(0);
  }, 60_000);

  it('MQTT: a review is never given up while the collector acks nothing at all (it may just be away)', async () => {
    const s = await setup('mqtt', 'pre-review');
    s.c.faults.dropAcks = 1_000_000; // the collector answers nothing: not even events
    const [r] = reviewLife(s.c.device.deviceId);
    s.a.outbox.enqueue(r!);
    await s.a.uplink.start();
    await waitFor('4 sends', () => s.a.uplink.metrics.reviewsSent >= REVIEW_UNANSWERED_MAX + 1, 30_000);
    expect(s.a.outbox.stats().counters['reviews.unsupported']).toBeUndefined();
    expect(s.a.outbox.stats().depth).toBe(1);
  }, 60_000);
});
