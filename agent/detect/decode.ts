import { VigilError } from '../errors.js';
import type { InputGeometry, ModelType } from './types.js';
import { DETECTOR_DEFAULTS } from './config.js';

/**
 * Output decoders. Each turns raw model outputs into candidate boxes in input-tensor pixels (before NMS):
 *
 * - `yolox`: one output `[1, N, 5+nc]`, rows `[cx, cy, w, h, obj, cls…]`, score = obj × max(cls). Undecoded grid
 *   exports (N = Σ (W/s)·(H/s) for strides 8/16/32; box = ((t + grid)·s, exp(t)·s)) and already-decoded exports
 *   (boxes in input pixels; YOLOv5 exports have this layout too) are both accepted.
 * - `yolo`: one output `[1, 4+nc, N]` (YOLOv8/v9/v11 exports), columns `[cx, cy, w, h, cls…]` in input pixels,
 *   no objectness; score = max(cls). A row-major `[1, N, 4+nc]` variant is accepted when the class count says so.
 * - `ssd`: separate outputs `boxes [1,N,4]`, `classes [1,N]`, `scores [1,N]` and optionally `num_detections [1]`.
 *   Boxes are normalized 0..1 to the input, in `y1,x1,y2,x2` order (TensorFlow's convention, the default) or
 *   `x1,y1,x2,y2` (`boxOrder: 'xyxy'`). Class ids are used as they are, as indices into the labels.
 */

export interface OutputTensor {
  name: string;
  dims: readonly number[];
  data: Float32Array;
}

export interface Candidate {
  box: [number, number, number, number];
  score: number;
  classId: number;
}

export type DecoderSpec =
  | { type: 'yolox'; output: string; classes: number; decoded: boolean | 'auto'; strides: number[] }
  | { type: 'yolo'; output: string; classes: number; transposed: boolean }
  | {
      type: 'ssd';
      boxes: string;
      classes: string;
      scores: string;
      count: string | undefined;
      boxOrder: 'yxyx' | 'xyxy';
    };

export interface DecoderOptions {
  /** Forces a layout instead of reading it from the output shapes. */
  type?: ModelType | 'auto';
  /** Class count from model metadata, used to tell `[1,N,5+nc]` from `[1,N,4+nc]`. */
  classCount?: number;
  boxOrder?: 'yxyx' | 'xyxy';
}

const YOLOX_STRIDES = [8, 16, 32];

function describe(outputs: readonly { name: string; dims: readonly number[] }[]): string {
  return outputs.map((o) => `${o.name} [${o.dims.join(', ')}]`).join(', ');
}

function unknown(outputs: readonly { name: string; dims: readonly number[] }[], why: string): VigilError {
  return new VigilError(
    'model_format_unknown',
    `cannot decode model outputs ${describe(outputs)}: ${why}; set model.type to yolox, yolo or ssd if the layout ` +
      `is one of those`,
    {
      details: { outputs: outputs.map((o) => ({ name: o.name, dims: [...o.dims] })) },
    },
  );
}

/** Squeezes a leading batch dimension of 1. */
function rows(dims: readonly number[]): number[] {
  return dims.length > 1 && dims[0] === 1 ? dims.slice(1) : [...dims];
}

/** Picks the decoder from the outputs' names and shapes (or checks a forced type against them). */
export function detectFormat(
  outputs: readonly { name: string; dims: readonly number[] }[],
  input: InputGeometry,
  options: DecoderOptions = {},
): DecoderSpec {
  const forced = options.type && options.type !== 'auto' ? options.type : undefined;
  const gridRows = YOLOX_STRIDES.reduce((n, s) => n + Math.ceil(input.width / s) * Math.ceil(input.height / s), 0);
  if (outputs.length >= 3 || forced === 'ssd') {
    const spec = ssdSpec(outputs, options.boxOrder ?? DETECTOR_DEFAULTS.boxOrder);
    if (spec) return spec;
    throw unknown(outputs, 'expected SSD-style outputs boxes [1,N,4], classes [1,N], scores [1,N]');
  }
  const single = outputs.length === 1 ? outputs[0] : undefined;
  const shape = single ? rows(single.dims) : [];
  if (!single || shape.length !== 2)
    throw unknown(
      outputs,
      'expected one output [1, N, 5+classes] or [1, 4+classes, N], or SSD-style boxes/classes/scores',
    );
  const [a, b] = shape as [number, number];
  const nc = options.classCount;
  if (forced === 'yolo' || (!forced && a < b && a > 4)) {
    // Channels-first [4+nc, N] unless the shape is clearly row-major.
    const transposed = forced === 'yolo' ? !(a > b) : true;
    const classes = (transposed ? a : b) - 4;
    if (classes < 1) throw unknown(outputs, 'a YOLO output needs at least 5 values per box');
    return { type: 'yolo', output: single.name, classes, transposed };
  }
  if (a >= b && b > 4) {
    if (!forced && nc !== undefined && b - 4 === nc)
      return { type: 'yolo', output: single.name, classes: nc, transposed: false };
    if (b < 6) throw unknown(outputs, 'a YOLOX output needs at least 6 values per box');
    return {
      type: 'yolox',
      output: single.name,
      classes: b - 5,
      decoded: a === gridRows ? 'auto' : true,
      strides: YOLOX_STRIDES,
    };
  }
  throw unknown(outputs, 'no known layout has this shape');
}

function ssdSpec(
  outputs: readonly { name: string; dims: readonly number[] }[],
  boxOrder: 'yxyx' | 'xyxy',
): DecoderSpec | undefined {
  const boxes = outputs.find((o) => {
    const r = rows(o.dims);
    return r.length === 2 && r[1] === 4;
  });
  if (!boxes) return undefined;
  const n = rows(boxes.dims)[0];
  const vectors = outputs.filter((o) => o !== boxes && rows(o.dims).length === 1 && rows(o.dims)[0] === n);
  const named = (re: RegExp) => vectors.find((o) => re.test(o.name));
  let classes = named(/class|label/i);
  let scores = named(/score|conf/i);
  if (!classes || !scores) {
    if (vectors.length !== 2) return undefined;
    // Unnamed: TensorFlow's order is boxes, classes, scores.
    [classes, scores] = vectors as [typeof boxes, typeof boxes];
  }
  const count = outputs.find(
    (o) => o !== boxes && o !== classes && o !== scores && o.dims.reduce((p, d) => p * d, 1) === 1,
  );
  return { type: 'ssd', boxes: boxes.name, classes: classes.name, scores: scores.name, count: count?.name, boxOrder };
}

function get(outputs: ReadonlyMap<string, OutputTensor>, name: string): OutputTensor {
  const t = outputs.get(name);
  if (!t) throw new VigilError('model_format_unknown', `model output ${name} is missing from the run results`);
  return t;
}

/** Decodes outputs with `spec`; keeps candidates whose score ≥ `threshold`. Boxes are in input-tensor pixels. */
export function decodeOutputs(
  spec: DecoderSpec,
  outputs: ReadonlyMap<string, OutputTensor>,
  input: InputGeometry,
  threshold: number,
): Candidate[] {
  switch (spec.type) {
    case 'yolox':
      return decodeYolox(get(outputs, spec.output), spec, input, threshold);
    case 'yolo':
      return decodeYolo(get(outputs, spec.output), spec, threshold);
    case 'ssd':
      return decodeSsd(spec, outputs, input, threshold);
  }
}

/**
 * Undecoded grids hold small offsets (tx, ty around -2..4); decoded exports hold centres in input pixels.
 * The median |cx| over the rows tells them apart (well over one stride for decoded boxes).
 */
export function looksDecoded(data: Float32Array, n: number, width: number): boolean {
  const step = Math.max(1, Math.floor(n / 256));
  // A typed array sorts numerically without a comparator: no number boxed per comparison (this runs every frame).
  const xs = new Float32Array(Math.ceil(n / step));
  for (let i = 0, k = 0; i < n; i += step, k++) xs[k] = Math.abs(data[i * width] as number);
  xs.sort();
  return (xs[xs.length >> 1] ?? 0) > 8;
}

function decodeYolox(
  out: OutputTensor,
  spec: Extract<DecoderSpec, { type: 'yolox' }>,
  input: InputGeometry,
  threshold: number,
): Candidate[] {
  const [n, width] = rows(out.dims) as [number, number];
  const d = out.data;
  const nc = spec.classes;
  const decoded = spec.decoded === 'auto' ? looksDecoded(d, n, width) : spec.decoded;
  const found: Candidate[] = [];
  let row = 0;
  const levels = decoded
    ? [{ stride: 1, gw: n, gh: 1 }]
    : spec.strides.map((s) => ({ stride: s, gw: Math.ceil(input.width / s), gh: Math.ceil(input.height / s) }));
  for (const { stride, gw, gh } of levels) {
    for (let gy = 0; gy < gh; gy++) {
      for (let gx = 0; gx < gw; gx++, row++) {
        const o = row * width;
        const obj = d[o + 4] as number;
        if (obj < threshold) continue; // score = obj × cls ≤ obj
        let best = 0;
        let cls = 0;
        for (let c = 0; c < nc; c++) {
          const v = d[o + 5 + c] as number;
          if (v > best) {
            best = v;
            cls = c;
          }
        }
        const score = obj * best;
        if (score < threshold) continue;
        let cx = d[o] as number;
        let cy = d[o + 1] as number;
        let w = d[o + 2] as number;
        let h = d[o + 3] as number;
        if (!decoded) {
          cx = (cx + gx) * stride;
          cy = (cy + gy) * stride;
          w = Math.exp(w) * stride;
          h = Math.exp(h) * stride;
        }
        found.push({ box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], score, classId: cls });
      }
    }
  }
  return found;
}

function decodeYolo(out: OutputTensor, spec: Extract<DecoderSpec, { type: 'yolo' }>, threshold: number): Candidate[] {
  const shape = rows(out.dims) as [number, number];
  const n = spec.transposed ? shape[1] : shape[0];
  const d = out.data;
  const nc = spec.classes;
  // Element (i, k): transposed → d[k*n + i]; row-major → d[i*(4+nc) + k].
  const rowStride = spec.transposed ? 1 : 4 + nc;
  const colStride = spec.transposed ? n : 1;
  const found: Candidate[] = [];
  for (let i = 0; i < n; i++) {
    const base = i * rowStride;
    let best = 0;
    let cls = 0;
    for (let c = 0; c < nc; c++) {
      const v = d[base + (4 + c) * colStride] as number;
      if (v > best) {
        best = v;
        cls = c;
      }
    }
    if (best < threshold) continue;
    const cx = d[base] as number;
    const cy = d[base + colStride] as number;
    const w = d[base + 2 * colStride] as number;
    const h = d[base + 3 * colStride] as number;
    found.push({ box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], score: best, classId: cls });
  }
  return found;
}

function decodeSsd(
  spec: Extract<DecoderSpec, { type: 'ssd' }>,
  outputs: ReadonlyMap<string, OutputTensor>,
  input: InputGeometry,
  threshold: number,
): Candidate[] {
  const boxes = get(outputs, spec.boxes).data;
  const classes = get(outputs, spec.classes).data;
  const scores = get(outputs, spec.scores).data;
  let n = scores.length;
  if (spec.count) {
    const c = get(outputs, spec.count).data[0];
    if (c !== undefined && c >= 0) n = Math.min(n, Math.round(c));
  }
  const found: Candidate[] = [];
  for (let i = 0; i < n; i++) {
    const score = scores[i] as number;
    if (score < threshold) continue;
    const b0 = boxes[i * 4] as number;
    const b1 = boxes[i * 4 + 1] as number;
    const b2 = boxes[i * 4 + 2] as number;
    const b3 = boxes[i * 4 + 3] as number;
    const [x1, y1, x2, y2] = spec.boxOrder === 'yxyx' ? [b1, b0, b3, b2] : [b0, b1, b2, b3];
    found.push({
      box: [x1 * input.width, y1 * input.height, x2 * input.width, y2 * input.height],
      score,
      classId: Math.round(classes[i] as number),
    });
  }
  return found;
}
