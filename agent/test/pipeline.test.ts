import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validator } from '../../shared/schema/index.js';
import { CameraStream } from '../camera/stream.js';
import { syntheticSceneInput, syntheticSceneTruth, type SyntheticSceneOptions } from '../camera/synthetic.js';
import type { Frame, PixelBox } from '../camera/frame.js';
import { MotionDetector } from '../motion/index.js';
import { CameraPipeline, runPipeline, type MotionStage } from '../pipeline/pipeline.js';
import { EventMessageSchema, type EventMessage } from '../track/messages.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function analyseMotionOnly(
  input: string,
  width: number,
  height: number,
  fps: number,
): Promise<{ events: EventMessage[]; stats: ReturnType<CameraPipeline['stats']> }> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-pipeline-'));
  dirs.push(dir);
  const events: EventMessage[] = [];
  const camera = new CameraStream({ name: 'test', input, detect: { width, height, fps }, realtime: false });
  const motion = await MotionDetector.create({ width, height });
  const pipeline = new CameraPipeline({
    camera: 'test',
    width,
    height,
    motion,
    thumbnailDir: dir,
    mediaTimes: true,
    onEvent: (m) => void events.push(m),
  });
  try {
    camera.start();
    const stats = await runPipeline(camera, pipeline);
    if (camera.error) throw camera.error;
    return { events, stats };
  } finally {
    await camera.stop();
    await motion.close();
  }
}

describe('motion-only pipeline', () => {
  it('a static scene (flat colour) yields no events', async () => {
    const { events, stats } = await analyseMotionOnly('lavfi:color=c=0x606060:s=320x240:r=5:d=6', 320, 240, 5);
    expect(stats.frames).toBe(30);
    expect(events).toEqual([]);
    expect(stats.motion_frames).toBe(0);
  });

  it('a static noisy scene yields no events', async () => {
    const { events } = await analyseMotionOnly(
      'lavfi:color=c=0x606060:s=320x240:r=5:d=6,noise=alls=8:allf=t',
      320,
      240,
      5,
    );
    expect(events).toEqual([]);
  });

  it(
    'a square crossing the frame yields exactly one motion event, start and end within 0.5 s of ' + 'the truth',
    async () => {
      const scene: SyntheticSceneOptions = { width: 320, height: 240, fps: 10, durationS: 9, startS: 2, endS: 6 };
      const truth = syntheticSceneTruth(scene);
      const { events, stats } = await analyseMotionOnly(syntheticSceneInput(scene), 320, 240, 10);
      const check = validator(EventMessageSchema);
      expect(events.every((e) => check.check(e))).toBe(true);
      expect(new Set(events.map((e) => e.id)).size).toBe(1);
      const start = events.find((e) => e.type === 'new');
      const end = events.find((e) => e.type === 'end');
      expect(start?.label).toBe('motion');
      expect(Math.abs((start?.media_start as number) * 1000 - truth.motionStartMs)).toBeLessThanOrEqual(500);
      expect(Math.abs((end?.media_end as number) * 1000 - truth.motionEndMs)).toBeLessThanOrEqual(500);
      expect(end?.thumbnail).toMatch(/\.jpg$/);
      expect(stats.frames).toBe(90);
      expect(stats.detector_runs).toBe(0);
    },
  );
});

describe('pipeline gating', () => {
  /** A fake motion stage and fake frames: checks when the detector is asked to run, without a model. */
  it('runs the detector only on motion frames, plus a refresh while objects are tracked', async () => {
    const calls: { seq: number; regions: number }[] = [];
    const fakeDetector = {
      detectFrame: async (frame: Frame, motion?: readonly PixelBox[]) => {
        calls.push({ seq: frame.seq, regions: motion ? motion.length : -1 });
        const detections =
          frame.seq < 20
            ? [{ label: 'car', classId: 2, score: 0.9, box: [10, 10, 60, 40] as [number, number, number, number] }]
            : [];
        return {
          detections,
          plan: { mode: 'frame' as const, regions: [[0, 0, 64, 48] as PixelBox] },
          timings: { preprocessMs: 1, runMs: 10, postprocessMs: 0.5, runs: 1 },
        };
      },
    };
    const motion: MotionStage = {
      detect: async (f) => ({
        boxes: f.seq < 10 ? [[0, 0, 20, 20]] : [],
        calibrating: false,
        changedFraction: 0,
        ms: 0,
      }),
    };
    const dir = await mkdtemp(join(tmpdir(), 'vigil-pipeline-'));
    dirs.push(dir);
    const pipeline = new CameraPipeline({
      camera: 'c',
      width: 64,
      height: 48,
      motion,
      detector: fakeDetector as unknown as ConstructorParameters<typeof CameraPipeline>[0]['detector'],
      thumbnailDir: dir,
      refreshMs: 2000,
    });
    const data = Buffer.alloc(64 * 48 * 1.5, 128);
    for (let seq = 0; seq < 60; seq++)
      await pipeline.process({ camera: 'c', seq, width: 64, height: 48, data, mediaMs: seq * 200, wallMs: seq * 200 });
    const s = pipeline.stats();
    // Motion on frames 0–9 (10 runs), then a whole-frame refresh every 2 s while the car is tracked: at 19 (seen),
    // 29 (missing from here on) and 39 (still tracked: 2 s missing ends it on that frame); none after.
    expect(calls.slice(0, 10).every((c) => c.regions === 1)).toBe(true);
    expect(calls.slice(10).every((c) => c.regions === -1)).toBe(true);
    expect(calls.slice(10).map((c) => c.seq)).toEqual([19, 29, 39]);
    expect(s.detector_runs).toBe(13);
    expect(s.motion_frames).toBe(10);
    expect(s.frames).toBe(60);
    expect(s.detector_overhead_pct).toBe(15);
  });

  it('tracks that never pass the gate cost crops, not frames', async () => {
    // 20 uncertain objects (score above min_score, below the gate) in every frame, one sure car.
    const W = 640;
    const H = 360;
    const box = (i: number, seq: number): [number, number, number, number] => [
      (i % 10) * 60 + (seq % 4),
      Math.floor(i / 10) * 150,
      (i % 10) * 60 + 40 + (seq % 4),
      Math.floor(i / 10) * 150 + 100,
    ];
    const fakeDetector = {
      detectFrame: async (frame: Frame) => ({
        detections: [
          ...Array.from({ length: 20 }, (_, i) => ({
            label: 'person',
            classId: 0,
            score: 0.55 + (frame.seq % 5) * 0.01,
            box: box(i, frame.seq),
          })),
          { label: 'car', classId: 2, score: 0.9, box: [500, 300, 600, 350] as [number, number, number, number] },
        ],
        plan: { mode: 'frame' as const, regions: [[0, 0, W, H] as PixelBox] },
        timings: { preprocessMs: 1, runMs: 10, postprocessMs: 0.5, runs: 1 },
      }),
    };
    const dir = await mkdtemp(join(tmpdir(), 'vigil-pipeline-'));
    dirs.push(dir);
    const events: EventMessage[] = [];
    const pipeline = new CameraPipeline({
      camera: 'c',
      width: W,
      height: H,
      detector: fakeDetector as unknown as ConstructorParameters<typeof CameraPipeline>[0]['detector'],
      thumbnailDir: dir,
      onEvent: (m) => void events.push(m),
    });
    const data = Buffer.alloc(W * H * 1.5, 128);
    for (let seq = 0; seq < 40; seq++)
      await pipeline.process({ camera: 'c', seq, width: W, height: H, data, mediaMs: seq * 200, wallMs: seq * 200 });
    await pipeline.finish();
    const s = pipeline.stats();
    expect(s.live_tracks_peak).toBe(21);
    expect(events.filter((e) => e.type === 'new').map((e) => e.label)).toEqual(['car']);
    // Before: a 345 KB frame per live track (21 × 345 KB ≈ 7 MB). Now: 21 small crops plus the car's one frame.
    expect(s.picture_bytes_peak).toBeGreaterThan(0);
    expect(s.picture_bytes_peak).toBeLessThan(W * H * 1.5 + 21 * 16 * 1024);
    expect(events.find((e) => e.type === 'new')?.snapshot).toMatch(/-snapshot\.jpg$/);
  });
});
