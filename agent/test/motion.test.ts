import { mkdtempSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { isVigilError } from '../../shared/errors/index.js';
import type { PixelBox } from '../camera/frame.js';
import { MotionDetector, ensureMotionModel, motionGraphShape, MotionIO, rasterizeRoi } from '../motion/index.js';
import { MotionRegions } from '../motion/regions.js';
import {
  boxCovers,
  makeFrame,
  motionSpans,
  motionTimeline,
  seededRandom,
  syntheticSceneInput,
  syntheticSceneTruth,
  writeSyntheticClip,
} from './support/synthetic.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'vigil-motion-test-'));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

const W = 480;
const H = 360;

describe('motion model generation', () => {
  it('writes a model that onnxruntime loads, with the documented inputs and output shapes, and caches it', async () => {
    const params = { width: W, height: H, factor: 4, downscale: 'linear' as const, blur: 3, dilate: 3 };
    const first = ensureMotionModel(params, cacheDir);
    expect(first.created).toBe(true);
    expect(statSync(first.path).size).toBeGreaterThan(200);
    const again = ensureMotionModel(params, cacheDir);
    expect(again).toEqual({ path: first.path, created: false });

    const session = await ort.InferenceSession.create(first.path, { intraOpNumThreads: 1 });
    expect(session.inputNames).toEqual([MotionIO.y, MotionIO.bgIn, MotionIO.roi, MotionIO.alpha, MotionIO.threshold]);
    expect([...session.outputNames].sort()).toEqual([MotionIO.bgOut, MotionIO.changedCount, MotionIO.motion].sort());
    const { smallWidth: w, smallHeight: h } = motionGraphShape(params);
    expect([w, h]).toEqual([120, 90]);

    // A 40×40 bright square on a flat background that equals the fed background: only the square changes.
    const y = new Uint8Array(W * H).fill(100);
    for (let r = 100; r < 140; r++) y.fill(220, r * W + 200, r * W + 240);
    const r = await session.run({
      [MotionIO.y]: new ort.Tensor('uint8', y, [1, 1, H, W]),
      [MotionIO.bgIn]: new ort.Tensor('float32', new Float32Array(w * h).fill(100), [1, 1, h, w]),
      [MotionIO.roi]: new ort.Tensor('float32', new Float32Array(w * h).fill(1), [1, 1, h, w]),
      [MotionIO.alpha]: new ort.Tensor('float32', Float32Array.of(0.5), [1]),
      [MotionIO.threshold]: new ort.Tensor('float32', Float32Array.of(25), [1]),
    });
    expect(r[MotionIO.motion]!.dims).toEqual([1, 1, h, w]);
    expect(r[MotionIO.motion]!.type).toBe('uint8');
    expect(r[MotionIO.bgOut]!.dims).toEqual([1, 1, h, w]);
    expect(r[MotionIO.changedCount]!.dims).toEqual([]);
    const changed = (r[MotionIO.changedCount]!.data as Float32Array)[0]!;
    expect(changed).toBeGreaterThan(80); // ≈ 10×10 mask pixels plus blur fringe
    expect(changed).toBeLessThan(200);
    const mask = r[MotionIO.motion]!.data as Uint8Array;
    expect(mask[30 * w + 55]).toBe(1); // inside the square (rows 25..35, cols 50..60 at 1/4)
    expect(mask[5 * w + 5]).toBe(0);
    // bg_out moved half way to the frame: background 100 stays 100, the square's centre → 160.
    const bg = r[MotionIO.bgOut]!.data as Float32Array;
    expect(bg[5 * w + 5]).toBeCloseTo(100, 3);
    expect(bg[30 * w + 55]).toBeCloseTo(160, 0);
    await session.release();
  });

  it('rasterizes mask polygons at the small size', () => {
    const roi = rasterizeRoi(
      [
        [
          [0, 0],
          [0.5, 0],
          [0.5, 1],
          [0, 1],
        ],
      ],
      10,
      4,
    );
    expect(Array.from(roi.subarray(0, 10))).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    expect(() =>
      rasterizeRoi(
        [
          [
            [0, 0],
            [2, 0],
            [0, 1],
          ],
        ],
        10,
        4,
      ),
    ).toThrow(/point 1/);
  });
});

/**
 * Reference: flood fill with an explicit 8-neighbourhood, boxes in mask pixels [x1, y1, x2+1, y2+1] with pixel counts.
 */
function floodBoxes(mask: Uint8Array, w: number, h: number): Array<[number, number, number, number, number]> {
  const seen = new Uint8Array(w * h);
  const out: Array<[number, number, number, number, number]> = [];
  for (let s = 0; s < w * h; s++) {
    if (!mask[s] || seen[s]) continue;
    const stack = [s];
    seen[s] = 1;
    let [x1, y1, x2, y2, n] = [w, h, 0, 0, 0];
    while (stack.length) {
      const i = stack.pop()!;
      const x = i % w;
      const y = Math.floor(i / w);
      n++;
      [x1, y1, x2, y2] = [Math.min(x1, x), Math.min(y1, y), Math.max(x2, x + 1), Math.max(y2, y + 1)];
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          const ny = y + dy;
          const j = ny * w + nx;
          if (nx >= 0 && ny >= 0 && nx < w && ny < h && mask[j] && !seen[j]) {
            seen[j] = 1;
            stack.push(j);
          }
        }
    }
    out.push([x1, y1, x2, y2, n]);
  }
  return out;
}

describe('motion regions', () => {
  it('finds the same 8-connected components as a flood fill, on random masks', () => {
    const rnd = seededRandom(7);
    const [w, h] = [37, 23];
    for (let trial = 0; trial < 200; trial++) {
      const density = 0.05 + rnd() * 0.5;
      const mask = new Uint8Array(w * h).map(() => (rnd() < density ? 1 + Math.floor(rnd() * 2) : 0));
      const minCount = Math.floor(rnd() * 4);
      // Scale 1 (frame = mask size) so boxes compare directly; minArea counts pixels.
      const got = new MotionRegions(w, h, w, h).boxes(mask, minCount);
      const want = floodBoxes(mask, w, h)
        .filter((b) => b[4] >= minCount)
        .map((b) => b.slice(0, 4));
      const key = (b: number[]) => b.join(',');
      expect(got.map(key).sort()).toEqual(want.map(key).sort());
    }
  });

  it('scales boxes to frame pixels', () => {
    const mask = new Uint8Array(12 * 9);
    mask[2 * 12 + 3] = 1;
    mask[3 * 12 + 4] = 1; // diagonal neighbour: same region
    expect(new MotionRegions(12, 9, 48, 36).boxes(mask, 0)).toEqual([[12, 8, 20, 16]]);
    expect(new MotionRegions(12, 9, 48, 36).boxes(mask, 33)).toEqual([]); // 2 mask px = 32 frame px
  });
});

describe('MotionDetector', () => {
  const create = (extra: Partial<Parameters<typeof MotionDetector.create>[0]> = {}) =>
    MotionDetector.create({ width: W, height: H, cacheDir, ...extra });

  it('reports no motion on a static scene with sensor noise', async () => {
    const md = await create();
    const rnd = seededRandom(1);
    const results = [];
    for (let i = 0; i < 30; i++)
      results.push(await md.detect(makeFrame(W, H, { background: 90, noise: 12, random: rnd }, i)));
    expect(results[0]!.calibrating).toBe(true);
    for (const r of results.slice(1)) {
      expect(r.calibrating).toBe(false);
      expect(r.boxes).toEqual([]);
      expect(r.changedFraction).toBeLessThan(0.01);
    }
    await md.close();
  });

  it('finds a moving square and its box covers the square', async () => {
    const md = await create();
    const rnd = seededRandom(2);
    await md.detect(makeFrame(W, H, { background: 80, noise: 6, random: rnd }, 0));
    for (let i = 1; i <= 10; i++) {
      const x = 40 + i * 30;
      const square: PixelBox = [x, 150, x + 50, 200];
      const r = await md.detect(
        makeFrame(W, H, { background: 80, noise: 6, random: rnd, boxes: [{ box: square, luma: 230 }] }, i),
      );
      expect(r.calibrating).toBe(false);
      expect(r.boxes.length).toBe(1);
      expect(boxCovers(r.boxes[0]!, square)).toBe(true);
      // Not much larger than the square (mask pixels are 4×4, dilation adds one on each side).
      const [x1, y1, x2, y2] = r.boxes[0]!;
      expect((x2 - x1) * (y2 - y1)).toBeLessThan(70 * 70);
      expect(r.changedFraction).toBeGreaterThan(0);
    }
    await md.close();
  });

  it("runs the model synchronously, with the same results as onnxruntime-node's asynchronous session", async () => {
    const sync = await create();
    const pub = await create({ session: 'public' });
    const rnd = seededRandom(7);
    for (let i = 0; i < 12; i++) {
      const x = 30 + i * 25;
      const frame = makeFrame(
        W,
        H,
        { background: 70, noise: 8, random: rnd, boxes: [{ box: [x, 120, x + 60, 190], luma: 220 }] },
        i,
      );
      // No event-loop turn inside a synchronous run: an immediate queued before it has not run when it resolves.
      let turned = false;
      setImmediate(() => (turned = true));
      const a = await sync.detect(frame);
      expect(turned).toBe(false);
      const b = await pub.detect(frame);
      expect([a.boxes, a.changedFraction, a.calibrating]).toEqual([b.boxes, b.changedFraction, b.calibrating]);
    }
    await sync.close();
    await pub.close();
  });

  it('treats a global brightness jump as recalibration, not motion', async () => {
    const md = await create({ settleFrames: 2 });
    const rnd = seededRandom(3);
    for (let i = 0; i < 5; i++) await md.detect(makeFrame(W, H, { background: 70, noise: 5, random: rnd }, i));
    const jump = await md.detect(makeFrame(W, H, { background: 150, noise: 5, random: rnd }, 5));
    expect(jump.calibrating).toBe(true);
    expect(jump.boxes).toEqual([]);
    expect(jump.changedFraction).toBeGreaterThan(0.8);
    const settle = [];
    for (let i = 6; i < 8; i++)
      settle.push(await md.detect(makeFrame(W, H, { background: 150, noise: 5, random: rnd }, i)));
    expect(settle.map((s) => s.calibrating)).toEqual([true, true]);
    for (let i = 8; i < 15; i++) {
      const r = await md.detect(makeFrame(W, H, { background: 150, noise: 5, random: rnd }, i));
      expect(r.calibrating).toBe(false);
      expect(r.boxes).toEqual([]);
    }
    // And real motion is seen again afterwards.
    const r = await md.detect(
      makeFrame(
        W,
        H,
        { background: 150, noise: 5, random: rnd, boxes: [{ box: [100, 100, 160, 160], luma: 250 }] },
        15,
      ),
    );
    expect(r.boxes.length).toBe(1);
    await md.close();
  });

  it('ignores motion inside a mask polygon but not outside it', async () => {
    // Left half of the frame masked.
    const md = await create({
      masks: [
        [
          [0, 0],
          [0.5, 0],
          [0.5, 1],
          [0, 1],
        ],
      ],
    });
    await md.detect(makeFrame(W, H, { background: 60 }, 0));
    const inside = await md.detect(
      makeFrame(W, H, { background: 60, boxes: [{ box: [40, 100, 140, 200], luma: 240 }] }, 1),
    );
    expect(inside.boxes).toEqual([]);
    expect(inside.changedFraction).toBe(0);
    const outside = await md.detect(
      makeFrame(W, H, { background: 60, boxes: [{ box: [340, 100, 440, 200], luma: 240 }] }, 2),
    );
    expect(outside.boxes.length).toBe(1);
    expect(outside.boxes[0]![0]).toBeGreaterThanOrEqual(W / 2 - 8);
    await md.close();
  });

  it('drops regions smaller than minArea', async () => {
    const md = await create({ minArea: 5000 });
    await md.detect(makeFrame(W, H, { background: 60 }, 0));
    const small = await md.detect(
      makeFrame(W, H, { background: 60, boxes: [{ box: [100, 100, 130, 130], luma: 240 }] }, 1),
    );
    expect(small.boxes).toEqual([]);
    expect(small.changedFraction).toBeGreaterThan(0);
    const big = await md.detect(
      makeFrame(W, H, { background: 60, boxes: [{ box: [200, 100, 300, 200], luma: 240 }] }, 2),
    );
    expect(big.boxes.length).toBe(1);
    await md.close();
  });

  it('rejects frames of another size and bad options with clear errors', async () => {
    const md = await create();
    await expect(md.detect(makeFrame(320, 240, { background: 1 }))).rejects.toSatisfy(
      (e: unknown) => isVigilError(e, 'motion_frame_size_mismatch') && /320x240.*480x360/.test((e as Error).message),
    );
    await md.close();
    await expect(create({ threshold: 300 })).rejects.toSatisfy(
      (e: unknown) => isVigilError(e, 'invalid_motion_options') && /threshold/.test((e as Error).message),
    );
    await expect(
      create({
        masks: [
          [
            [0, 0],
            [1, 1],
          ],
        ],
      }),
    ).rejects.toSatisfy(
      (e: unknown) => isVigilError(e, 'invalid_motion_options') && /3 points/.test((e as Error).message),
    );
  });

  it('generates its model into the cache folder on first use', async () => {
    const dir = join(cacheDir, 'fresh');
    const md = await MotionDetector.create({ width: 320, height: 240, cacheDir: dir });
    expect(existsSync(dir)).toBe(true);
    expect(md.maskSize).toEqual({ width: 160, height: 120 }); // factor round(240/100) = 2
    await md.close();
  });
});

describe('motion on a generated scene (camera → motion)', () => {
  it('a written synthetic clip (H.264 file, native rate) gives one motion span matching the truth', async () => {
    const scene = { width: 320, height: 240, fps: 10, durationS: 5, startS: 1, endS: 3.5 };
    const truth = syntheticSceneTruth(scene);
    const clip = join(cacheDir, 'scene.mp4');
    await writeSyntheticClip(clip, scene);
    const samples = await motionTimeline(
      { name: 'clip', input: clip, detect: { width: 320, height: 240, fps: 0 } },
      { cacheDir },
    );
    expect(samples.length).toBe(50);
    expect(samples[10]!.mediaMs).toBe(1000);
    const spans = motionSpans(samples);
    expect(spans.length).toBe(1);
    expect(Math.abs(spans[0]!.startMs - truth.motionStartMs)).toBeLessThanOrEqual(500);
    expect(Math.abs(spans[0]!.endMs - truth.motionEndMs)).toBeLessThanOrEqual(500);
  });

  it('starts and ends within 0.5 s of the truth on the lavfi scene, with boxes covering the square', async () => {
    const scene = { width: 640, height: 360, fps: 10, durationS: 8, startS: 2, endS: 5.5, noise: 8 };
    const truth = syntheticSceneTruth(scene);
    const samples = await motionTimeline(
      { name: 'synthetic', input: syntheticSceneInput(scene), detect: { width: 640, height: 360, fps: 10 } },
      { cacheDir },
    );
    expect(samples.length).toBe(80);
    const spans = motionSpans(samples);
    expect(spans.length).toBe(1);
    expect(Math.abs(spans[0]!.startMs - truth.motionStartMs)).toBeLessThanOrEqual(500);
    expect(Math.abs(spans[0]!.endMs - truth.motionEndMs)).toBeLessThanOrEqual(500);
    for (const s of samples) {
      const square = truth.boxAt(s.mediaMs);
      if (!square || s.boxes.length === 0) continue;
      expect(s.boxes.some((b) => boxCovers(b, square))).toBe(true);
    }
  });
});
