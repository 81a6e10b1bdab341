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

/**
 * Fixed-point sampling plan for one (frame size, region, placed size). Luma: per output column and row the first
 * source sample and an 8-bit weight of the next. Chroma: the same per 2x2 block of output pixels, sampled at the
 * block's centre (4:2:0 chroma has half the resolution; computing it once per block instead of once per pixel
 * is most of the speed). Regions recur frame after frame (the whole frame above all), so plans are cached.
 */
interface YuvPlan {
  xi: Int32Array;
  xw: Int32Array;
  yi: Int32Array;
  yw: Int32Array;
  bxi: Int32Array;
  bxw: Int32Array;
  byi: Int32Array;
  byw: Int32Array;
  /** Source columns read, luma and chroma: [start, end] inclusive. */
  xs: number;
  xe: number;
  cxs: number;
  cxe: number;
}

const WBITS = 8;
const WONE = 1 << WBITS;

function fixed(t: SampleTable): { i: Int32Array; w: Int32Array } {
  const w = new Int32Array(t.w1.length);
  for (let k = 0; k < w.length; k++) w[k] = Math.round((t.w1[k] as number) * WONE);
  return { i: Int32Array.from(t.i0), w };
}

/**
 * Chroma samples at the centres of pairs of output pixels (a lone last pixel: at its own centre), with the same
 * pixel-centre alignment and clamping as `sampleTable`.
 */
function blockTable(
  srcStart: number,
  srcSize: number,
  dstSize: number,
  planeSize: number,
): { i: Int32Array; w: Int32Array } {
  const n = (dstSize + 1) >> 1;
  const i = new Int32Array(n);
  const w = new Int32Array(n);
  const ratio = srcSize / dstSize;
  const lo = Math.floor(srcStart / 2);
  const hi = Math.min(planeSize - 1, Math.ceil((srcStart + srcSize) / 2) - 1);
  for (let b = 0; b < n; b++) {
    const centre = (2 * b + Math.min(2 * b + 1, dstSize - 1)) / 2 + 0.5;
    let c = (srcStart + centre * ratio - 0.5 + 0.5) / 2 - 0.5;
    if (c < lo) c = lo;
    if (c > hi) c = hi;
    const f = Math.floor(c);
    i[b] = f;
    w[b] = f < hi ? Math.round((c - f) * WONE) : 0;
  }
  return { i, w };
}

/** First and last sample read through index/weight tables (the next sample only where its weight is not 0). */
function span(t: { i: Int32Array; w: Int32Array }): [number, number] {
  let s = Infinity;
  let e = -Infinity;
  for (let k = 0; k < t.i.length; k++) {
    const a = t.i[k] as number;
    s = Math.min(s, a);
    e = Math.max(e, (t.w[k] as number) > 0 ? a + 1 : a);
  }
  return [s, e];
}

const planCache = new Map<string, YuvPlan>();

function yuvPlan(frame: Frame, region: PixelBox, t: LetterboxTransform): YuvPlan {
  const key = `${frame.width}x${frame.height}:${region.join(',')}:${t.width}x${t.height}`;
  let plan = planCache.get(key);
  if (!plan) {
    const [x1, y1, x2, y2] = region;
    const x = fixed(sampleTable(x1, x2 - x1, t.width, frame.width));
    const y = fixed(sampleTable(y1, y2 - y1, t.height, frame.height));
    const bx = blockTable(x1, x2 - x1, t.width, frame.width >> 1);
    const by = blockTable(y1, y2 - y1, t.height, frame.height >> 1);
    const [xs, xe] = span(x);
    const [cxs, cxe] = span(bx);
    plan = { xi: x.i, xw: x.w, yi: y.i, yw: y.w, bxi: bx.i, bxw: bx.w, byi: by.i, byw: by.w, xs, xe, cxs, cxe };
    if (planCache.size > 64) planCache.clear();
    planCache.set(key, plan);
  }
  return plan;
}

/**
 * clamp(v, 0, 255) * scale for integer v in -LUT_BIAS..LUT_BIAS+511, indexed by v + LUT_BIAS (BT.601 values stay
 * within -280..535), as float32 bit patterns: the inner loop copies 32-bit integers into an Int32Array view of the
 * tensor, with no int → float conversion per value.
 */
const LUT_BIAS = 512;
const luts = new Map<number, Int32Array>();
function clampLut(scale: number): Int32Array {
  let lut = luts.get(scale);
  if (!lut) {
    const f = new Float32Array(1536);
    for (let i = 0; i < f.length; i++) f[i] = Math.max(0, Math.min(255, i - LUT_BIAS)) * scale;
    lut = new Int32Array(f.buffer);
    luts.set(scale, lut);
  }
  return lut;
}

const scratchRows: Int32Array[] = [];
/**
 * Reusable row buffers (the pipeline is single-threaded; no call keeps them across an await). One spare slot: the
 * read of the next sample after the last one has weight 0 but stays in bounds.
 */
function scratch(i: number, size: number): Int32Array {
  let r = scratchRows[i];
  if (!r || r.length < size + 1) {
    r = new Int32Array(size + 1);
    scratchRows[i] = r;
  }
  return r;
}

/** The placement whose padding a tensor holds: the pad never changes, so it is written only when that changes. */
const paddedAs = new WeakMap<Float32Array, string>();

function padOnce(tensor: Float32Array, input: InputGeometry, t: LetterboxTransform, pad: number): void {
  const key = `${input.width}x${input.height}${input.layout}:${t.offsetX},${t.offsetY},${t.width}x${t.height}:${pad}`;
  if (paddedAs.get(tensor) === key) return;
  fillPadOutside(tensor, input, t, pad);
  paddedAs.set(tensor, key);
}

const bitViews = new WeakMap<Float32Array, Int32Array>();
function bitsOf(tensor: Float32Array): Int32Array {
  let v = bitViews.get(tensor);
  if (!v) {
    v = new Int32Array(tensor.buffer, tensor.byteOffset, tensor.length);
    bitViews.set(tensor, v);
  }
  return v;
}

// BT.601 limited range, coefficients with 10 fraction bits (the hot loop in preprocessYuv420 writes them as
// literals): Y 1.164 → 1192, V→R 1.596 → 1634, V→G 0.813 → 833, U→G 0.391 → 400, U→B 2.018 → 2066. Interpolated
// samples carry 8 fraction bits, so sums carry 18 (SHIFT); ROUND adds one half and the table bias before the shift.
const SHIFT = 18;
const ROUND = (1 << (SHIFT - 1)) + (LUT_BIAS << SHIFT);

/**
 * Letterboxes `region` (whole frame by default) of a yuv420p frame into `tensor`. Colour: BT.601 limited range
 * (what decoders deliver for camera streams unless told otherwise).
 *
 * Separable bilinear in fixed point. Per pair of output rows: blend the two chroma source rows, then per pair of
 * output columns blend chroma horizontally and turn it into the three chroma terms of R, G and B. Per output row:
 * blend the two luma source rows; per pixel blend luma horizontally, add each chroma term and clamp, round and
 * scale through one table lookup per channel. Integer arithmetic throughout; values are within one level of 255
 * of a per-pixel floating-point conversion. The padding is written only when the placement changes.
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
  padOnce(tensor, input, t, norm.padValue * norm.scale);
  const { xi, xw, yi, yw, bxi, bxw, byi, byw, xs, xe, cxs, cxe } = yuvPlan(frame, region, t);
  const out = bitsOf(tensor);
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
  const tw = t.width;
  const th = t.height;
  const pairs = tw >> 1;
  const ps2 = 2 * ps;
  // Module constants read in a hot loop are context loads in V8 11: the loops use literals (WBITS 8, SHIFT 18,
  // 16 << 8 = 4096, 128 << 8 = 32768, the BT.601 coefficients above) and this local.
  const round = ROUND;
  const rowY = scratch(0, W);
  const rowU = scratch(1, CW);
  const rowV = scratch(2, CW);
  const nb = (tw + 1) >> 1;
  const cR = scratch(3, nb);
  const cG = scratch(4, nb);
  const cB = scratch(5, nb);
  for (let by = 0; by < (th + 1) >> 1; by++) {
    // Chroma of this pair of output rows: vertical, then horizontal per block, then the R/G/B terms.
    const wcy = byw[by] as number;
    const wcy0 = 256 - wcy;
    const cr0 = (byi[by] as number) * CW;
    const cr1 = cr0 + (wcy > 0 ? CW : 0);
    for (let i = cxs, u0 = uBase + cr0, u1 = uBase + cr1, v0 = vBase + cr0, v1 = vBase + cr1; i <= cxe; i++) {
      rowU[i] = (data[u0 + i] as number) * wcy0 + (data[u1 + i] as number) * wcy;
      rowV[i] = (data[v0 + i] as number) * wcy0 + (data[v1 + i] as number) * wcy;
    }
    for (let b = 0; b < nb; b++) {
      const c = bxi[b] as number;
      const wc = bxw[b] as number;
      const ua = rowU[c] as number;
      const va = rowV[c] as number;
      const U = (((ua << 8) + Math.imul((rowU[c + 1] as number) - ua, wc)) >> 8) - 32768;
      const V = (((va << 8) + Math.imul((rowV[c + 1] as number) - va, wc)) >> 8) - 32768;
      cR[b] = Math.imul(1634, V) + round;
      cG[b] = round - Math.imul(833, V) - Math.imul(400, U);
      cB[b] = Math.imul(2066, U) + round;
    }
    const rowEnd = Math.min(th, 2 * by + 2);
    for (let dy = 2 * by; dy < rowEnd; dy++) {
      const wy = yw[dy] as number;
      const wy0 = 256 - wy;
      const yr0 = (yi[dy] as number) * W;
      const yr1 = yr0 + (wy > 0 ? W : 0);
      for (let i = xs; i <= xe; i++) rowY[i] = (data[yr0 + i] as number) * wy0 + (data[yr1 + i] as number) * wy;
      // One running index per output channel (constant offsets from one index defeat the JIT's bounds checks).
      const o = ((dy + t.offsetY) * IW + t.offsetX) * ps;
      let pr = o + rOff;
      let pg = o + gOff;
      let pb = o + bOff;
      // Two output pixels per step share one chroma block.
      for (let b = 0; b < pairs; b++, pr += ps2, pg += ps2, pb += ps2) {
        const r = cR[b] as number;
        const g = cG[b] as number;
        const bl = cB[b] as number;
        const dx = b << 1;
        const a = xi[dx] as number;
        const ya = rowY[a] as number;
        const L = Math.imul(
          1192,
          (((ya << 8) + Math.imul((rowY[a + 1] as number) - ya, xw[dx] as number)) >> 8) - 4096,
        );
        out[pr] = lut[(L + r) >> 18] as number;
        out[pg] = lut[(L + g) >> 18] as number;
        out[pb] = lut[(L + bl) >> 18] as number;
        const a2 = xi[dx + 1] as number;
        const yb = rowY[a2] as number;
        const L2 = Math.imul(
          1192,
          (((yb << 8) + Math.imul((rowY[a2 + 1] as number) - yb, xw[dx + 1] as number)) >> 8) - 4096,
        );
        out[pr + ps] = lut[(L2 + r) >> 18] as number;
        out[pg + ps] = lut[(L2 + g) >> 18] as number;
        out[pb + ps] = lut[(L2 + bl) >> 18] as number;
      }
      if (tw & 1) {
        const dx = tw - 1;
        const a = xi[dx] as number;
        const ya = rowY[a] as number;
        const L = Math.imul(
          1192,
          (((ya << 8) + Math.imul((rowY[a + 1] as number) - ya, xw[dx] as number)) >> 8) - 4096,
        );
        out[pr] = lut[(L + (cR[pairs] as number)) >> 18] as number;
        out[pg] = lut[(L + (cG[pairs] as number)) >> 18] as number;
        out[pb] = lut[(L + (cB[pairs] as number)) >> 18] as number;
      }
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
export function preprocessRgb(
  image: RgbImage,
  tensor: Float32Array,
  input: InputGeometry,
  norm: InputNormalization,
): LetterboxTransform {
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
