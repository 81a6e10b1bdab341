import { describe, expect, it } from 'vitest';
import type { Frame } from '../camera/frame.js';
import { letterboxTransform, unletterbox } from '../detect/letterbox.js';
import { preprocessRgb, preprocessYuv420 } from '../detect/preprocess.js';
import { DEFAULT_NORMALIZATION, type InputGeometry } from '../detect/types.js';

const input: InputGeometry = { width: 416, height: 416, layout: 'nchw' };
const plane = 416 * 416;
const at = (t: Float32Array, c: number, x: number, y: number) => t[c * plane + y * 416 + x];

function uniformFrame(w: number, h: number, Y: number, U: number, V: number): Frame {
  const data = Buffer.alloc((w * h * 3) / 2);
  data.fill(Y, 0, w * h);
  data.fill(U, w * h, w * h + (w * h) / 4);
  data.fill(V, w * h + (w * h) / 4);
  return { camera: 't', seq: 0, width: w, height: h, data, mediaMs: 0, wallMs: 0 };
}

describe('letterbox geometry', () => {
  it('follows YOLOX: r = min(416/h, 416/w), floor sizes, top-left', () => {
    const t = letterboxTransform(768, 576, input, DEFAULT_NORMALIZATION.yolox);
    expect(t.width).toBe(416);
    expect(t.height).toBe(Math.floor(576 * (416 / 768)));
    expect([t.offsetX, t.offsetY]).toEqual([0, 0]);
    expect(unletterbox([0, 0, 416, 312], t).map((v) => Math.round(v))).toEqual([0, 0, 768, 576]);
  });
  it('centres for YOLO-style placement and maps boxes back through the offset', () => {
    const t = letterboxTransform(640, 320, input, DEFAULT_NORMALIZATION.yolo);
    expect([t.width, t.height, t.offsetX, t.offsetY]).toEqual([416, 208, 0, 104]);
    expect(unletterbox([0, 104, 416, 312], t)).toEqual([0, 0, 640, 320]);
  });
  it('maps region boxes back to frame coordinates', () => {
    const t = letterboxTransform(416, 416, input, DEFAULT_NORMALIZATION.yolox, 100, 50);
    expect(unletterbox([10, 20, 30, 40], t)).toEqual([110, 70, 130, 90]);
  });
});

describe('yuv420p → tensor', () => {
  it('writes BGR 0..255 into the image area and 114 into the padding', () => {
    // Y=81,U=90,V=240 is pure red in BT.601 limited range.
    const f = uniformFrame(480, 360, 81, 90, 240);
    const t = new Float32Array(3 * plane).fill(-1);
    const tr = preprocessYuv420(f, t, input, DEFAULT_NORMALIZATION.yolox);
    expect([tr.width, tr.height]).toEqual([416, 312]);
    const b = at(t, 0, 200, 100) as number;
    const g = at(t, 1, 200, 100) as number;
    const r = at(t, 2, 200, 100) as number;
    expect(r).toBeGreaterThan(250);
    expect(g).toBeLessThan(5);
    expect(b).toBeLessThan(5);
    for (let c = 0; c < 3; c++) {
      expect(at(t, c, 10, 312)).toBe(114);
      expect(at(t, c, 415, 415)).toBe(114);
      expect(at(t, c, 415, 311)).not.toBe(114);
    }
    expect(t.includes(-1)).toBe(false);
  });
  it('writes RGB /255 for YOLO-style normalization', () => {
    const f = uniformFrame(480, 360, 81, 90, 240);
    const t = new Float32Array(3 * plane);
    preprocessYuv420(f, t, input, DEFAULT_NORMALIZATION.yolo);
    expect(at(t, 0, 200, 208)).toBeCloseTo(1, 1);
    expect(at(t, 2, 200, 208)).toBeLessThan(0.02);
    expect(at(t, 0, 200, 10)).toBeCloseTo(114 / 255, 5);
  });
  it('cuts a region: a bright square inside the region fills the tensor', () => {
    const f = uniformFrame(1280, 720, 16, 128, 128);
    for (let y = 200; y < 616; y++) f.data.fill(235, y * 1280 + 300, y * 1280 + 716);
    const t = new Float32Array(3 * plane);
    preprocessYuv420(f, t, input, DEFAULT_NORMALIZATION.yolox, [300, 200, 716, 616]);
    for (const [x, y] of [
      [0, 0],
      [208, 208],
      [415, 415],
    ] as const)
      expect(at(t, 1, x, y)).toBeGreaterThan(250);
  });
  it('interpolates bilinearly across an edge', () => {
    const f = uniformFrame(832, 832, 16, 128, 128);
    // Edge between source columns 414 and 415; output column 207 samples source 414.5 (pixel-centre alignment).
    for (let y = 0; y < 832; y++) f.data.fill(235, y * 832 + 415, y * 832 + 832);
    const t = new Float32Array(3 * plane);
    preprocessYuv420(f, t, input, DEFAULT_NORMALIZATION.yolox);
    expect(at(t, 1, 100, 100)).toBe(0);
    expect(at(t, 1, 300, 100)).toBe(255);
    const mid = at(t, 1, 207, 100) as number;
    expect(mid).toBeGreaterThan(100);
    expect(mid).toBeLessThan(155);
  });
});

/**
 * Floating-point reference: bilinear with pixel-centre alignment on every plane, BT.601, round, clamp. Chroma is
 * sampled where the detector samples it, at the centre of each 2x2 block of output pixels, so this checks the
 * fixed-point arithmetic; `chromaSitingError` measures what that siting itself costs against per-pixel chroma.
 */
function referenceBgr(
  f: Frame,
  region: [number, number, number, number],
  perPixelChroma = false,
): { w: number; h: number; px: (c: number, x: number, y: number) => number } {
  const [x1, y1, x2, y2] = region;
  const t = letterboxTransform(x2 - x1, y2 - y1, input, DEFAULT_NORMALIZATION.yolox, x1, y1);
  const cw = f.width / 2;
  // Source position of output coordinate d (may be fractional) in a plane subsampled by `sub`, clamped.
  const pos = (start: number, size: number, n: number, planeSize: number, sub: number, d: number) => {
    let s = start + (d + 0.5) * (size / n) - 0.5;
    if (sub === 2) s = (s + 0.5) / 2 - 0.5;
    const lo = Math.floor(start / sub);
    const hi = Math.min(planeSize - 1, Math.ceil((start + size) / sub) - 1);
    return Math.min(hi, Math.max(lo, s));
  };
  const sample = (base: number, stride: number, sx: number, sy: number, maxX: number, maxY: number) => {
    const i0 = Math.floor(sx);
    const j0 = Math.floor(sy);
    const i1 = Math.min(i0 + 1, maxX);
    const j1 = Math.min(j0 + 1, maxY);
    const at = (i: number, j: number) => f.data[base + j * stride + i] as number;
    const top = at(i0, j0) + (at(i1, j0) - at(i0, j0)) * (sx - i0);
    const bottom = at(i0, j1) + (at(i1, j1) - at(i0, j1)) * (sx - i0);
    return top + (bottom - top) * (sy - j0);
  };
  const blockCentre = (d: number, n: number) =>
    perPixelChroma ? d : (2 * (d >> 1) + Math.min(2 * (d >> 1) + 1, n - 1)) / 2;
  const clamp = (v: number) => Math.max(0, Math.min(255, Math.round(v)));
  return {
    w: t.width,
    h: t.height,
    px: (c, x, y) => {
      const L =
        1.164 *
        (sample(
          0,
          f.width,
          pos(x1, x2 - x1, t.width, f.width, 1, x),
          pos(y1, y2 - y1, t.height, f.height, 1, y),
          f.width - 1,
          f.height - 1,
        ) -
          16);
      const cx = pos(x1, x2 - x1, t.width, cw, 2, blockCentre(x, t.width));
      const cy = pos(y1, y2 - y1, t.height, f.height / 2, 2, blockCentre(y, t.height));
      const U = sample(f.width * f.height, cw, cx, cy, cw - 1, f.height / 2 - 1) - 128;
      const V = sample(f.width * f.height * 1.25, cw, cx, cy, cw - 1, f.height / 2 - 1) - 128;
      return clamp(c === 0 ? L + 2.018 * U : c === 1 ? L - 0.813 * V - 0.391 * U : L + 1.596 * V);
    },
  };
}

function compare(t: Float32Array, ref: ReturnType<typeof referenceBgr>): { worst: number; mean: number } {
  let worst = 0;
  let sum = 0;
  for (let y = 0; y < ref.h; y++)
    for (let x = 0; x < ref.w; x++)
      for (let c = 0; c < 3; c++) {
        const d = Math.abs((at(t, c, x, y) as number) - ref.px(c, x, y));
        worst = Math.max(worst, d);
        sum += d;
      }
  return { worst, mean: sum / (ref.w * ref.h * 3) };
}

/** Luma: smooth waves plus fine noise; chroma: smooth waves (camera chroma is band-limited). Seeded, deterministic. */
function texturedFrame(w: number, h: number): Frame {
  const f = uniformFrame(w, h, 0, 0, 0);
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      f.data[y * w + x] = Math.round(120 + 90 * Math.sin(x / 7) * Math.cos(y / 11) + 10 * (rnd() - 0.5));
  const cw = w / 2;
  for (let y = 0; y < h / 2; y++)
    for (let x = 0; x < cw; x++) {
      f.data[w * h + y * cw + x] = Math.round(128 + 60 * Math.sin(x / 9 + y / 13));
      f.data[w * h * 1.25 + y * cw + x] = Math.round(128 + 60 * Math.cos(x / 11 - y / 8));
    }
  return f;
}

describe('yuv420p → tensor, fixed point against a floating-point reference', () => {
  const cases: [string, number, number, [number, number, number, number] | undefined][] = [
    ['whole 480x360 frame', 480, 360, undefined],
    ['whole 640x360 frame', 640, 360, undefined],
    ['odd-sized region of a 1280x720 frame', 1280, 720, [301, 117, 618, 440]],
    ['upscaled small region', 640, 360, [100, 50, 251, 163]],
  ];
  for (const [name, w, h, region] of cases)
    it(`${name}: every value within 1 level of the reference`, () => {
      const f = texturedFrame(w, h);
      const t = new Float32Array(3 * plane).fill(-1);
      const tr = preprocessYuv420(f, t, input, DEFAULT_NORMALIZATION.yolox, region);
      const ref = referenceBgr(f, region ?? [0, 0, w, h]);
      expect([tr.width, tr.height]).toEqual([ref.w, ref.h]);
      const e = compare(t, ref);
      expect(e.worst).toBeLessThanOrEqual(1);
      expect(e.mean).toBeLessThan(0.1);
      expect(t.includes(-1)).toBe(false);
    });
  it('chroma sited per 2x2 block stays close to per-pixel chroma, even on strongly saturated colour waves', () => {
    const f = texturedFrame(480, 360);
    const t = new Float32Array(3 * plane);
    preprocessYuv420(f, t, input, DEFAULT_NORMALIZATION.yolox);
    const e = compare(t, referenceBgr(f, [0, 0, 480, 360], true));
    // ±60 chroma over ~57 chroma pixels, about a quarter chroma pixel of siting: a few levels of 255 at most.
    expect(e.worst).toBeLessThanOrEqual(10);
    expect(e.mean).toBeLessThan(2.5);
  });
  it('rewrites the padding when the placement changes (the pad is otherwise written once)', () => {
    const t = new Float32Array(3 * plane);
    const wide = uniformFrame(640, 360, 235, 128, 128); // 416x234 placed
    preprocessYuv420(wide, t, input, DEFAULT_NORMALIZATION.yolox);
    expect(at(t, 1, 10, 300)).toBe(114);
    preprocessYuv420(uniformFrame(360, 360, 235, 128, 128), t, input, DEFAULT_NORMALIZATION.yolox); // 416x416: no pad
    expect(at(t, 1, 10, 300)).toBe(255);
    preprocessYuv420(wide, t, input, DEFAULT_NORMALIZATION.yolox);
    expect(at(t, 1, 10, 300)).toBe(114);
    expect(at(t, 1, 10, 200)).toBe(255);
  });
});

describe('rgb → tensor', () => {
  it('swaps to BGR and letterboxes top-left', () => {
    const data = Buffer.alloc(200 * 100 * 3);
    for (let i = 0; i < 200 * 100; i++) data.set([10, 20, 30], i * 3);
    const t = new Float32Array(3 * plane);
    const tr = preprocessRgb({ width: 200, height: 100, data }, t, input, DEFAULT_NORMALIZATION.yolox);
    expect([tr.width, tr.height]).toEqual([416, 208]);
    expect([at(t, 0, 5, 5), at(t, 1, 5, 5), at(t, 2, 5, 5)]).toEqual([30, 20, 10]);
    expect(at(t, 0, 5, 300)).toBe(114);
  });
});
