/**
 * Camera config for zones, object masks, filters, labels and review: defaults, the pipeline options built from it,
 * and the load-time errors, each naming the key, the camera, the zone and file:line (and exit 78 from the CLI).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isVigilError } from '../../shared/errors/index.js';
import { DEFAULT_LABELS, loadAgentConfig, pipelineOptionsForCamera } from '../config.js';
import { REVIEW_GROUPING_DEFAULTS, ReviewTracker, type ReviewInput } from '../review/index.js';
import { runAgentBin } from './support/agent-bin.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-config-zones-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const noDefault = { env: {}, defaultFile: '/nonexistent/agent.yaml' };
let n = 0;

function file(text: string): string {
  const p = join(dir, `agent-${++n}.yaml`);
  writeFileSync(p, text);
  return p;
}

const load = (text: string) => loadAgentConfig(file(text), {}, noDefault).config;

/** Loads `text` (a config file), expects config_invalid, returns the file and the error. */
function failure(text: string): { path: string; message: string; details: Record<string, unknown> } {
  const path = file(text);
  try {
    loadAgentConfig(path, {}, noDefault);
  } catch (err) {
    expect(isVigilError(err, 'config_invalid')).toBe(true);
    const e = err as Error & { details?: Record<string, unknown> };
    return { path, message: e.message, details: e.details ?? {} };
  }
  throw new Error('expected config_invalid');
}

const head = (extra = '') => `cameras:\n  - name: front\n    input: /tmp/front.mp4\n${extra}`;
const LOWER = '[[0, 0.5], [1, 0.5], [1, 1], [0, 1]]';

describe('camera config: defaults and pipeline options', () => {
  it('a camera without labels tracks the default set; `all` every label; a written list is kept as written', () => {
    const c = load(
      `${head('    labels: all\n')}  - name: back\n    input: /tmp/b.mp4\n` +
        '  - name: side\n    input: /tmp/s.mp4\n    labels: [dog]\n    review:\n      alerts:\n        labels: [dog]\n',
    ).cameras;
    expect(c[0]?.labels).toBe('all');
    expect(c[1]?.labels).toEqual([...DEFAULT_LABELS]);
    expect(c[1]?.review).toEqual({
      alerts: { labels: ['person', 'car'], required_zones: [] },
      detections: { required_zones: [] },
      merge_gap: REVIEW_GROUPING_DEFAULTS.merge_gap_s,
    });
    // A written list replaces the default, it is not merged into it (TypeBox would give [dog, car, …]).
    expect(c[2]?.labels).toEqual(['dog']);
    expect(c[2]?.review.alerts.labels).toEqual(['dog']);
    expect(pipelineOptionsForCamera(c[0] as (typeof c)[0]).labels).toBeUndefined();
    expect(pipelineOptionsForCamera(c[1] as (typeof c)[0]).labels).toEqual([...DEFAULT_LABELS]);
  });

  it('zones, masks and filters reach the pipeline options', () => {
    const [cam] = load(
      head(
        `    threshold: 0.75\n    zones:\n      porch:\n        coordinates: ${LOWER}\n        objects: [person]\n` +
          `        loitering_time: 2\n      street:\n        coordinates: [[0, 0], [1, 0], [1, 0.2]]\n` +
          `        inertia: 5\n        filters:\n          car: { min_area: 0.02 }\n` +
          `    objects:\n      mask:\n        - [[0.8, 0], [1, 0], [1, 0.2]]\n` +
          `    filters:\n      person: { min_score: 0.6, max_area: 0.01, min_ratio: 0.2, mask: [[[0, 0], [0.1, 0], ` +
          `[0.1, 0.1]]] }\n`,
      ),
    ).cameras;
    const o = pipelineOptionsForCamera(cam as NonNullable<typeof cam>);
    expect(o.camera).toBe('front');
    expect(o.tracker).toEqual({ threshold: 0.75, labels: { person: { min_score: 0.6 } } });
    expect(o.objectFilter.mask).toEqual([
      [
        [0.8, 0],
        [1, 0],
        [1, 0.2],
      ],
    ]);
    expect(o.objectFilter.labels.person).toMatchObject({ max_area: 0.01, min_ratio: 0.2 });
    expect(o.objectFilter.labels.person?.mask).toHaveLength(1);
    expect(o.zones.map((z) => [z.name, z.objects, z.inertia, z.loitering_time])).toEqual([
      ['porch', ['person'], 3, 2],
      ['street', undefined, 5, 0],
    ]);
    expect(o.zones[1]?.filters).toEqual({ car: { min_area: 0.02 } });
  });
});

type Camera = Parameters<typeof pipelineOptionsForCamera>[0];

describe('camera config: the review merge gap', () => {
  const T0 = Date.parse('2026-01-01T12:00:00.000Z');
  const person = (type: 'new' | 'end'): ReviewInput => ({
    type,
    id: 'evt_01JGZ60B4W2Y8T6R5Q3P000001',
    camera: 'front',
    label: 'person',
    score: 0.8,
    top_score: 0.8,
    box: [0.1, 0.1, 0.3, 0.6],
    started_at: new Date(T0).toISOString(),
    ended_at: type === 'end' ? new Date(T0).toISOString() : null,
    stationary: false,
  });
  /** Media ms after its one object ended at which a camera's review item ends, built as the pipeline builds it. */
  function endsAfterMs(camera: Camera): number {
    const { camera: name, review } = pipelineOptionsForCamera(camera);
    const tracker = new ReviewTracker({ camera: name, rules: review.rules, ...review.grouping });
    tracker.update([person('new')], { mediaMs: 0, wallMs: T0 });
    tracker.update([person('end')], { mediaMs: 0, wallMs: T0 });
    for (let ms = 250; ms <= 60_000; ms += 250) {
      const out = tracker.update([], { mediaMs: ms, wallMs: T0 + ms });
      if (out.some((m) => m.type === 'end')) return ms;
    }
    throw new Error('the review item never ended');
  }

  it('cameras[].review.merge_gap reaches the review tracker; unset, the review default (5 s) applies', () => {
    const [short, plain] = load(`${head('    review:\n      merge_gap: 1.5\n')}  - name: back\n    input: /tmp/b.mp4\n`)
      .cameras as Camera[];
    if (!short || !plain) throw new Error('expected two cameras');
    expect(short.review.merge_gap).toBe(1.5);
    expect(pipelineOptionsForCamera(short).review.grouping).toEqual({ merge_gap_s: 1.5 });
    // The rules handed to the tracker are the rules only.
    expect(pipelineOptionsForCamera(short).review.rules).toEqual({
      alerts: { labels: ['person', 'car'], required_zones: [] },
      detections: { required_zones: [] },
    });
    expect(endsAfterMs(short)).toBe(1500);
    expect(plain.review.merge_gap).toBe(REVIEW_GROUPING_DEFAULTS.merge_gap_s);
    expect(endsAfterMs(plain)).toBe(REVIEW_GROUPING_DEFAULTS.merge_gap_s * 1000);
  });

  it('a merge gap out of range is a config error naming the camera and the line', () => {
    const neg = failure(head('    review:\n      merge_gap: -1\n'));
    expect(neg.message).toContain('camera "front"');
    expect(neg.message).toContain('cameras.0.review.merge_gap');
    expect(neg.message).toContain(`${neg.path}:5`);
    expect(failure(head('    review:\n      merge_gap: 601\n')).message).toContain('cameras.0.review.merge_gap');
  });
});

describe('camera config errors name the camera, the zone and the line', () => {
  const zone = (body: string) => head(`    zones:\n      porch:\n${body}`);

  it('a polygon with fewer than 3 points', () => {
    const { path, message, details } = failure(zone('        coordinates: [[0, 0.5], [1, 0.5]]\n'));
    expect(message).toContain(`(${path}:6)`);
    expect(message).toContain('camera "front", zone "porch"');
    expect(message).toMatch(/coordinates has 2 points; a polygon needs at least 3/);
    expect(details).toMatchObject({
      camera: 'front',
      zone: 'porch',
      line: 6,
      path: 'cameras.0.zones.porch.coordinates',
    });
  });

  it('a point outside 0..1 (zone, and object mask)', () => {
    const z = failure(zone('        coordinates:\n          - [0, 0.5]\n          - [1.5, 0.5]\n          - [1, 1]\n'));
    expect(z.message).toContain(`(${z.path}:8)`);
    expect(z.message).toContain('camera "front", zone "porch"');
    expect(z.message).toMatch(/point 1 \[1\.5,0\.5\] is outside 0\.\.1/);
    const m = failure(head('    objects:\n      mask:\n        - [[0, 0], [640, 0], [640, 200]]\n'));
    expect(m.message).toContain(`(${m.path}:6)`);
    expect(m.message).toContain('camera "front": object mask 0 point 1 [640,0] is outside 0..1');
  });

  it('an unknown label (camera labels, and a zone’s objects)', () => {
    const l = failure(head('    labels: [person, persn]\n'));
    expect(l.message).toContain(`(${l.path}:4)`);
    expect(l.message).toContain('camera "front": unknown label "persn": did you mean "person"?');
    const z = failure(
      head(`    labels: all\n    zones:\n      porch:\n        coordinates: ${LOWER}\n        objects: [hooman]\n`),
    );
    expect(z.message).toContain(`(${z.path}:8)`);
    expect(z.message).toContain('camera "front", zone "porch": unknown label "hooman"');
  });

  it('a duplicate zone name', () => {
    const { path, message } = failure(
      zone(`        coordinates: ${LOWER}\n      porch:\n        coordinates: ${LOWER}\n`),
    );
    expect(message).toContain(`(${path}:7)`);
    expect(message).toContain('camera "front", zone "porch": zone "porch" is defined twice (lines 5 and 7)');
  });

  it('a zone named like a camera', () => {
    const { path, message } = failure(
      `${head()}  - name: back\n    input: /tmp/b.mp4\n    zones:\n      front:\n        coordinates: ${LOWER}\n`,
    );
    expect(message).toContain(`(${path}:7)`);
    expect(message).toContain('camera "back", zone "front": zone "front" has the name of a camera');
  });

  it('a required zone the camera does not define (none does, or another camera does)', () => {
    const none = failure(head('    review:\n      alerts:\n        required_zones: [driveway]\n'));
    expect(none.message).toContain(`(${none.path}:6)`);
    expect(none.message).toContain('camera "front", zone "driveway": review.alerts.required_zones names zone');
    expect(none.message).toContain('no camera defines it');
    const other = failure(
      head('    review:\n      detections:\n        required_zones: [driveway]\n') +
        `  - name: back\n    input: /tmp/b.mp4\n    zones:\n      driveway:\n        coordinates: ${LOWER}\n`,
    );
    expect(other.message).toContain(`(${other.path}:6)`);
    expect(other.message).toContain('camera "back" has it, but review items are per camera');
  });

  it("a zone's objects label the camera does not track", () => {
    const { path, message } = failure(
      head(`    labels: [person]\n    zones:\n      porch:\n        coordinates: ${LOWER}\n        objects: [dog]\n`),
    );
    expect(message).toContain(`(${path}:8)`);
    expect(message).toContain('camera "front", zone "porch": the zone counts "dog", which the camera does not track');
  });

  it('schema errors and unknown keys inside a zone name the camera and the zone too', () => {
    const bad = failure(zone(`        coordinates: ${LOWER}\n        inertia: 0\n`));
    expect(bad.message).toMatch(/^camera "front", zone "porch": config key "cameras\.0\.zones\.porch\.inertia"/);
    expect(bad.message).toContain(`${bad.path}:7`);
    const unknown = failure(zone(`        coordinates: ${LOWER}\n        inertai: 2\n`));
    expect(unknown.message).toContain('camera "front", zone "porch": unknown config key');
    expect(unknown.message).toContain(`${unknown.path}:7`);
    const name = failure(head(`    zones:\n      "front door":\n        coordinates: ${LOWER}\n`));
    expect(name.message).toContain('camera "front", zone "front door": a zone name is 1-64 letters');
  });
});

describe('vigil-agent run with a bad zone', () => {
  it('exits 78 with one line naming the camera, the zone and the line', async () => {
    const path = file(
      `data_dir: ${dir}\n${head(`    zones:\n      porch:\n        coordinates: [[0, 0.5], [1, 2]]\n`)}`,
    );
    const r = await runAgentBin(['run', '--config', path], { PATH: process.env.PATH, HOME: dir });
    expect(r.code).toBe(78);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^vigil-agent: error: config_invalid: /);
    expect(lines[0]).toContain(`(${path}:7), camera "front", zone "porch": coordinates has 2 points`);
  });
});
