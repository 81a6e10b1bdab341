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
  const data = frame.data;
  const uBase = W * frame.height;
  const vBase = uBase + CW * (frame.height >> 1);
  const s = norm.scale;
  // Output channel offsets for R, G, B.
  const rOff = norm.channelOrder === 'rgb' ? 0 : 2 * cs;
  const gOff = cs;
  const bOff = norm.channelOrder === 'rgb' ? 2 * cs : 0;
  const IW = input.width;
  for (let dy = 0; dy < t.height; dy++) {
    const yr0 = (y.i0[dy] as number) * W;
    const yr1 = (y.i1[dy] as number) * W;
    const wy = y.w1[dy] as number;
    const cr0 = (cy.i0[dy] as number) * CW;
    const cr1 = (cy.i1[dy] as number) * CW;
    const wcy = cy.w1[dy] as number;
    let o = ((dy + t.offsetY) * IW + t.offsetX) * ps;
    for (let dx = 0; dx < t.width; dx++, o += ps) {
      const x0 = x.i0[dx] as number;
      const x1 = x.i1[dx] as number;
      const wx = x.w1[dx] as number;
      const a = (data[yr0 + x0] as number) + ((data[yr0 + x1] as number) - (data[yr0 + x0] as number)) * wx;
      const b = (data[yr1 + x0] as number) + ((data[yr1 + x1] as number) - (data[yr1 + x0] as number)) * wx;
      const Y = a + (b - a) * wy;
      const c0 = cx.i0[dx] as number;
      const c1 = cx.i1[dx] as number;
      const wcx = cx.w1[dx] as number;
      const ua = (data[uBase + cr0 + c0] as number) + ((data[uBase + cr0 + c1] as number) - (data[uBase + cr0 + c0] as number)) * wcx;
      const ub = (data[uBase + cr1 + c0] as number) + ((data[uBase + cr1 + c1] as number) - (data[uBase + cr1 + c0] as number)) * wcx;
      const va = (data[vBase + cr0 + c0] as number) + ((data[vBase + cr0 + c1] as number) - (data[vBase + cr0 + c0] as number)) * wcx;
      const vb = (data[vBase + cr1 + c0] as number) + ((data[vBase + cr1 + c1] as number) - (data[vBase + cr1 + c0] as number)) * wcx;
      const U = ua + (ub - ua) * wcy - 128;
      const V = va + (vb - va) * wcy - 128;
      const L = 1.164 * (Y - 16);
      let r = L + 1.596 * V;
      let g = L - 0.813 * V - 0.391 * U;
      let bl = L + 2.018 * U;
      r = r < 0 ? 0 : r > 255 ? 255 : r;
      g = g < 0 ? 0 : g > 255 ? 255 : g;
      bl = bl < 0 ? 0 : bl > 255 ? 255 : bl;
      tensor[o + rOff] = r * s;
      tensor[o + gOff] = g * s;
      tensor[o + bOff] = bl * s;
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
