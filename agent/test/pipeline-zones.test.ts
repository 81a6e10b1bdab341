/**
 * Zones, object masks and filters on real footage: vtest.avi (a street seen from above: people walking, two cars
 * parked at the top right) through yolox_nano at 5 fps, 480×360. One decode feeds two pipelines built from a loaded
 * config the way the daemon builds them (`pipelineOptionsForCamera`): `zoned` has zones over the lower half of the
 * frame (plain, with a 10 s loitering time, with a loitering time longer than the clip), `filtered` an object mask
 * over the parked cars and `filters.person.max_area: 0.01`. `zoned` also makes review items, alerts only for objects
 * that entered the lower half. Fails (never skips) when the assets are missing.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assetPath } from '../../shared/paths/index.js';
import { validator } from '../../shared/schema/index.js';
import { CameraStream } from '../camera/stream.js';
import { loadAgentConfig, pipelineOptionsForCamera } from '../config.js';
import { ObjectDetector } from '../detect/detector.js';
import { bottomCentre, pointInPolygon } from '../geometry/polygon.js';
import { MotionDetector } from '../motion/index.js';
import { CameraPipeline } from '../pipeline/pipeline.js';
import type { PipelineStats } from '../pipeline/stats.js';
import type { ReviewMessage } from '../review/index.js';
import { EventMessageSchema, type EventMessage } from '../track/messages.js';

const MODEL = assetPath('models', 'yolox_nano.onnx');
const VTEST = assetPath('media', 'vtest.avi');
const W = 480;
const H = 360;
const LOWER: [number, number][] = [
  [0, 0.5],
  [1, 0.5],
  [1, 1],
  [0, 1],
];
/** Over the two cars parked at the top right (found with `vigil-agent analyze`: boxes x 0.85–1, y 0.07–0.17). */
const PARKED: [number, number][] = [
  [0.82, 0],
  [1, 0],
  [1, 0.22],
  [0.82, 0.22],
];
const poly = (p: [number, number][]) => JSON.stringify(p);

const CONFIG = `cameras:
  - name: zoned
    input: ${VTEST}
    zones:
      lower: { coordinates: ${poly(LOWER)} }
      lower_loiter: { coordinates: ${poly(LOWER)}, loitering_time: 10 }
      lower_never: { coordinates: ${poly(LOWER)}, loitering_time: 1000 }
    review:
      alerts: { required_zones: [lower] }
  - name: filtered
    input: ${VTEST}
    objects:
      mask:
        - ${poly(PARKED)}
    filters:
      person: { max_area: 0.01 }
`;

/** A message and the media time of the frame that produced it. */
interface Seen {
  msg: EventMessage;
  atMs: number;
}
interface Run {
  seen: Seen[];
  reviews: ReviewMessage[];
  /** For each review message, the events announced before it (ids). */
  announcedBefore: Set<string>[];
  stats: PipelineStats;
}

const tmp = mkdtempSync(join(tmpdir(), 'vigil-pipeline-zones-'));
const newRun = (): Run => ({ seen: [], reviews: [], announcedBefore: [], stats: {} as PipelineStats });
const runs: Record<'zoned' | 'filtered', Run> = { zoned: newRun(), filtered: newRun() };
const check = validator(EventMessageSchema);

beforeAll(async () => {
  expect(existsSync(MODEL), `${MODEL} is missing`).toBe(true);
  expect(existsSync(VTEST), `${VTEST} is missing`).toBe(true);
  const configFile = join(tmp, 'agent.yaml');
  writeFileSync(configFile, CONFIG);
  const { config } = loadAgentConfig(configFile, {}, { env: {}, defaultFile: '/nonexistent' });
  const detector = await ObjectDetector.create({ modelPath: MODEL });
  const stream = new CameraStream({ name: 'vtest', input: VTEST, detect: { width: W, height: H, fps: 5 } });
  const motions: MotionDetector[] = [];
  let atMs = 0;
  const pipelines = await Promise.all(
    config.cameras.map(async (camera) => {
      const motion = await MotionDetector.create({ width: W, height: H });
      motions.push(motion);
      const run = runs[camera.name as keyof typeof runs];
      const pipeline = new CameraPipeline({
        ...pipelineOptionsForCamera(camera),
        width: W,
        height: H,
        motion,
        detector,
        thumbnailDir: join(tmp, camera.name),
        mediaTimes: true,
        onEvent: (msg) => void run.seen.push({ msg, atMs }),
        onReview: (msg) => {
          run.reviews.push(msg);
          run.announcedBefore.push(new Set(run.seen.filter((x) => x.msg.type === 'new').map((x) => x.msg.id)));
        },
      });
      return { run, pipeline };
    }),
  );
  try {
    stream.start();
    for (let frame = await stream.next(); frame; frame = await stream.next()) {
      atMs = frame.mediaMs;
      for (const p of pipelines) await p.pipeline.process(frame);
    }
    if (stream.error) throw stream.error;
    for (const p of pipelines) {
      await p.pipeline.finish();
      p.run.stats = p.pipeline.stats();
    }
  } finally {
    await stream.stop();
    for (const m of motions) await m.close();
    await detector.close();
  }
  const figures = Object.entries(runs).map(([name, r]) => {
    const news = r.seen.filter((s) => s.msg.type === 'new').map((s) => s.msg);
    const byLabel: Record<string, number> = {};
    for (const m of news) byLabel[m.label] = (byLabel[m.label] ?? 0) + 1;
    const zones: Record<string, number> = {};
    for (const m of ends(r)) for (const z of m.zones) zones[z] = (zones[z] ?? 0) + 1;
    return {
      name,
      events: news.length,
      byLabel,
      zones,
      filtered: r.stats.detections_filtered,
      review_items: r.stats.review_items,
    };
  });
  process.stderr.write(`vtest zones/filters: ${JSON.stringify(figures)}\n`);
}, 300_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The end message of every event of a run. */
function ends(r: Run): EventMessage[] {
  return r.seen.filter((s) => s.msg.type === 'end').map((s) => s.msg);
}

/** The first message of each event that has `zone` in `zones` (the one sent when it entered). */
function entries(r: Run, zone: string): Seen[] {
  const first = new Map<string, Seen>();
  for (const s of r.seen) if (s.msg.zones.includes(zone) && !first.has(s.msg.id)) first.set(s.msg.id, s);
  return [...first.values()];
}

const feet = (m: EventMessage): [number, number] => bottomCentre(m.box, 1, 1);

describe('zones on vtest.avi', () => {
  it('messages are valid and always carry zones and current_zones', () => {
    for (const r of Object.values(runs)) {
      expect(r.seen.length).toBeGreaterThan(0);
      for (const { msg } of r.seen) expect(check.issues(msg)).toEqual([]);
    }
  });

  it('some objects enter the lower half and some never do; each entered it with its bottom-centre inside', () => {
    const all = ends(runs.zoned);
    const inLower = all.filter((m) => m.zones.includes('lower'));
    expect(inLower.length).toBeGreaterThan(0);
    expect(inLower.length).toBeLessThan(all.length);
    // An object that entered after its announcement gets an update on the frame it entered: its box is that
    // frame's. (One that entered before carries the zone in its `new`, whose box is of the announcing frame.)
    const updates = entries(runs.zoned, 'lower').filter((s) => s.msg.type === 'update');
    expect(updates.length).toBeGreaterThan(0);
    for (const { msg } of updates) {
      const [x, y] = feet(msg);
      expect(pointInPolygon(LOWER, x, y), `${msg.id} entered at ${x}, ${y}`).toBe(true);
      expect(msg.current_zones).toContain('lower');
    }
    // current_zones is a subset of zones, in the same order.
    for (const { msg } of runs.zoned.seen)
      expect(msg.current_zones).toEqual(msg.zones.filter((z) => msg.current_zones.includes(z)));
  });

  it('loitering time: an object counts in a 10 s zone only 10 s after it came in; a short pass never does', () => {
    const plain = entries(runs.zoned, 'lower');
    const loiter = entries(runs.zoned, 'lower_loiter');
    expect(loiter.length).toBeGreaterThan(0);
    expect(loiter.length).toBeLessThan(plain.length);
    for (const { msg, atMs } of loiter) {
      expect(msg.zones.indexOf('lower')).toBeLessThan(msg.zones.indexOf('lower_loiter'));
      // In the zone for 10 s, so detected for at least that long.
      expect(atMs - (msg.media_start as number) * 1000).toBeGreaterThanOrEqual(10_000);
    }
    expect(entries(runs.zoned, 'lower_never')).toEqual([]);
  });
});

describe('object mask and filters on vtest.avi', () => {
  it('the object mask over the parked cars removes their events; the unmasked run has them', () => {
    const parked = (r: Run) =>
      r.seen.filter(({ msg }) => msg.label !== 'person' && pointInPolygon(PARKED, ...feet(msg)));
    expect(parked(runs.zoned).filter((s) => s.msg.type === 'new').length).toBeGreaterThanOrEqual(2);
    expect(parked(runs.zoned).some((s) => s.msg.stationary)).toBe(true);
    expect(parked(runs.filtered)).toEqual([]);
    expect(runs.filtered.seen.filter((s) => s.msg.label !== 'person')).toEqual([]);
    expect(runs.filtered.stats.detections_filtered).toBeGreaterThan(0);
  });

  it('filters.person.max_area 0.01: no person box above 1% of the frame, fewer person events', () => {
    const persons = (r: Run) => r.seen.filter((s) => s.msg.label === 'person');
    for (const { msg } of persons(runs.filtered)) {
      const [x1, y1, x2, y2] = msg.box;
      expect((x2 - x1) * (y2 - y1)).toBeLessThanOrEqual(0.0101);
    }
    const events = (r: Run) => persons(r).filter((s) => s.msg.type === 'new').length;
    expect(events(runs.filtered)).toBeLessThan(events(runs.zoned));
  });
});

describe('review items on vtest.avi (alerts require the lower half)', () => {
  it('each alert holds an object that entered the lower half; parked cars that never moved are in no alert', () => {
    const r = runs.zoned;
    const last = new Map<string, ReviewMessage>();
    for (const m of r.reviews) last.set(m.id, m);
    const items = [...last.values()];
    expect(items.every((m) => m.type === 'end')).toBe(true);
    const alerts = items.filter((m) => m.severity === 'alert');
    expect(alerts.length).toBeGreaterThan(0);
    expect(r.stats.review_items.alert).toBe(alerts.length);
    expect(r.stats.review_items.detection).toBe(items.length - alerts.length);
    const byId = new Map(ends(r).map((m) => [m.id, m]));
    for (const item of alerts) {
      expect(item.zones).toContain('lower');
      expect(item.objects.some((id) => byId.get(id)?.zones.includes('lower'))).toBe(true);
    }
    const parked = ends(r).filter((m) => m.label !== 'person' && !m.moved);
    expect(parked.length).toBeGreaterThan(0);
    for (const car of parked) expect(alerts.some((a) => a.objects.includes(car.id))).toBe(false);
  });

  it('a review message only names events whose new message came before it', () => {
    const r = runs.zoned;
    r.reviews.forEach((m, i) => {
      for (const id of m.objects) expect(r.announcedBefore[i]?.has(id), `${m.id} names ${id}`).toBe(true);
    });
  });
});
