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
    for (const [x, y] of [[0, 0], [208, 208], [415, 415]] as const) expect(at(t, 1, x, y)).toBeGreaterThan(250);
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
