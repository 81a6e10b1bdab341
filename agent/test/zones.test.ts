/**
 * The pure zone logic (agent/zones): bottom-centre, inertia, loitering time, leaving, per-zone objects and filters.
 * A 100×100 frame; a 10×20 box whose bottom-centre is at (x, y) percent walks through the zones.
 */
import { describe, expect, it } from 'vitest';
import { ZoneSet, type ZoneChange, type ZoneDefinition, type ZoneObservation } from '../zones/index.js';

const W = 100;
const H = 100;
/** The lower half of the frame. */
const LOWER: ZoneDefinition['coordinates'] = [
  [0, 0.5],
  [1, 0.5],
  [1, 1],
  [0, 1],
];
/** The right half of the frame. */
const RIGHT: ZoneDefinition['coordinates'] = [
  [0.5, 0],
  [1, 0],
  [1, 1],
  [0.5, 1],
];

function zone(name: string, coordinates: ZoneDefinition['coordinates'], o: Partial<ZoneDefinition> = {}) {
  return { name, coordinates, inertia: 3, loitering_time: 0, filters: {}, ...o } satisfies ZoneDefinition;
}

/** A 10×20 person whose feet (bottom-centre) are at (x, y) in frame pixels, seen at `timeMs`. */
function at(x: number, y: number, timeMs: number, label = 'person', score = 0.9): ZoneObservation {
  return { label, box: [x - 5, y - 20, x + 5, y], score, timeMs };
}

/** Feeds a walk of feet positions, one frame per 200 ms; returns the change of each frame. */
function walk(
  zones: ZoneDefinition[],
  steps: [number, number][],
  label = 'person',
): {
  changes: ZoneChange[];
  presence: ReturnType<ZoneSet['presence']>;
} {
  const presence = new ZoneSet(zones, W, H).presence();
  const changes = steps.map(([x, y], i) => presence.update(at(x, y, i * 200, label)));
  return { changes, presence };
}

describe('zones: inertia', () => {
  it('crossing a zone in fewer frames than inertia: never in it', () => {
    // Two frames inside the lower half, inertia 3.
    const { changes, presence } = walk(
      [zone('lower', LOWER)],
      [
        [20, 40],
        [20, 60],
        [20, 70],
        [20, 40],
        [20, 30],
      ],
    );
    expect(changes.flatMap((c) => c.entered)).toEqual([]);
    expect(presence.zones).toEqual([]);
    expect(presence.current).toEqual([]);
  });

  it('inside for inertia consecutive frames: enters on the inertia-th frame', () => {
    const { changes, presence } = walk(
      [zone('lower', LOWER)],
      [
        [20, 40],
        [20, 60],
        [20, 70],
        [20, 80],
      ],
    );
    expect(changes.map((c) => c.entered)).toEqual([[], [], [], ['lower']]);
    expect(presence.zones).toEqual(['lower']);
    expect(presence.current).toEqual(['lower']);
  });

  it('a frame outside restarts the count (jitter over the edge never enters)', () => {
    const steps: [number, number][] = [];
    for (let i = 0; i < 12; i++) steps.push([20, i % 3 === 2 ? 45 : 55]);
    const { presence } = walk([zone('edge', LOWER)], steps);
    expect(presence.zones).toEqual([]);
  });

  it('leaves after inertia consecutive frames outside; fewer do not make it leave', () => {
    const inside: [number, number][] = [
      [20, 60],
      [20, 60],
      [20, 60],
    ];
    const { changes, presence } = walk(
      [zone('lower', LOWER)],
      [...inside, [20, 40], [20, 40], [20, 60], [20, 40], [20, 40], [20, 40], [20, 30]],
    );
    expect(changes.map((c) => c.left)).toEqual([[], [], [], [], [], [], [], [], ['lower'], []]);
    expect(presence.current).toEqual([]);
    // Still entered: `zones` is the history.
    expect(presence.zones).toEqual(['lower']);
  });

  it('coming back after leaving: current again, `zones` unchanged, reported as re-entered', () => {
    const { changes, presence } = walk(
      [zone('lower', LOWER, { inertia: 1 })],
      [
        [20, 60],
        [20, 40],
        [20, 60],
      ],
    );
    expect(changes.map((c) => [c.entered, c.left, c.reentered])).toEqual([
      [['lower'], [], []],
      [[], ['lower'], []],
      [[], [], ['lower']],
    ]);
    expect(presence.zones).toEqual(['lower']);
    expect(presence.current).toEqual(['lower']);
  });
});

describe('zones: loitering time', () => {
  it('standing in a zone for less than loitering_time: not in it', () => {
    // 2 s zone; inside from 0 ms to 1800 ms (10 frames), then out.
    const steps: [number, number][] = [];
    for (let i = 0; i < 10; i++) steps.push([20, 80]);
    steps.push([20, 20], [20, 20], [20, 20]);
    const { presence } = walk([zone('porch', LOWER, { loitering_time: 2 })], steps);
    expect(presence.zones).toEqual([]);
  });

  it('staying loitering_time: in it from the frame the time is reached', () => {
    const steps: [number, number][] = [];
    for (let i = 0; i < 14; i++) steps.push([20, 80]);
    const { changes } = walk([zone('porch', LOWER, { loitering_time: 2 })], steps);
    // Inside since 0 ms; 2000 ms is frame 10.
    expect(changes.findIndex((c) => c.entered.includes('porch'))).toBe(10);
  });

  it('the time restarts when the object steps out', () => {
    const steps: [number, number][] = [];
    for (let i = 0; i < 20; i++) steps.push([20, i === 8 ? 20 : 80]);
    const { changes } = walk([zone('porch', LOWER, { loitering_time: 2 })], steps);
    // Out at frame 8 (1600 ms); back at frame 9 (1800 ms) → in at 3800 ms = frame 19.
    expect(changes.findIndex((c) => c.entered.includes('porch'))).toBe(19);
  });
});

describe('zones: order, point, objects and filters', () => {
  it('`zones` lists zones in order of entry, `current_zones` the ones it is in', () => {
    // Upper right first (right), then down into lower right (both), then lower left (lower only).
    const steps: [number, number][] = [
      [80, 20],
      [80, 20],
      [80, 20],
      [80, 70],
      [80, 70],
      [80, 70],
      [20, 70],
      [20, 70],
      [20, 70],
    ];
    const { changes, presence } = walk([zone('lower', LOWER), zone('right', RIGHT)], steps);
    expect(changes.flatMap((c) => c.entered)).toEqual(['right', 'lower']);
    expect(presence.zones).toEqual(['right', 'lower']);
    expect(presence.current).toEqual(['lower']);
  });

  it('the bottom-centre counts: a box reaching into the zone with its feet outside is not in it', () => {
    const presence = new ZoneSet([zone('lower', LOWER, { inertia: 1 })], W, H).presence();
    // A tall box from y 20 to 49: most of it above, none of its feet in the lower half.
    expect(presence.update({ label: 'person', box: [10, 20, 30, 49], score: 0.9, timeMs: 0 }).entered).toEqual([]);
    // A box from 45 to 51: barely inside, but its feet are.
    expect(presence.update({ label: 'person', box: [10, 45, 30, 51], score: 0.9, timeMs: 200 }).entered).toEqual([
      'lower',
    ]);
  });

  it("a label not in the zone's objects never counts", () => {
    const porch = zone('porch', LOWER, { objects: ['person'], inertia: 1 });
    expect(walk([porch], [[20, 80]], 'car').presence.zones).toEqual([]);
    expect(walk([porch], [[20, 80]], 'person').presence.zones).toEqual(['porch']);
  });

  it("the zone's per-label filter decides what counts: size and score", () => {
    const set = new ZoneSet([zone('porch', LOWER, { inertia: 1, filters: { person: { min_area: 0.05 } } })], W, H);
    // 10×20 = 200 px = 2% of the frame: too small to count.
    expect(set.presence().update(at(20, 80, 0)).entered).toEqual([]);
    const big = set.presence().update({ label: 'person', box: [10, 50, 40, 80], score: 0.9, timeMs: 0 });
    expect(big.entered).toEqual(['porch']);
    const scored = new ZoneSet([zone('porch', LOWER, { inertia: 1, filters: { person: { min_score: 0.8 } } })], W, H);
    expect(scored.presence().update(at(20, 80, 0, 'person', 0.7)).entered).toEqual([]);
    expect(scored.presence().update(at(20, 80, 0, 'person', 0.85)).entered).toEqual(['porch']);
  });

  it('inertia below 1 is refused', () => {
    expect(() => new ZoneSet([zone('z', LOWER, { inertia: 0 })], W, H)).toThrow(/inertia/);
  });
});
