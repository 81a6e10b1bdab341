import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../shared/paths/index.js';
import { validator } from '../../shared/schema/index.js';
import { testAsset } from '../../shared/testing/index.js';
import { DEFAULT_LABELS } from '../config.js';
import { ReviewMessageSchema, type ReviewMessage } from '../review/index.js';
import { EventMessageSchema, type EventMessage } from '../track/messages.js';
import { agentCli, expectOneLineError } from './detect-helpers.js';

/**
 * `vigil-agent analyze --config FILE --camera NAME` on vtest.avi with the real model: the camera's labels, zones,
 * masks and filters apply, as on the box. Spawns the built CLI (`npm run build` first; `npm test` does it).
 * vtest.avi (768×576, 80 s): people walk across a yard; a car and a van stand parked at the top right the whole
 * time (boxes near x 0.85–1, y 0.07–0.17).
 */
function asset(...parts: string[]): string {
  const p = testAsset(...parts);
  if (!p) throw new Error(`test asset ${parts.join('/')} is missing (see ../shared/README.md)`);
  return p;
}
const tmp = mkdtempSync(join(tmpdir(), 'vigil-analyze-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const check = validator(EventMessageSchema);
const checkReview = validator(ReviewMessageSchema);

interface Summary {
  type: 'summary';
  camera: string;
  labels: string[] | 'all';
  width: number;
  height: number;
  fps: number;
  frames: number;
  events: number;
  detections_filtered: number;
  alerts: number;
  detections: number;
}
type Line = EventMessage | ReviewMessage | Summary;
interface Run {
  /** Event and review lines in the order printed. */
  lines: Array<EventMessage | ReviewMessage>;
  events: EventMessage[];
  reviews: ReviewMessage[];
  summary: Summary;
}

function parseLines(stdout: string): Run {
  const all = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
  const summary = all.at(-1) as Summary;
  expect(summary.type).toBe('summary');
  const lines = all.slice(0, -1) as Array<EventMessage | ReviewMessage>;
  const isReview = (l: EventMessage | ReviewMessage): l is ReviewMessage => 'kind' in l && l.kind === 'review';
  return {
    lines,
    events: lines.filter((l): l is EventMessage => !isReview(l)),
    reviews: lines.filter(isReview),
    summary,
  };
}

const LOWER_HALF = '[[0, 0.5], [1, 0.5], [1, 1], [0, 1]]';
/** Zone `name` over `coordinates`, required for alerts. */
const requiredZone = (name: string, coordinates: string): string[] => [
  'zones:',
  `  ${name}:`,
  `    coordinates: ${coordinates}`,
  'review:',
  '  alerts:',
  `    required_zones: [${name}]`,
];

/** An agent config with one camera `yard` on vtest.avi (480×360 at 5 fps, as the other vtest tests), plus `extra`. */
function configFile(name: string, extra: string[], withModel = true): string {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(
    file,
    [
      `data_dir: ${join(tmp, 'data')}`,
      ...(withModel ? ['model:', `  path: ${asset('models', 'yolox_nano.onnx')}`] : []),
      'cameras:',
      '  - name: yard',
      `    input: ${asset('media', 'vtest.avi')}`,
      '    detect: { width: 480, height: 360, fps: 5 }',
      ...extra.map((l) => `    ${l}`),
      '',
    ].join('\n'),
  );
  return file;
}

/**
 * The built CLI, spawned without blocking: a whole-clip analysis takes 10–40 s, and a test worker blocked that long
 * (spawnSync) misses vitest's own calls.
 */
function agentCliAsync(args: string[], timeoutMs = 240_000): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = join(projectRoot(), 'bin', 'vigil-agent.js');
  return new Promise((done) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, VIGIL_DEBUG: '' } },
      (err, stdout, stderr) => done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function analyze(config: string, extra: string[] = []): Promise<Run> {
  const vtest = asset('media', 'vtest.avi');
  const out = join(tmp, 'thumbs');
  const r = await agentCliAsync([
    'analyze',
    vtest,
    '--config',
    config,
    '--camera',
    'yard',
    '--json',
    '--out',
    out,
    ...extra,
  ]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return parseLines(r.stdout);
}

const ids = (events: EventMessage[], pred: (e: EventMessage) => boolean = () => true): Set<string> =>
  new Set(events.filter(pred).map((e) => e.id));
const isVehicle = (e: EventMessage): boolean => ['car', 'truck', 'bus'].includes(e.label);

describe('vigil-agent analyze --config: zones and review items on vtest.avi', () => {
  let run: Run;
  beforeAll(async () => {
    run = await analyze(configFile('zone', requiredZone('lower_half', LOWER_HALF)));
  }, 240_000);

  it("uses the camera's name, detect size and rate, and the default labels", () => {
    const { events, summary } = run;
    expect(summary).toMatchObject({ camera: 'yard', width: 480, height: 360, fps: 5, frames: 399 });
    expect(summary.labels).toEqual([...DEFAULT_LABELS]);
    for (const e of events) {
      expect(check.issues(e)).toEqual([]);
      expect(e.camera).toBe('yard');
      expect(DEFAULT_LABELS as readonly string[]).toContain(e.label);
    }
  });

  it('every event line carries zones and current_zones; an object is in the zone by its bottom-centre', () => {
    const { events } = run;
    const entered = ids(events, (e) => e.zones.includes('lower_half'));
    expect(entered.size).toBeGreaterThanOrEqual(5);
    let checked = 0;
    for (const id of entered) {
      const mine = events.filter((e) => e.id === id);
      // Once entered, a zone stays in `zones` for the rest of the event.
      const from = mine.findIndex((e) => e.zones.includes('lower_half'));
      for (const e of mine.slice(from)) expect(e.zones).toContain('lower_half');
      // The first message that has the object in the zone: its box's bottom edge (y2, normalised) is in the lower
      // half. (An object may also enter and leave again before it is announced: then it is in `zones` only.)
      const inside = mine.find((e) => e.current_zones.includes('lower_half'));
      if (!inside) continue;
      checked += 1;
      expect(inside.box[3]).toBeGreaterThanOrEqual(0.5);
    }
    expect(checked).toBeGreaterThanOrEqual(5);
    for (const e of events) for (const z of e.current_zones) expect(e.zones).toContain(z);
    // The parked vehicles at the top never enter the lower half.
    for (const e of events.filter(isVehicle)) expect(e.zones).toEqual([]);
  });

  it('prints review lines: kind review, new → update… → end per item, media times of the file', () => {
    const { reviews } = run;
    expect(reviews.length).toBeGreaterThanOrEqual(2);
    for (const r of reviews) expect(checkReview.issues(r)).toEqual([]);
    for (const id of new Set(reviews.map((r) => r.id))) {
      const mine = reviews.filter((r) => r.id === id);
      expect(mine[0]!.type).toBe('new');
      expect(mine.at(-1)!.type).toBe('end');
      expect(mine.slice(1, -1).every((r) => r.type === 'update')).toBe(true);
      const end = mine.at(-1)!;
      expect(end.media_end).toBeGreaterThanOrEqual(end.media_start as number);
      expect(Date.parse(end.ended_at as string)).toBeGreaterThanOrEqual(Date.parse(end.started_at));
      // Severity only goes up.
      const firstAlert = mine.findIndex((r) => r.severity === 'alert');
      if (firstAlert >= 0) expect(mine.slice(firstAlert).every((r) => r.severity === 'alert')).toBe(true);
    }
  });

  it("each alert's objects entered the required zone (by their bottom-centre) before the alert line says so", () => {
    const { lines, reviews } = run;
    const alerts = reviews.filter((r) => r.severity === 'alert');
    expect(alerts.length).toBeGreaterThanOrEqual(1);
    for (const r of alerts) {
      expect(r.zones).toContain('lower_half');
      // Every object it names: one of its event lines printed before this review line has the zone.
      const before = lines.slice(0, lines.indexOf(r)) as EventMessage[];
      for (const id of r.objects) {
        const inZone = before.some((e) => e.id === id && e.zones.includes('lower_half'));
        expect(inZone, `alert ${r.id} (${r.type}) names ${id}, which has not entered lower_half`).toBe(true);
      }
      expect(r.labels.every((l) => ['person', 'car'].includes(l))).toBe(true);
    }
    // The parked car and van (never in the lower half) are in no alert.
    const vehicles = ids(run.events, isVehicle);
    expect(vehicles.size).toBeGreaterThanOrEqual(1);
    for (const r of alerts) for (const id of r.objects) expect(vehicles.has(id)).toBe(false);
  });

  it('the summary counts the items by final severity', () => {
    const { reviews, summary } = run;
    const finalSeverity = (id: string) => reviews.filter((r) => r.id === id).at(-1)!.severity;
    const items = [...new Set(reviews.map((r) => r.id))];
    expect(summary.alerts).toBe(items.filter((id) => finalSeverity(id) === 'alert').length);
    expect(summary.detections).toBe(items.filter((id) => finalSeverity(id) === 'detection').length);
  });
});

describe('vigil-agent analyze --config: object masks and filters on vtest.avi', () => {
  it('an object mask over the parked vehicles removes their events, and only theirs', async () => {
    const plain = await analyze(configFile('plain', []));
    // Also: alerts require a strip along the top edge that no object's bottom-centre reaches.
    const masked = await analyze(
      configFile('masked', [
        'objects:',
        '  mask:',
        '    - [[0.8, 0], [1, 0], [1, 0.25], [0.8, 0.25]]',
        ...requiredZone('top_edge', '[[0, 0], [1, 0], [1, 0.04], [0, 0.04]]'),
      ]),
    );
    expect(ids(plain.events, isVehicle).size).toBeGreaterThanOrEqual(1);
    expect(ids(masked.events, isVehicle).size).toBe(0);
    expect(masked.summary.detections_filtered).toBeGreaterThan(0);
    expect(plain.summary.detections_filtered).toBe(0);
    // People are still seen (a mask is not a blindfold): within a few of the unmasked count.
    const persons = (r: typeof plain) => ids(r.events, (e) => e.label === 'person').size;
    expect(persons(masked)).toBeGreaterThanOrEqual(persons(plain) - 3);
    // No object entered the required zone: no alert, only detections.
    expect(masked.summary.alerts).toBe(0);
    expect(masked.summary.detections).toBeGreaterThanOrEqual(1);
    expect(masked.reviews.every((r) => r.severity === 'detection')).toBe(true);
  }, 480_000);

  it('filters.person.max_area below every person box removes every person event', async () => {
    // Person boxes on vtest at 480×360 cover 0.2 %–3 % of the frame: 0.001 (0.1 %) is below all of them.
    const r = await analyze(configFile('small', ['filters:', '  person: { max_area: 0.001 }']));
    expect(ids(r.events, (e) => e.label === 'person').size).toBe(0);
    expect(ids(r.events, isVehicle).size).toBeGreaterThanOrEqual(1);
    expect(r.summary.detections_filtered).toBeGreaterThan(100);
  }, 240_000);

  it('--labels wins over the config; parked vehicles outside the required zone never alert', async () => {
    const config = configFile('labels', ['labels: [person]', ...requiredZone('lower_half', LOWER_HALF)]);
    const r = await analyze(config, ['--labels', 'car,truck']);
    expect(r.summary.labels).toEqual(['car', 'truck']);
    expect(ids(r.events, (e) => e.label === 'person').size).toBe(0);
    expect(ids(r.events, isVehicle).size).toBeGreaterThanOrEqual(1);
    expect(r.summary.alerts).toBe(0);
  }, 240_000);
});

describe('vigil-agent analyze: which labels', () => {
  const clip = 'lavfi:testsrc2=size=320x240:rate=5:duration=1';
  it('without --config says it uses the default labels (text: first line; JSON: the summary)', () => {
    const model = asset('models', 'yolox_nano.onnx');
    const text = agentCli(['analyze', clip, '--model', model, '--out', join(tmp, 'l1')]);
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n')[0]).toBe(`labels: ${DEFAULT_LABELS.join(',')} (default)`);
    const all = agentCli(['analyze', clip, '--model', model, '--labels', 'all', '--json', '--out', join(tmp, 'l2')]);
    expect(all.code).toBe(0);
    expect(parseLines(all.stdout).summary.labels).toBe('all');
  });
  it('motion only (no model, no config) reports the motion label', () => {
    const r = agentCli(['analyze', clip, '--json', '--out', join(tmp, 'l3')]);
    expect(r.code).toBe(0);
    expect(parseLines(r.stdout).summary.labels).toEqual(['motion']);
  });
});

describe('vigil-agent analyze --config errors', () => {
  const clip = 'lavfi:color=s=64x48:d=1';
  it('--config without --camera names the configured cameras', () => {
    const r = agentCli(['analyze', clip, '--config', configFile('e1', [])]);
    expectOneLineError(r, 'invalid_argument');
    expect(r.stderr).toContain('--camera NAME');
    expect(r.stderr).toContain('configured: yard');
  });
  it('--camera without --config', () => {
    expectOneLineError(agentCli(['analyze', clip, '--camera', 'yard']), 'invalid_argument');
  });
  it('an unknown camera → unknown_camera', () => {
    const r = agentCli(['analyze', clip, '--config', configFile('e2', []), '--camera', 'porch']);
    expectOneLineError(r, 'unknown_camera');
    expect(r.stderr).toContain('configured cameras: yard');
  });
  it('neither a model in the config nor --model → invalid_argument naming the camera', () => {
    const r = agentCli(['analyze', clip, '--config', configFile('e3', [], false), '--camera', 'yard']);
    expectOneLineError(r, 'invalid_argument');
    expect(r.stderr).toMatch(/camera yard: no model .*model\.path.*--model/);
  });
  it('a bad config → config_invalid with the file and line', () => {
    const bad = configFile('e4', ['zones:', '  lower_half:', '    coordinates: [[0, 0.5], [1, 0.5]]']);
    const r = agentCli(['analyze', clip, '--config', bad, '--camera', 'yard']);
    expectOneLineError(r, 'config_invalid');
    expect(r.stderr).toContain(`${bad}:`);
  });
});
