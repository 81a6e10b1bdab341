/**
 * The tracker with zones: every message carries `zones` and `current_zones`; an announced event gets an `update` at
 * once when it enters a zone; zones entered before the announcement are in the `new`.
 */
import { describe, expect, it } from 'vitest';
import { validator } from '../../shared/schema/index.js';
import type { Detection } from '../detect/types.js';
import { EventMessageSchema, type EventMessage } from '../track/messages.js';
import { MotionEventTracker } from '../track/motion-events.js';
import { ObjectTracker } from '../track/tracker.js';
import type { ZoneDefinition } from '../zones/index.js';

const W = 640;
const H = 360;
const check = validator(EventMessageSchema);
/** The lower half, and a strip on the right (x > 0.75). */
const ZONES: ZoneDefinition[] = [
  {
    name: 'lower',
    coordinates: [
      [0, 0.5],
      [1, 0.5],
      [1, 1],
      [0, 1],
    ],
    inertia: 3,
    loitering_time: 0,
    filters: {},
  },
  {
    name: 'right',
    coordinates: [
      [0.75, 0],
      [1, 0],
      [1, 1],
      [0.75, 1],
    ],
    inertia: 3,
    loitering_time: 0,
    filters: {},
  },
];

/** A 40×80 person with its feet at (x, y) pixels. */
const person = (x: number, y: number, score = 0.9): Detection => ({
  label: 'person',
  classId: 0,
  score,
  box: [x - 20, y - 80, x + 20, y],
});

/** Feet positions from [x, y, frames] legs: each leg stays `frames` frames, or walks there at 15 px per frame. */
function walk(legs: [number, number, number][]): Detection[] {
  const out: Detection[] = [];
  let pos: [number, number] | undefined;
  for (const [x, y, frames] of legs) {
    if (pos) {
      const [x0, y0] = pos;
      const steps = Math.ceil(Math.hypot(x - x0, y - y0) / 15);
      for (let i = 1; i < steps; i++) out.push(person(x0 + ((x - x0) * i) / steps, y0 + ((y - y0) * i) / steps));
    }
    for (let i = 0; i < frames; i++) out.push(person(x, y));
    pos = [x, y];
  }
  return out;
}

/** The frame at which the feet have been where `inside` says for 3 consecutive frames (inertia 3). */
function thirdFrame(dets: Detection[], inside: (x: number, y: number) => boolean): number {
  let run = 0;
  for (const [i, d] of dets.entries()) {
    run = inside((d.box[0] + d.box[2]) / 2, d.box[3]) ? run + 1 : 0;
    if (run === 3) return i;
  }
  throw new Error('never inside for 3 frames');
}

/** The updates whose `zones` differ from the event's previous message. */
function zoneChanges(msgs: { frame: number; msg: EventMessage }[]): { frame: number; msg: EventMessage }[] {
  const last = new Map<string, string>();
  return msgs.filter(({ msg }) => {
    const zones = msg.zones.join();
    const changed = last.has(msg.id) && last.get(msg.id) !== zones;
    last.set(msg.id, zones);
    return msg.type === 'update' && changed;
  });
}

/** Feeds one detection per frame (200 ms apart); returns each frame's messages with the frame index. */
function feed(t: ObjectTracker, dets: Detection[]): { frame: number; msg: EventMessage }[] {
  const out: { frame: number; msg: EventMessage }[] = [];
  dets.forEach((d, frame) => {
    for (const msg of t.update([d], frame * 200).messages) out.push({ frame, msg });
  });
  for (const msg of t.flush()) out.push({ frame: dets.length, msg });
  return out;
}

describe('ObjectTracker with zones', () => {
  it('without zones, every message still carries empty zones and current_zones', () => {
    const t = new ObjectTracker({ camera: 'c', width: W, height: H });
    const msgs = feed(
      t,
      Array.from({ length: 12 }, (_, i) => person(100 + i * 4, 100)),
    );
    expect(msgs.map((m) => m.msg.type)).toEqual(['new', 'end']);
    for (const { msg } of msgs) {
      expect(check.issues(msg)).toEqual([]);
      expect(msg).toMatchObject({ zones: [], current_zones: [] });
    }
  });

  it('motion-only events carry empty zones too', () => {
    const m = new MotionEventTracker({ camera: 'c', width: W, height: H });
    const out: EventMessage[] = [];
    for (let i = 0; i < 4; i++) out.push(...m.update([[10, 10, 50, 50]], i * 200).messages);
    out.push(...m.flush());
    expect(out.map((x) => x.type)).toEqual(['new', 'end']);
    for (const msg of out) expect(msg).toMatchObject({ zones: [], current_zones: [] });
  });

  it('an announced event gets an update on the frame it enters a zone, in order of entry', () => {
    // No periodic or stationary updates: the only updates are zone entries (and better pictures, none here).
    const quiet = { update_period_ms: 600_000, stationary_after_ms: 600_000 };
    const t = new ObjectTracker({ camera: 'c', width: W, height: H, zones: ZONES, ...quiet });
    // Upper left (announced at frame 5), down into the lower half, right into the lower-right corner (the right
    // strip starts at x 480), then up into the upper right, 15 px per frame.
    const dets = walk([
      [200, 100, 8],
      [200, 300, 14],
      [560, 300, 24],
      [560, 100, 14],
    ]);
    const lowerAt = thirdFrame(dets, (_x, y) => y > H / 2);
    const rightAt = thirdFrame(dets, (x) => x > 0.75 * W);
    expect(lowerAt).toBeLessThan(rightAt);
    const msgs = feed(t, dets);
    for (const { msg } of msgs) expect(check.issues(msg)).toEqual([]);
    expect(new Set(msgs.map((m) => m.msg.id)).size).toBe(1);
    expect(msgs.find((m) => m.msg.type === 'new')?.msg.zones).toEqual([]);
    const updates = zoneChanges(msgs);
    expect(updates.map((u) => [u.frame, u.msg.zones, u.msg.current_zones])).toEqual([
      [lowerAt, ['lower'], ['lower']],
      [rightAt, ['lower', 'right'], ['lower', 'right']],
    ]);
    // Upper right: it left `lower` after 3 frames outside; the end keeps the history and the current state.
    const end = msgs.at(-1)?.msg;
    expect(end?.type).toBe('end');
    expect(end?.zones).toEqual(['lower', 'right']);
    expect(end?.current_zones).toEqual(['right']);
  });

  it('the zone update is not held back by update_min_interval_ms', () => {
    const t = new ObjectTracker({
      camera: 'c',
      width: W,
      height: H,
      zones: ZONES,
      update_min_interval_ms: 60_000,
      update_period_ms: 60_000,
    });
    const dets = walk([
      [200, 100, 8],
      [200, 300, 20],
    ]);
    const lowerAt = thirdFrame(dets, (_x, y) => y > H / 2);
    const msgs = feed(t, dets);
    // Also an update when it starts walking (frame 8, `moved`): the zone one does not wait 60 s after it.
    expect(msgs.map((m) => [m.frame, m.msg.type, m.msg.zones, m.msg.moved])).toEqual([
      [5, 'new', [], false],
      [8, 'update', [], true],
      [lowerAt, 'update', ['lower'], true],
      [dets.length, 'end', ['lower'], true],
    ]);
  });

  it('zones entered before the announcement are in the new message, with no extra update', () => {
    const t = new ObjectTracker({ camera: 'c', width: W, height: H, zones: ZONES });
    const msgs = feed(
      t,
      Array.from({ length: 10 }, () => person(200, 300)),
    );
    expect(msgs.map((m) => [m.msg.type, m.msg.zones, m.msg.current_zones])).toEqual([
      ['new', ['lower'], ['lower']],
      ['end', ['lower'], ['lower']],
    ]);
  });

  it('an object that only passes through a zone in fewer frames than inertia never has it', () => {
    const t = new ObjectTracker({ camera: 'c', width: W, height: H, zones: ZONES });
    // Two frames with the feet just inside the lower half, then back up.
    const dets = [
      ...Array.from({ length: 8 }, () => person(200, 170)),
      person(200, 185),
      person(200, 190),
      ...Array.from({ length: 4 }, () => person(200, 170)),
    ];
    const msgs = feed(t, dets);
    expect(msgs.every((m) => m.msg.zones.length === 0)).toBe(true);
  });

  it('moved: false while the object stays where it was first seen, an update as soon as it leaves, then sticky', () => {
    const t = new ObjectTracker({ camera: 'c', width: W, height: H, update_period_ms: 600_000 });
    const dets = walk([
      [200, 100, 12],
      [400, 100, 3],
      [400, 100, 30],
    ]);
    const msgs = feed(t, dets);
    expect(msgs[0]).toMatchObject({ frame: 5, msg: { type: 'new', moved: false } });
    const first = msgs.findIndex((m) => m.msg.moved);
    // Frame 12 is its first step (15 px: the box overlaps its first position by less than stationary_iou).
    expect(msgs[first]).toMatchObject({ frame: 12, msg: { type: 'update', moved: true } });
    expect(msgs.slice(first).every((m) => m.msg.moved)).toBe(true);
    expect(msgs.at(-1)?.msg).toMatchObject({ type: 'end', moved: true, stationary: true });
  });
});
