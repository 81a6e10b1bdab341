import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log/index.js';
import { validateEvent, validateReview } from '../../firmware-protocol/messages.js';
import { EventSink } from '../daemon/event-sink.js';
import { ReviewTracker, type ReviewRules } from '../review/index.js';
import type { EventMessage } from '../track/messages.js';
import { testDevice } from './support-uplink/events.js';
import { FakeCollector, type ReviewSupport } from './support-uplink/fake-collector.js';
import { makeAgent, waitFor } from './support-uplink/harness.js';

/**
 * The daemon's path for review items: pipeline event messages → ReviewTracker → EventSink.onReview → outbox →
 * uplink → collector, next to the events themselves (EventSink.onEvent).
 */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const T0 = Date.parse('2026-01-01T12:00:00.000Z');
const RULES: ReviewRules = {
  alerts: { labels: ['person'], required_zones: ['porch'] },
  detections: { required_zones: [] },
};

function message(type: EventMessage['type'], n: number, zones: string[], t: number): EventMessage {
  return {
    type,
    id: `evt_01JGZ60B4W2Y8T6R5Q3P${String(n).padStart(6, '0')}`,
    camera: 'front',
    label: 'person',
    score: 0.8,
    top_score: 0.8,
    box: [0.1, 0.5, 0.3, 0.9],
    started_at: new Date(T0).toISOString(),
    ended_at: type === 'end' ? new Date(T0 + t * 1000).toISOString() : null,
    stationary: false,
    moved: true,
    zones,
    current_zones: zones,
  };
}

/** A person walks into the porch and leaves: its event messages and the review messages they make, frame by frame. */
async function walkIn(sink: EventSink): Promise<void> {
  const tracker = new ReviewTracker({ camera: 'front', rules: RULES, merge_gap_s: 2 });
  const frames: EventMessage[][] = [
    [message('new', 1, [], 0)],
    [],
    [message('update', 1, ['porch'], 2)],
    [message('end', 1, ['porch'], 3)],
    [],
    [],
    [],
  ];
  for (const [t, msgs] of frames.entries()) {
    for (const m of msgs) await sink.onEvent(m);
    for (const r of tracker.update(msgs, { mediaMs: t * 1000, wallMs: T0 + t * 1000 })) await sink.onReview(r);
  }
  for (const r of tracker.flush()) await sink.onReview(r);
}

async function run(reviews: ReviewSupport): Promise<{ c: FakeCollector; sink: EventSink; depth: () => number }> {
  const c = new FakeCollector(testDevice());
  c.reviews = reviews;
  const url = await c.listenHttp();
  cleanups.push(() => c.close());
  const a = makeAgent({ device: c.device, url });
  cleanups.push(a.stop);
  const sink = new EventSink(c.device.deviceId, a.uplink, silentLogger());
  await a.uplink.start();
  await walkIn(sink);
  await waitFor('outbox drained', () => a.outbox.stats().depth === 0);
  return { c, sink, depth: () => a.outbox.stats().depth };
}

describe('EventSink.onReview', () => {
  it('queues protocol Reviews next to the events; the collector gets the detection and the alert item', async () => {
    const { c, sink } = await run('known');
    expect(sink.counters).toMatchObject({ accepted: 3, refused: 0, reviews: 5, reviewsRefused: 0 });
    const reviews = [...c.received.reviews.values()];
    const of = (severity: string): Array<[unknown, unknown]> =>
      reviews
        .filter((r) => r.severity === severity)
        .sort((x, y) => Number(x.rev) - Number(y.rev))
        .map((r) => [r.type, r.rev]);
    expect(of('detection')).toEqual([
      ['new', 0],
      ['update', 1],
      ['end', 2],
    ]);
    expect(of('alert')).toEqual([
      ['new', 0],
      ['end', 1],
    ]);
    const alertEnd = reviews.find((r) => r.severity === 'alert' && r.type === 'end');
    expect(alertEnd).toMatchObject({ zones: ['porch'], started_at: '2026-01-01T12:00:02.000Z' });
    expect(alertEnd).toMatchObject({ ended_at: '2026-01-01T12:00:03.000Z' });
    for (const r of reviews) {
      expect(validateReview.issues(r)).toEqual([]);
      expect(r.device_id).toBe(c.device.deviceId);
    }
    const events = [...c.received.events.values()];
    expect(events).toHaveLength(3);
    for (const e of events) expect(validateEvent.issues(e)).toEqual([]);
    expect(events.find((e) => e.rev === 1)).toMatchObject({ zones: ['porch'], current_zones: ['porch'] });
  });

  it('with a collector from before review items the events arrive, the reviews go quietly', async () => {
    const { c, sink } = await run('pre-review');
    expect(sink.counters).toMatchObject({ accepted: 3, reviews: 5 });
    expect(c.received.events.size).toBe(3);
    expect(c.received.reviews.size).toBe(0);
  });
});
