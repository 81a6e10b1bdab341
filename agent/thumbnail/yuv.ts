import type { PixelBox } from '../camera/frame.js';

/** Interleaved 8-bit RGB pixels. */
export interface RgbBuffer {
  width: number;
  height: number;
  data: Buffer;
}

/**
 * Converts a region of a yuv420p image to RGB (BT.601 limited range, chroma nearest-sampled: at thumbnail sizes
 * the difference from interpolated chroma is invisible). Region coordinates are rounded to even pixels.
 */
export function yuv420ToRgb(
  data: Buffer,
  width: number,
  height: number,
  region: PixelBox = [0, 0, width, height],
): RgbBuffer {
  const x1 = Math.max(0, Math.floor(region[0] / 2) * 2);
  const y1 = Math.max(0, Math.floor(region[1] / 2) * 2);
  const x2 = Math.min(width, Math.ceil(region[2] / 2) * 2);
  const y2 = Math.min(height, Math.ceil(region[3] / 2) * 2);
  const w = Math.max(2, x2 - x1);
  const h = Math.max(2, y2 - y1);
  const out = Buffer.allocUnsafe(w * h * 3);
  const cw = width >> 1;
  const uBase = width * height;
  const vBase = uBase + cw * (height >> 1);
  let o = 0;
  for (let y = y1; y < y1 + h; y++) {
    const row = y * width;
    const crow = (y >> 1) * cw;
    for (let x = x1; x < x1 + w; x++) {
      const L = 1.164 * ((data[row + x] as number) - 16);
      const U = (data[uBase + crow + (x >> 1)] as number) - 128;
      const V = (data[vBase + crow + (x >> 1)] as number) - 128;
      const r = L + 1.596 * V;
      const g = L - 0.813 * V - 0.391 * U;
      const b = L + 2.018 * U;
      out[o++] = r < 0 ? 0 : r > 255 ? 255 : r + 0.5; // typed-array stores truncate: +0.5 rounds
      out[o++] = g < 0 ? 0 : g > 255 ? 255 : g + 0.5;
      out[o++] = b < 0 ? 0 : b > 255 ? 255 : b + 0.5;
    }
  }
  return { width: w, height: h, data: out };
}

/** A region of a yuv420p image cut out as a yuv420p image of its own, and where it was in the source. */
export interface YuvCut {
  x: number;
  y: number;
  width: number;
  height: number;
  data: Buffer;
}

/**
 * Copies a region of a yuv420p image (rounded outwards to even pixels, as `yuv420ToRgb` rounds, so converting
 * the cut gives the same pixels as converting the region of the source).
 */
export function cutYuv420(data: Buffer, width: number, height: number, region: PixelBox): YuvCut {
  const x1 = Math.max(0, Math.floor(region[0] / 2) * 2);
  const y1 = Math.max(0, Math.floor(region[1] / 2) * 2);
  const x2 = Math.min(width, Math.max(x1 + 2, Math.ceil(region[2] / 2) * 2));
  const y2 = Math.min(height, Math.max(y1 + 2, Math.ceil(region[3] / 2) * 2));
  const w = x2 - x1;
  const h = y2 - y1;
  const out = Buffer.allocUnsafe((w * h * 3) / 2);
  for (let y = 0; y < h; y++) data.copy(out, y * w, (y1 + y) * width + x1, (y1 + y) * width + x2);
  const cw = width >> 1;
  const ow = w >> 1;
  const oh = h >> 1;
  for (let plane = 0; plane < 2; plane++) {
    const src = width * height + plane * cw * (height >> 1);
    const dst = w * h + plane * ow * oh;
    for (let y = 0; y < oh; y++) {
      const s = src + ((y1 >> 1) + y) * cw + (x1 >> 1);
      data.copy(out, dst + y * ow, s, s + ow);
    }
  }
  return { x: x1, y: y1, width: w, height: h, data: out };
}

/** Draws a rectangle outline into an RGB buffer (in place). */
export function drawBox(img: RgbBuffer, box: PixelBox, rgb: [number, number, number], thickness = 2): void {
  const x1 = Math.max(0, Math.round(box[0]));
  const y1 = Math.max(0, Math.round(box[1]));
  const x2 = Math.min(img.width - 1, Math.round(box[2]) - 1);
  const y2 = Math.min(img.height - 1, Math.round(box[3]) - 1);
  const put = (x: number, y: number): void => {
    if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
    const o = (y * img.width + x) * 3;
    img.data[o] = rgb[0];
    img.data[o + 1] = rgb[1];
    img.data[o + 2] = rgb[2];
  };
  for (let t = 0; t < thickness; t++) {
    for (let x = x1; x <= x2; x++) {
      put(x, y1 + t);
      put(x, y2 - t);
    }
    for (let y = y1; y <= y2; y++) {
      put(x1 + t, y);
      put(x2 - t, y);
    }
  }
}
