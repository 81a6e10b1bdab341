import { describe, expect, it } from 'vitest';
import { isVigilError } from '../../shared/errors/index.js';
import { validator } from '../../shared/schema/index.js';
import { newEventId } from '../../shared/ids/index.js';
import type { Detection } from '../detect/types.js';
import { EventMessageSchema, type EventMessage } from '../track/messages.js';
import { MotionEventTracker } from '../track/motion-events.js';
import { ObjectTracker } from '../track/tracker.js';

const det = (label: string, score: number, box: [number, number, number, number]): Detection => ({
  label,
  classId: 0,
  score,
  box,
});
const checkMessage = validator(EventMessageSchema);

function run(tracker: ObjectTracker, frames: Detection[][], stepMs = 200, startMs = 0): EventMessage[] {
  const out: EventMessage[] = [];
  for (const [i, dets] of frames.entries()) {
    const ms = startMs + i * stepMs;
    out.push(...tracker.update(dets, ms, { wallMs: 1_700_000_000_000 + ms }).messages);
  }
  return out;
}

const walker = (i: number, score = 0.85) => det('person', score, [10 + i * 4, 100, 50 + i * 4, 200]);

describe('ObjectTracker gate', () => {
  it('announces only once the median of the last 10 scores (missing = 0) reaches the threshold', () => {
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360, mediaTimes: true });
    const msgs: EventMessage[] = [];
    for (let i = 0; i < 5; i++) msgs.push(...t.update([walker(i)], i * 200).messages);
    expect(msgs).toEqual([]); // 5 scores + 5 zeros: median (0 + 0.85)/2 < 0.7
    msgs.push(...t.update([walker(5)], 1000).messages);
    expect(msgs.map((m) => m.type)).toEqual(['new']);
    const m = msgs[0] as EventMessage;
    expect(checkMessage.check(m)).toBe(true);
    expect(m).toMatchObject({
      label: 'person',
      score: 0.85,
      media_start: 0,
      media_end: null,
      ended_at: null,
      stationary: false,
    });
    expect(m.box).toEqual([30 / 640, 100 / 360, 70 / 640, 200 / 360].map((v) => Math.round(v * 1e4) / 1e4));
  });
  it('never announces an object whose median stays below the threshold, and ignores detections below min_score', () => {
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360 });
    const frames = Array.from({ length: 30 }, (_, i) => [
      walker(i, i % 2 ? 0.8 : 0.5),
      det('dog', 0.45, [300, 10, 340, 40]),
    ]);
    expect(run(t, frames)).toEqual([]);
  });
  it('honours per-label thresholds', () => {
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360, labels: { person: { threshold: 0.55 } } });
    const msgs = run(
      t,
      Array.from({ length: 8 }, (_, i) => [walker(i, 0.6)]),
    );
    expect(msgs.map((m) => m.type)).toEqual(['new']);
  });
});

describe('ObjectTracker lifecycle', () => {
  it('keeps one id through new → update → end, ends after max_disappeared with duration and media_end', () => {
    const t = new ObjectTracker({
      camera: 'c',
      width: 640,
      height: 360,
      mediaTimes: true,
      update_period_ms: 2000,
      update_min_interval_ms: 100000,
    });
    const frames: Detection[][] = [
      ...Array.from({ length: 40 }, (_, i) => [walker(i)]),
      ...Array.from({ length: 15 }, () => []),
    ];
    const msgs = run(t, frames);
    const types = msgs.map((m) => m.type);
    expect(types[0]).toBe('new');
    expect(types.at(-1)).toBe('end');
    expect(new Set(msgs.map((m) => m.id)).size).toBe(1);
    // Periodic updates every 2 s over ~7 s of track, not every frame.
    const updates = types.filter((x) => x === 'update').length;
    expect(updates).toBeGreaterThanOrEqual(2);
    expect(updates).toBeLessThanOrEqual(4);
    const end = msgs.at(-1) as EventMessage;
    expect(end.media_end).toBeCloseTo(7.8, 6);
    expect(end.duration).toBeCloseTo(7.8, 6);
    expect(end.ended_at).toBe(new Date(1_700_000_000_000 + 39 * 200).toISOString());
    expect(checkMessage.check(end)).toBe(true);
    // Ended at the first frame ≥ 2 s after the first missed frame (8.0 s): 10.0 s = frame 50.
    expect(msgs.filter((m) => m.type === 'end')).toHaveLength(1);
  });
  it('sends an update when a clearly better picture appears, rate-limited', () => {
    const t = new ObjectTracker({
      camera: 'c',
      width: 640,
      height: 360,
      update_min_interval_ms: 1000,
      update_period_ms: 100000,
    });
    // Growing box: better pictures keep coming; updates at most once per second.
    const frames = Array.from({ length: 30 }, (_, i) => [det('person', 0.85, [100, 100, 140 + i * 6, 200 + i * 6])]);
    const msgs = run(t, frames);
    const updates = msgs.filter((m) => m.type === 'update');
    expect(updates.length).toBeGreaterThan(0);
    expect(updates.length).toBeLessThanOrEqual(5);
  });
  it('asks for thumbnail candidates only when the picture improves', () => {
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360 });
    let candidates = 0;
    for (let i = 0; i < 20; i++)
      candidates += t
        .update([det('car', 0.8, [100, 100, 200, 160])], i * 200)
        .thumbnails.filter((c) => c.kind === 'best').length;
    expect(candidates).toBe(1);
  });
  it('follows a fast walker whose boxes do not overlap between frames (centre-distance pass)', () => {
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360 });
    const msgs = run(
      t,
      Array.from({ length: 20 }, (_, i) => [det('person', 0.9, [i * 25, 100, i * 25 + 30, 180])]),
    );
    expect(msgs.filter((m) => m.type === 'new')).toHaveLength(1);
  });
  it('keeps two crossing people apart by label-wise greedy IoU', () => {
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360 });
    const msgs = run(
      t,
      Array.from({ length: 20 }, (_, i) => [
        det('person', 0.9, [10 + i * 3, 100, 50 + i * 3, 200]),
        det('person', 0.9, [400 - i * 3, 100, 440 - i * 3, 200]),
      ]),
    );
    expect(msgs.filter((m) => m.type === 'new')).toHaveLength(2);
  });
  it('flush ends announced tracks only', () => {
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360 });
    run(
      t,
      Array.from({ length: 8 }, (_, i) => [walker(i), det('dog', 0.55, [400, 10, 440, 40])]),
    );
    const ends = t.flush();
    expect(ends.map((m) => [m.type, m.label])).toEqual([['end', 'person']]);
    expect(t.activeCount).toBe(0);
  });
});

describe('stationary objects', () => {
  const car = (jitter: number) => det('car', 0.8, [400 + jitter, 20, 480 + jitter, 60]);

  it('a parked car flickering in and out for a minute yields one event and becomes stationary', () => {
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360, mediaTimes: true });
    const frames: Detection[][] = [];
    for (let i = 0; i < 400; i++) {
      // Missing for 5 s stretches every 20 s, and every third frame.
      const gone = (i % 100 >= 60 && i % 100 < 85) || i % 3 === 0;
      frames.push(gone ? [] : [car(i % 2)]);
    }
    const msgs = run(t, frames);
    expect(msgs.filter((m) => m.type === 'new')).toHaveLength(1);
    expect(msgs.some((m) => m.type === 'end')).toBe(false);
    expect(new Set(msgs.map((m) => m.id)).size).toBe(1);
    const stationaryUpdate = msgs.find((m) => m.type === 'update' && m.stationary);
    expect(stationaryUpdate).toBeDefined();
    expect(t.stationaryCount).toBe(1);
  });
  it('a moving object missing for the same 5 s ends and a new event starts', () => {
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360 });
    const frames: Detection[][] = [
      ...Array.from({ length: 20 }, (_, i) => [walker(i)]),
      ...Array.from({ length: 25 }, () => []),
      ...Array.from({ length: 20 }, (_, i) => [walker(i + 20)]),
    ];
    const news = run(t, frames).filter((m) => m.type === 'new');
    expect(news).toHaveLength(2);
  });
  it('a stationary object that drives away becomes active again', () => {
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360, stationary_after_ms: 2000 });
    const frames = [
      ...Array.from({ length: 20 }, () => [car(0)]),
      ...Array.from({ length: 10 }, (_, i) => [car(i * 6 + 6)]),
    ];
    const msgs = run(t, frames);
    const flags = msgs.filter((m) => m.type === 'update').map((m) => m.stationary);
    expect(flags).toContain(true);
    expect(flags.at(-1)).toBe(false);
    expect(msgs.filter((m) => m.type === 'new')).toHaveLength(1);
  });
  it('tracks outside the examined regions are not counted as missing', () => {
    const t = new ObjectTracker({ camera: 'c', width: 1920, height: 1080, max_disappeared_ms: 1000 });
    for (let i = 0; i < 10; i++) t.update([det('person', 0.9, [100, 100, 150, 200])], i * 200);
    const msgs: EventMessage[] = [];
    for (let i = 10; i < 60; i++) msgs.push(...t.update([], i * 200, { observed: [[1000, 500, 1416, 916]] }).messages);
    expect(msgs).toEqual([]);
    expect(t.activeCount).toBe(1);
    const ended = t.update([], 60 * 200, {}).messages; // whole frame examined: now it is missing
    expect(ended).toEqual([]);
    expect(t.update([], 66 * 200).messages.map((m) => m.type)).toEqual(['end']);
  });
});

describe('confusable labels (car/truck/bus)', () => {
  const van: [number, number, number, number] = [400, 20, 470, 62];
  const jitter = (b: [number, number, number, number], i: number): [number, number, number, number] => [
    b[0] + (i % 3) - 1,
    b[1],
    b[2] + (i % 2),
    b[3],
  ];
  const news = (msgs: EventMessage[]) => msgs.filter((m) => m.type === 'new');

  it('a parked vehicle detected as both car and truck in every frame is one event, the runner-up an attribute', () => {
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360 });
    const frames = Array.from({ length: 300 }, (_, i) => [
      det('truck', 0.74, jitter(van, i)),
      det('car', 0.7, jitter(van, i + 1)),
    ]);
    const msgs = [...run(t, frames), ...t.flush()];
    expect(news(msgs)).toHaveLength(1);
    expect(new Set(msgs.map((m) => m.id)).size).toBe(1);
    expect(t.activeCount).toBe(0);
    const first = news(msgs)[0] as EventMessage;
    expect(first.label).toBe('truck');
    expect(first.attributes).toEqual({ alt_label: 'car', alt_score: 0.7 });
    expect(msgs.every((m) => m.label === 'truck' && checkMessage.check(m))).toBe(true);
    expect(msgs.some((m) => m.stationary)).toBe(true);
  });
  it('a label that flips between car and truck from frame to frame stays one event', () => {
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360 });
    const frames = Array.from({ length: 100 }, (_, i) => [det(i % 3 === 0 ? 'truck' : 'car', 0.8, jitter(van, i))]);
    const msgs = run(t, frames);
    expect(news(msgs)).toHaveLength(1);
    expect(news(msgs)[0]?.label).toBe('car');
    expect(t.activeCount).toBe(1);
  });
  it('before the event is announced its label is the one seen most surely (mean score); after, it stays', () => {
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360 });
    // Seen as a truck first, then mostly as a car with a higher score: announced as a car.
    const frames = [
      [det('truck', 0.75, van)],
      ...Array.from({ length: 10 }, () => [det('truck', 0.72, van), det('car', 0.9, van)]),
    ];
    const msgs = run(t, frames);
    expect(news(msgs).map((m) => [m.label, m.attributes?.alt_label])).toEqual([['car', 'truck']]);
    // Later the truck label wins by score: the announced event keeps "car".
    const later = run(
      t,
      Array.from({ length: 60 }, () => [det('truck', 0.95, van), det('car', 0.6, van)]),
      200,
      2200,
    );
    expect(news(later)).toEqual([]);
    expect(later.every((m) => m.label === 'car')).toBe(true);
    expect(later.at(-1)?.attributes?.alt_label).toBe('truck');
  });
  it('a truck next to a car (overlap below label_group_iou) is a second event', () => {
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360 });
    const beside: [number, number, number, number] = [440, 20, 510, 62]; // IoU with van ≈ 0.27
    const msgs = run(
      t,
      Array.from({ length: 20 }, () => [det('car', 0.8, van), det('truck', 0.8, beside)]),
    );
    expect(
      news(msgs)
        .map((m) => m.label)
        .sort(),
    ).toEqual(['car', 'truck']);
  });
  it('same-label objects that overlap strongly stay separate tracks (two people walking together, two cars)', () => {
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360 });
    // Side by side, IoU ≈ 0.67, walking together.
    const pair = (i: number) => [
      det('person', 0.85, [100 + i * 4, 100, 160 + i * 4, 250]),
      det('person', 0.8, [112 + i * 4, 102, 172 + i * 4, 252]),
    ];
    expect(
      news(
        run(
          t,
          Array.from({ length: 30 }, (_, i) => pair(i)),
        ),
      ).length,
    ).toBe(2);
    const cars = new ObjectTracker({ camera: 'c', width: 640, height: 360 });
    const twoCars = Array.from({ length: 20 }, () => [det('car', 0.8, van), det('car', 0.8, [408, 22, 478, 64])]);
    expect(news(run(cars, twoCars))).toHaveLength(2);
  });
  it('a person overlapping a car is never merged into it (not a group)', () => {
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360 });
    const msgs = run(
      t,
      Array.from({ length: 20 }, () => [det('car', 0.8, van), det('person', 0.8, [402, 20, 468, 62])]),
    );
    expect(
      news(msgs)
        .map((m) => m.label)
        .sort(),
    ).toEqual(['car', 'person']);
  });
  it(
    'groups are configurable: none → car and truck on one box are two events; a label in two groups is ' + 'rejected',
    () => {
      const t = new ObjectTracker({ camera: 'c', width: 640, height: 360, label_groups: [] });
      expect(
        news(
          run(
            t,
            Array.from({ length: 20 }, () => [det('truck', 0.8, van), det('car', 0.8, van)]),
          ),
        ),
      ).toHaveLength(2);
      const custom = new ObjectTracker({ camera: 'c', width: 640, height: 360, label_groups: [['cat', 'dog']] });
      expect(
        news(
          run(
            custom,
            Array.from({ length: 20 }, () => [det('dog', 0.8, van), det('cat', 0.75, van)]),
          ),
        ),
      ).toHaveLength(1);
      let err: unknown;
      try {
        new ObjectTracker({
          camera: 'c',
          width: 640,
          height: 360,
          label_groups: [
            ['car', 'truck'],
            ['truck', 'bus'],
          ],
        });
      } catch (e) {
        err = e;
      }
      expect(isVigilError(err, 'config_invalid')).toBe(true);
      expect((err as Error).message).toContain('"truck" is in two groups');
    },
  );
});

describe('thumbnail candidates', () => {
  it('an unannounced track asks for crops only; at the announcement the frame is wanted for the snapshot', () => {
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360 });
    const outs = Array.from({ length: 8 }, (_, i) =>
      t.update([det('person', i < 2 ? 0.9 : 0.8, [100, 100, 140, 200])], i * 200),
    );
    expect(outs[0]?.thumbnails).toEqual([
      { id: expect.any(String), box: [100, 100, 140, 200], score: 0.9, kind: 'best', announced: false },
    ]);
    const at = outs.findIndex((o) => o.messages.some((m) => m.type === 'new'));
    expect(at).toBe(5);
    expect(
      outs
        .slice(0, at)
        .flatMap((o) => o.thumbnails)
        .every((c) => !c.announced),
    ).toBe(true);
    // The best view (score 0.9, frame 0) is older: this frame is kept for the snapshot.
    expect(outs[at]?.thumbnails).toEqual([
      { id: outs[0]?.thumbnails[0]?.id, box: [100, 100, 140, 200], score: 0.8, kind: 'snapshot', announced: true },
    ]);
  });
});

describe('MotionEventTracker', () => {
  const box: [number, number, number, number] = [10, 10, 50, 50];
  it(
    'starts after k consecutive motion frames (start = first of them) and ends after the quiet time (end = last ' +
      'motion)',
    () => {
      const m = new MotionEventTracker({
        camera: 'c',
        width: 100,
        height: 100,
        mediaTimes: true,
        startFrames: 3,
        endAfterMs: 1000,
      });
      const out: EventMessage[] = [];
      const seq = [0, 1, 0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0];
      for (const [i, s] of seq.entries()) out.push(...m.update(s ? [box] : [], i * 200).messages);
      expect(out.map((x) => x.type)).toEqual(['new', 'end']);
      expect(out[0]).toMatchObject({ label: 'motion', media_start: 0.6 });
      expect(out[1]).toMatchObject({ media_end: 1.6, duration: 1 });
      expect(checkMessage.check(out[1])).toBe(true);
    },
  );
  it('a single flicker frame makes no event', () => {
    const m = new MotionEventTracker({ camera: 'c', width: 100, height: 100 });
    const out = [0, 1, 0, 0, 1, 0, 1, 1, 0].flatMap((s, i) => m.update(s ? [box] : [], i * 200).messages);
    expect(out).toEqual([]);
    expect(m.flush()).toEqual([]);
  });
  it('uses the id source it is given', () => {
    const id = newEventId();
    const m = new MotionEventTracker({ camera: 'c', width: 100, height: 100, newId: () => id, startFrames: 1 });
    expect(m.update([box], 0).messages[0]?.id).toBe(id);
  });
});
