import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validator } from '../../shared/schema/index.js';
import { testAsset } from '../../shared/testing/index.js';
import { DEFAULT_LABELS } from '../config.js';
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
}
type Line = EventMessage | Summary;

function parseLines(stdout: string): { events: EventMessage[]; summary: Summary } {
  const lines = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
  const summary = lines.at(-1) as Summary;
  expect(summary.type).toBe('summary');
  return { events: lines.slice(0, -1) as EventMessage[], summary };
}

const LOWER_HALF = '[[0, 0.5], [1, 0.5], [1, 1], [0, 1]]';

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

function analyze(config: string, extra: string[] = []): { events: EventMessage[]; summary: Summary } {
  const r = agentCli(
    [
      'analyze',
      asset('media', 'vtest.avi'),
      '--config',
      config,
      '--camera',
      'yard',
      '--json',
      '--out',
      join(tmp, 'thumbs'),
      ...extra,
    ],
    240_000,
  );
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return parseLines(r.stdout);
}

const ids = (events: EventMessage[], pred: (e: EventMessage) => boolean = () => true): Set<string> =>
  new Set(events.filter(pred).map((e) => e.id));
const isVehicle = (e: EventMessage): boolean => ['car', 'truck', 'bus'].includes(e.label);

describe('vigil-agent analyze --config: zones on vtest.avi', () => {
  let run: ReturnType<typeof analyze>;
  beforeAll(() => {
    run = analyze(configFile('zone', ['zones:', '  lower_half:', `    coordinates: ${LOWER_HALF}`]));
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
});

describe('vigil-agent analyze --config: object masks and filters on vtest.avi', () => {
  it('an object mask over the parked vehicles removes their events, and only theirs', () => {
    const plain = analyze(configFile('plain', []));
    const masked = analyze(
      configFile('masked', ['objects:', '  mask:', '    - [[0.8, 0], [1, 0], [1, 0.25], [0.8, 0.25]]']),
    );
    expect(ids(plain.events, isVehicle).size).toBeGreaterThanOrEqual(1);
    expect(ids(masked.events, isVehicle).size).toBe(0);
    expect(masked.summary.detections_filtered).toBeGreaterThan(0);
    expect(plain.summary.detections_filtered).toBe(0);
    // People are still seen (a mask is not a blindfold): within a few of the unmasked count.
    const persons = (r: typeof plain) => ids(r.events, (e) => e.label === 'person').size;
    expect(persons(masked)).toBeGreaterThanOrEqual(persons(plain) - 3);
  });

  it('filters.person.max_area below every person box removes every person event', () => {
    // Person boxes on vtest at 480×360 cover 0.2 %–3 % of the frame: 0.001 (0.1 %) is below all of them.
    const r = analyze(configFile('small', ['filters:', '  person: { max_area: 0.001 }']));
    expect(ids(r.events, (e) => e.label === 'person').size).toBe(0);
    expect(ids(r.events, isVehicle).size).toBeGreaterThanOrEqual(1);
    expect(r.summary.detections_filtered).toBeGreaterThan(100);
  });

  it('--labels on the command line wins over the config', () => {
    const r = analyze(configFile('labels', ['labels: [person]']), ['--labels', 'car,truck']);
    expect(r.summary.labels).toEqual(['car', 'truck']);
    expect(ids(r.events, (e) => e.label === 'person').size).toBe(0);
    expect(ids(r.events, isVehicle).size).toBeGreaterThanOrEqual(1);
  });
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
