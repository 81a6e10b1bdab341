import type { InputGeometry, InputNormalization, LetterboxTransform } from './types.js';

/**
 * Letterbox geometry and bilinear sampling tables. Bilinear uses pixel-centre alignment (as OpenCV's INTER_LINEAR
 * and ffmpeg's bilinear): source = (dst + 0.5) * (srcSize / dstSize) - 0.5, clamped to the source.
 */

/** Where a `srcW`x`srcH` region goes inside the model input. YOLOX: r = min(H/h, W/w), size floor(w*r) x floor(h*r). */
export function letterboxTransform(
  srcW: number,
  srcH: number,
  input: InputGeometry,
  norm: InputNormalization,
  originX = 0,
  originY = 0,
): LetterboxTransform {
  if (norm.placement === 'stretch') {
    return {
      originX,
      originY,
      scaleX: input.width / srcW,
      scaleY: input.height / srcH,
      offsetX: 0,
      offsetY: 0,
      width: input.width,
      height: input.height,
    };
  }
  const r = Math.min(input.width / srcW, input.height / srcH);
  const width = Math.max(1, Math.min(input.width, Math.floor(srcW * r)));
  const height = Math.max(1, Math.min(input.height, Math.floor(srcH * r)));
  const offsetX = norm.placement === 'center' ? Math.floor((input.width - width) / 2) : 0;
  const offsetY = norm.placement === 'center' ? Math.floor((input.height - height) / 2) : 0;
  return { originX, originY, scaleX: r, scaleY: r, offsetX, offsetY, width, height };
}

/** Per destination index: the two source indices and the weight of the second. */
export interface SampleTable {
  i0: Int32Array;
  i1: Int32Array;
  w1: Float32Array;
}

/**
 * Sampling table for resizing `srcSize` source pixels (starting at `srcStart` in a plane of `planeSize`) to
 * `dstSize`. `subsample` 2 addresses a half-resolution chroma plane with the same source geometry.
 */
export function sampleTable(
  srcStart: number,
  srcSize: number,
  dstSize: number,
  planeSize: number,
  subsample = 1,
): SampleTable {
  const i0 = new Int32Array(dstSize);
  const i1 = new Int32Array(dstSize);
  const w1 = new Float32Array(dstSize);
  const ratio = srcSize / dstSize;
  const lo = Math.floor(srcStart / subsample);
  const hi = Math.min(planeSize - 1, Math.ceil((srcStart + srcSize) / subsample) - 1);
  for (let d = 0; d < dstSize; d++) {
    let s = srcStart + (d + 0.5) * ratio - 0.5;
    if (subsample !== 1) s = (s + 0.5) / subsample - 0.5;
    if (s < lo) s = lo;
    if (s > hi) s = hi;
    const f = Math.floor(s);
    i0[d] = f;
    i1[d] = Math.min(f + 1, hi);
    w1[d] = s - f;
  }
  return { i0, i1, w1 };
}

/** Fills the whole input tensor with the pad value (scaled), ready for the image to be written over it. */
export function fillPad(tensor: Float32Array, norm: InputNormalization): void {
  tensor.fill(norm.padValue * norm.scale);
}

/** Tensor strides for channel c at pixel (x, y): index = c*cs + (y*W + x)*ps. */
export function tensorStrides(input: InputGeometry): { cs: number; ps: number } {
  return input.layout === 'nchw' ? { cs: input.width * input.height, ps: 1 } : { cs: 1, ps: 3 };
}

/** Maps a box from input-tensor pixels back to source pixels. */
export function unletterbox(
  box: [number, number, number, number],
  t: LetterboxTransform,
): [number, number, number, number] {
  return [
    (box[0] - t.offsetX) / t.scaleX + t.originX,
    (box[1] - t.offsetY) / t.scaleY + t.originY,
    (box[2] - t.offsetX) / t.scaleX + t.originX,
    (box[3] - t.offsetY) / t.scaleY + t.originY,
  ];
}
