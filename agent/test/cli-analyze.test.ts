import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validator } from '../../shared/schema/index.js';
import { testAsset } from '../../shared/testing/index.js';
import { syntheticSceneInput, syntheticSceneTruth } from '../camera/synthetic.js';
import { EventMessageSchema, type EventMessage } from '../track/messages.js';
import { agentCli, expectOneLineError, weirdModelBytes } from './detect-helpers.js';
import { isJpeg } from './support/jpeg.js';

// Spawns the built CLI (`npm run build` first; `npm test` does it).
// Real assets: a missing one fails these tests (it is not a reason to skip them).
function asset(...parts: string[]): string {
  const p = testAsset(...parts);
  if (!p) throw new Error(`test asset ${parts.join('/')} is missing (see ../shared/README.md)`);
  return p;
}
const tmp = mkdtempSync(join(tmpdir(), 'vigil-cli-analyze-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const check = validator(EventMessageSchema);

interface Summary {
  type: 'summary';
  frames: number;
  motion_frames: number;
  detector_runs: number;
  events: number;
  picture_bytes_peak: number;
  live_tracks_peak: number;
  ms_per_frame: Record<'decode' | 'motion' | 'detect' | 'track' | 'thumbnail', number>;
}

/** Event lines and the summary; review lines (`kind: review`, checked in cli-analyze-config.test.ts) are left out. */
function parseLines(stdout: string): { events: EventMessage[]; summary: Summary } {
  const lines = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as EventMessage | Summary | { kind: 'review' });
  const summary = lines.at(-1) as Summary;
  expect(summary.type).toBe('summary');
  return { events: lines.slice(0, -1).filter((l) => !('kind' in l)) as EventMessage[], summary };
}

describe('vigil-agent analyze vtest.avi (yolox_nano, 5 fps)', () => {
  // 5 fps → 399 frames of 480x360: about 15–40 s on two busy cores.
  const out = join(tmp, 'vtest');
  let run: { code: number | null; stdout: string; stderr: string } | undefined;
  const result = () => {
    run ??= agentCli(
      [
        'analyze',
        asset('media', 'vtest.avi'),
        '--model',
        asset('models', 'yolox_nano.onnx'),
        '--fps',
        '5',
        '--out',
        out,
        '--json',
      ],
      240_000,
    );
    return run;
  };
  // One analysis for all the checks below; on two busy cores it can take longer than one test's time limit.
  beforeAll(() => void result(), 240_000);

  it('prints valid event lines and a summary', () => {
    const r = result();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const { events, summary } = parseLines(r.stdout);
    for (const e of events) expect(check.issues(e)).toEqual([]);
    expect(summary.frames).toBe(399);
    expect(summary.motion_frames).toBeGreaterThan(300);
    expect(summary.detector_runs).toBeGreaterThan(300);
    expect(summary.detector_runs).toBeLessThanOrEqual(summary.frames);
    expect(Object.keys(summary.ms_per_frame).sort()).toEqual(['decode', 'detect', 'motion', 'thumbnail', 'track']);
    // Every event that starts also ends (the file ends), each id once per type new/end.
    const ids = new Set(events.map((e) => e.id));
    expect(summary.events).toBe(ids.size);
    for (const id of ids) {
      expect(events.filter((e) => e.id === id && e.type === 'new')).toHaveLength(1);
      expect(events.filter((e) => e.id === id && e.type === 'end')).toHaveLength(1);
    }
    for (const e of events) {
      expect(e.media_start).toBeGreaterThanOrEqual(0);
      expect(e.media_start).toBeLessThan(80);
      if (e.type === 'end') expect(e.media_end).toBeGreaterThanOrEqual(e.media_start as number);
    }
  });

  it('reports person events with valid JPEG thumbnails', async () => {
    const { events } = parseLines(result().stdout);
    const persons = events.filter((e) => e.label === 'person' && e.type === 'new');
    expect(persons.length).toBeGreaterThanOrEqual(10);
    for (const e of persons.slice(0, 5)) {
      const bytes = readFileSync(e.thumbnail as string);
      expect(isJpeg(bytes)).toBe(true);
      const meta = await sharp(bytes).metadata();
      expect(meta.format).toBe('jpeg');
      expect(meta.width).toBeGreaterThan(8);
      // A person crop is taller than wide.
      expect(meta.height as number).toBeGreaterThan(meta.width as number);
      const snap = await sharp(readFileSync(e.snapshot as string)).metadata();
      expect([snap.width, snap.height]).toEqual([480, 360]);
    }
  });

  it(
    'the two parked vehicles yield at most one event each, though the model calls one of them car ' + 'and truck',
    async () => {
      const { events, summary } = parseLines(result().stdout);
      const vehicles = events.filter((e) => e.label === 'car' || e.label === 'truck' || e.label === 'bus');
      const ids = new Set(vehicles.map((e) => e.id));
      expect(ids.size).toBeGreaterThanOrEqual(1);
      expect(ids.size).toBeLessThanOrEqual(2);
      for (const id of ids) {
        expect(vehicles.filter((e) => e.id === id && e.type === 'new')).toHaveLength(1);
        // One label for the life of an event.
        expect(new Set(vehicles.filter((e) => e.id === id).map((e) => e.label)).size).toBe(1);
        const first = vehicles.find((e) => e.id === id) as EventMessage;
        expect(isJpeg(readFileSync(first.thumbnail as string))).toBe(true);
        expect(isJpeg(readFileSync(first.snapshot as string))).toBe(true);
      }
      // They are parked: reported stationary at some point; the other label seen on the van is kept as an attribute.
      expect(vehicles.some((e) => e.stationary)).toBe(true);
      expect(vehicles.some((e) => e.attributes?.alt_label !== undefined)).toBe(true);
      // Raw pictures held stay far below one frame per live track (480x360 yuv420p = 259,200 bytes).
      expect(summary.picture_bytes_peak).toBeLessThan(summary.live_tracks_peak * 259_200);
    },
  );
});

describe('vigil-agent analyze, motion only', () => {
  it('reports one motion event for a synthetic crossing, within 0.5 s of the truth', () => {
    const scene = { width: 320, height: 240, fps: 10, durationS: 8, startS: 2, endS: 5 };
    const truth = syntheticSceneTruth(scene);
    const r = agentCli(['analyze', syntheticSceneInput(scene), '--fps', '10', '--json', '--out', join(tmp, 'motion')]);
    expect(r.code).toBe(0);
    const { events, summary } = parseLines(r.stdout);
    expect(summary).toMatchObject({ frames: 80, detector_runs: 0, events: 1 });
    const start = events.find((e) => e.type === 'new');
    const end = events.find((e) => e.type === 'end');
    expect(start?.label).toBe('motion');
    expect(Math.abs((start?.media_start as number) * 1000 - truth.motionStartMs)).toBeLessThanOrEqual(500);
    expect(Math.abs((end?.media_end as number) * 1000 - truth.motionEndMs)).toBeLessThanOrEqual(500);
  });
  it('a static clip yields zero events', () => {
    const r = agentCli(['analyze', 'lavfi:color=c=0x303030:s=320x240:r=5:d=5', '--json', '--out', join(tmp, 'static')]);
    expect(r.code).toBe(0);
    const { events, summary } = parseLines(r.stdout);
    expect(events).toEqual([]);
    expect(summary.frames).toBe(25);
  });
});

describe('vigil-agent analyze errors', () => {
  it('unreachable camera URL → one-line camera error', () => {
    const r = agentCli(['analyze', 'rtsp://127.0.0.1:1/nothing', '--timeout', '10']);
    expectOneLineError(r, 'camera_unreachable');
  });
  it('missing input file → input_invalid', () => {
    expectOneLineError(agentCli(['analyze', join(tmp, 'missing.avi')]), 'input_invalid');
  });
  it('missing model → model_not_found', () => {
    expectOneLineError(
      agentCli(['analyze', 'lavfi:color=s=64x48:d=1', '--model', join(tmp, 'none.onnx')]),
      'model_not_found',
    );
  });
  it('model of unknown format → model_format_unknown', () => {
    const p = join(tmp, 'weird.onnx');
    writeFileSync(p, weirdModelBytes());
    expectOneLineError(agentCli(['analyze', 'lavfi:color=s=64x48:d=1', '--model', p]), 'model_format_unknown');
  });
});
