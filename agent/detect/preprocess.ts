import type { Frame, PixelBox } from '../camera/frame.js';
import { letterboxTransform, sampleTable, tensorStrides, type SampleTable } from './letterbox.js';
import type { InputGeometry, InputNormalization, LetterboxTransform } from './types.js';

/**
 * Writes a source region straight into the model's preallocated input tensor in one pass: colour conversion,
 * bilinear resize, channel order, scaling and letterbox padding together, with no intermediate image.
 */

/** Fills the parts of the tensor outside the placed image with the pad value. */
function fillPadOutside(tensor: Float32Array, input: InputGeometry, t: LetterboxTransform, pad: number): void {
  const { cs, ps } = tensorStrides(input);
  const W = input.width;
  const H = input.height;
  for (let c = 0; c < 3; c++) {
    const base = c * cs;
    for (let y = 0; y < H; y++) {
      const inside = y >= t.offsetY && y < t.offsetY + t.height;
      if (!inside) {
        if (ps === 1) tensor.fill(pad, base + y * W, base + (y + 1) * W);
        else for (let x = 0; x < W; x++) tensor[base + (y * W + x) * ps] = pad;
        continue;
      }
      for (let x = 0; x < t.offsetX; x++) tensor[base + (y * W + x) * ps] = pad;
      for (let x = t.offsetX + t.width; x < W; x++) tensor[base + (y * W + x) * ps] = pad;
    }
  }
}

// Tables depend only on the region size and position; the same region recurs frame after frame.
const tableCache = new Map<string, { x: SampleTable; y: SampleTable; cx: SampleTable; cy: SampleTable }>();

function yuvTables(frame: Frame, region: PixelBox, t: LetterboxTransform) {
  const key = `${frame.width}x${frame.height}:${region.join(',')}:${t.width}x${t.height}`;
  let tables = tableCache.get(key);
  if (!tables) {
    const [x1, y1, x2, y2] = region;
    tables = {
      x: sampleTable(x1, x2 - x1, t.width, frame.width),
      y: sampleTable(y1, y2 - y1, t.height, frame.height),
      cx: sampleTable(x1, x2 - x1, t.width, frame.width >> 1, 2),
      cy: sampleTable(y1, y2 - y1, t.height, frame.height >> 1, 2),
    };
    if (tableCache.size > 64) tableCache.clear();
    tableCache.set(key, tables);
  }
  return tables;
}

/**
 * clamp(round(v), 0, 255) * scale for v in -LUT_BIAS..LUT_BIAS+511, indexed by (v + LUT_BIAS + 0.5) | 0 (the 0.5
 * is folded into LUT_BIAS). BT.601 values stay within -280..535, well inside.
 */
const LUT_BIAS = 512.5;
const luts = new Map<number, Float32Array>();
function clampLut(scale: number): Float32Array {
  let lut = luts.get(scale);
  if (!lut) {
    lut = new Float32Array(1536);
    for (let i = 0; i < lut.length; i++) lut[i] = Math.max(0, Math.min(255, i - 512)) * scale;
    luts.set(scale, lut);
  }
  return lut;
}

const scratchRows: Float32Array[] = [];
/** Reusable row buffers (the pipeline is single-threaded; no call keeps them across an await). */
function scratch(i: number, size: number): Float32Array {
  let r = scratchRows[i];
  if (!r || r.length < size) {
    r = new Float32Array(size);
    scratchRows[i] = r;
  }
  return r;
}

/**
 * Letterboxes `region` (whole frame by default) of a yuv420p frame into `tensor`. Colour: BT.601 limited range
 * (what decoders deliver for camera streams unless told otherwise).
 */
export function preprocessYuv420(
  frame: Frame,
  tensor: Float32Array,
  input: InputGeometry,
  norm: InputNormalization,
  region: PixelBox = [0, 0, frame.width, frame.height],
): LetterboxTransform {
  const [rx1, ry1, rx2, ry2] = region;
  const t = letterboxTransform(rx2 - rx1, ry2 - ry1, input, norm, rx1, ry1);
  const pad = norm.padValue * norm.scale;
  fillPadOutside(tensor, input, t, pad);
  const { x, y, cx, cy } = yuvTables(frame, region, t);
  const { cs, ps } = tensorStrides(input);
  const W = frame.width;
  const CW = W >> 1;
  const data = new Uint8Array(frame.data.buffer, frame.data.byteOffset, frame.data.length);
  const uBase = W * frame.height;
  const vBase = uBase + CW * (frame.height >> 1);
  const lut = clampLut(norm.scale);
  // Output channel offsets for R, G, B.
  const rOff = norm.channelOrder === 'rgb' ? 0 : 2 * cs;
  const gOff = cs;
  const bOff = norm.channelOrder === 'rgb' ? 2 * cs : 0;
  const IW = input.width;
  // Separable bilinear: blend the two source rows once per output row (vertical pass over the region's columns),
  // then each output pixel needs two reads per plane (horizontal pass).
  const rowY = scratch(0, W);
  const rowU = scratch(1, CW);
  const rowV = scratch(2, CW);
  const xs = x.i0[0] as number;
  const xe = x.i1[t.width - 1] as number;
  const cxs = cx.i0[0] as number;
  const cxe = cx.i1[t.width - 1] as number;
  const xi0 = x.i0, xi1 = x.i1, xw = x.w1, ci0 = cx.i0, ci1 = cx.i1, cw = cx.w1;
  for (let dy = 0; dy < t.height; dy++) {
    const yr0 = (y.i0[dy] as number) * W;
    const yr1 = (y.i1[dy] as number) * W;
    const wy = y.w1[dy] as number;
    for (let i = xs; i <= xe; i++) {
      const a = data[yr0 + i] as number;
      rowY[i] = a + ((data[yr1 + i] as number) - a) * wy;
    }
    const cr0 = (cy.i0[dy] as number) * CW;
    const cr1 = (cy.i1[dy] as number) * CW;
    const wcy = cy.w1[dy] as number;
    for (let i = cxs; i <= cxe; i++) {
      const u = data[uBase + cr0 + i] as number;
      rowU[i] = u + ((data[uBase + cr1 + i] as number) - u) * wcy - 128;
      const v = data[vBase + cr0 + i] as number;
      rowV[i] = v + ((data[vBase + cr1 + i] as number) - v) * wcy - 128;
    }
    let o = ((dy + t.offsetY) * IW + t.offsetX) * ps;
    for (let dx = 0; dx < t.width; dx++, o += ps) {
      const y0 = rowY[xi0[dx] as number] as number;
      const L = 1.164 * (y0 + ((rowY[xi1[dx] as number] as number) - y0) * (xw[dx] as number) - 16);
      const c0 = ci0[dx] as number;
      const c1 = ci1[dx] as number;
      const wcx = cw[dx] as number;
      const u0 = rowU[c0] as number;
      const U = u0 + ((rowU[c1] as number) - u0) * wcx;
      const v0 = rowV[c0] as number;
      const V = v0 + ((rowV[c1] as number) - v0) * wcx;
      // Clamp, round and scale through one table lookup: branch-free and cheaper than min/max on doubles.
      tensor[o + rOff] = lut[(L + 1.596 * V + LUT_BIAS) | 0] as number;
      tensor[o + gOff] = lut[(L - 0.813 * V - 0.391 * U + LUT_BIAS) | 0] as number;
      tensor[o + bOff] = lut[(L + 2.018 * U + LUT_BIAS) | 0] as number;
    }
  }
  return t;
}

/** An interleaved RGB image (3 bytes per pixel), as decoded from an image file. */
export interface RgbImage {
  width: number;
  height: number;
  data: Buffer;
}

/** Letterboxes a whole RGB image into `tensor`. */
export function preprocessRgb(image: RgbImage, tensor: Float32Array, input: InputGeometry, norm: InputNormalization): LetterboxTransform {
  const t = letterboxTransform(image.width, image.height, input, norm);
  fillPadOutside(tensor, input, t, norm.padValue * norm.scale);
  const x = sampleTable(0, image.width, t.width, image.width);
  const y = sampleTable(0, image.height, t.height, image.height);
  const { cs, ps } = tensorStrides(input);
  const s = norm.scale;
  const d = image.data;
  const stride = image.width * 3;
  const order = norm.channelOrder === 'rgb' ? [0, 1, 2] : [2, 1, 0];
  for (let c = 0; c < 3; c++) {
    const src = order[c] as number;
    const base = c * cs;
    for (let dy = 0; dy < t.height; dy++) {
      const r0 = (y.i0[dy] as number) * stride + src;
      const r1 = (y.i1[dy] as number) * stride + src;
      const wy = y.w1[dy] as number;
      let o = base + ((dy + t.offsetY) * input.width + t.offsetX) * ps;
      for (let dx = 0; dx < t.width; dx++, o += ps) {
        const x0 = (x.i0[dx] as number) * 3;
        const x1 = (x.i1[dx] as number) * 3;
        const wx = x.w1[dx] as number;
        const a = (d[r0 + x0] as number) + ((d[r0 + x1] as number) - (d[r0 + x0] as number)) * wx;
        const b = (d[r1 + x0] as number) + ((d[r1 + x1] as number) - (d[r1 + x0] as number)) * wx;
        tensor[o] = (a + (b - a) * wy) * s;
      }
    }
  }
  return t;
}
