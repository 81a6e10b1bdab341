import { attr, encodeModel, OnnxType, type ModelSpec, type NodeSpec, type TensorSpec } from './onnx-proto.js';

/**
 * The motion model: one ONNX graph per frame size, run once per frame.
 *
 *   y (uint8 [1,1,H,W], the frame's luma plane fed as is)
 *     → Cast float → downscale by k (bilinear Resize, or k×k AveragePool) → small [1,1,h,w]
 *     → AveragePool b×b stride 1 (blur; counts only real pixels at the border)
 *   d = small − bg_in;  bg_out = bg_in + alpha·d   (running background, fed back by the caller)
 *   changed = (|d| > threshold) · roi               (roi: 1 watched, 0 masked; rasterized once by the caller)
 *   changed_count = Σ changed                       (for the lighting-jump check)
 *   motion = uint8(MaxPool dil×dil (changed))        (dilation joins the fragments of one moving thing)
 *
 * `alpha` and `threshold` are inputs, not constants, so one cached model serves every setting. No contrast
 * stretch: the box downscale and blur already suppress sensor noise, and stretching would amplify it in dark
 * scenes. Bump MOTION_GRAPH_VERSION whenever the graph changes: it is part of the model cache key.
 */
export const MOTION_GRAPH_VERSION = 1;
export const MOTION_OPSET = 13;

export interface MotionGraphParams {
  /** Frame size (the Y plane). */
  width: number;
  height: number;
  /** Downscale factor k (integer ≥ 1): the mask is ceil(W/k)×ceil(H/k). */
  factor: number;
  /**
   * `linear`: bilinear Resize (samples 2×2 pixels per output, like a plain image resize; cheapest).
   * `area`: k×k box average (every pixel counts; steadier on noisy sensors, ~0.1 ms more at 480×360).
   */
  downscale: 'linear' | 'area';
  /** Blur kernel (odd, 1 = none). */
  blur: number;
  /** Dilation kernel (odd, 1 = none). */
  dilate: number;
}

export interface MotionGraphShape {
  /** Size of the motion mask and background. */
  smallWidth: number;
  smallHeight: number;
}

/** Input and output names of the motion model. */
export const MotionIO = {
  y: 'y',
  bgIn: 'bg_in',
  roi: 'roi',
  alpha: 'alpha',
  threshold: 'threshold',
  motion: 'motion',
  bgOut: 'bg_out',
  changedCount: 'changed_count',
} as const;

/** Downscale factor giving a mask about 100 px high (enough for motion boxes, cheap to post-process). */
export function defaultFactor(height: number): number {
  return Math.max(1, Math.round(height / 100));
}

export function motionGraphShape(p: MotionGraphParams): MotionGraphShape {
  return { smallWidth: Math.ceil(p.width / p.factor), smallHeight: Math.ceil(p.height / p.factor) };
}

function checkParams(p: MotionGraphParams): void {
  const ints = { width: p.width, height: p.height, factor: p.factor, blur: p.blur, dilate: p.dilate };
  for (const [k, v] of Object.entries(ints)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`motion graph: ${k} must be a positive integer, got ${v}`);
  }
  if (p.blur % 2 === 0) throw new RangeError(`motion graph: blur must be odd, got ${p.blur}`);
  if (p.downscale !== 'linear' && p.downscale !== 'area')
    throw new RangeError(`motion graph: downscale must be linear or area`);
  if (p.dilate % 2 === 0) throw new RangeError(`motion graph: dilate must be odd, got ${p.dilate}`);
}

/** A same-size pooling window (stride 1, symmetric padding). */
function samePool(op: 'AveragePool' | 'MaxPool', input: string, output: string, k: number): NodeSpec {
  const pad = (k - 1) / 2;
  const attributes: NodeSpec['attributes'] = {
    kernel_shape: attr.ints([k, k]),
    strides: attr.ints([1, 1]),
    pads: attr.ints([pad, pad, pad, pad]),
  };
  if (op === 'AveragePool') attributes.count_include_pad = attr.int(0);
  return { op, inputs: [input], outputs: [output], name: output, attributes };
}

export function motionGraphSpec(p: MotionGraphParams): ModelSpec {
  checkParams(p);
  const { smallWidth: w, smallHeight: h } = motionGraphShape(p);
  const initializers: TensorSpec[] = [];
  const nodes: NodeSpec[] = [
    { op: 'Cast', inputs: [MotionIO.y], outputs: ['y_f'], name: 'y_f', attributes: { to: attr.int(OnnxType.FLOAT) } },
  ];
  if (p.downscale === 'area') {
    nodes.push({
      op: 'AveragePool',
      inputs: ['y_f'],
      outputs: ['small_raw'],
      name: 'downscale',
      attributes: {
        kernel_shape: attr.ints([p.factor, p.factor]),
        strides: attr.ints([p.factor, p.factor]),
        ceil_mode: attr.int(1),
        count_include_pad: attr.int(0),
      },
    });
  } else {
    initializers.push({ name: 'small_size', type: OnnxType.INT64, dims: [4], values: [1, 1, h, w] });
    nodes.push({
      op: 'Resize',
      inputs: ['y_f', '', '', 'small_size'],
      outputs: ['small_raw'],
      name: 'downscale',
      attributes: { mode: attr.string('linear'), coordinate_transformation_mode: attr.string('half_pixel') },
    });
  }
  let small = 'small_raw';
  if (p.blur > 1) {
    nodes.push(samePool('AveragePool', small, 'small', p.blur));
    small = 'small';
  }
  nodes.push(
    { op: 'Sub', inputs: [small, MotionIO.bgIn], outputs: ['delta'], name: 'delta' },
    { op: 'Mul', inputs: ['delta', MotionIO.alpha], outputs: ['step'], name: 'step' },
    { op: 'Add', inputs: [MotionIO.bgIn, 'step'], outputs: [MotionIO.bgOut], name: MotionIO.bgOut },
    { op: 'Abs', inputs: ['delta'], outputs: ['diff'], name: 'diff' },
    { op: 'Greater', inputs: ['diff', MotionIO.threshold], outputs: ['over'], name: 'over' },
    { op: 'Cast', inputs: ['over'], outputs: ['over_f'], name: 'over_f', attributes: { to: attr.int(OnnxType.FLOAT) } },
    { op: 'Mul', inputs: ['over_f', MotionIO.roi], outputs: ['changed'], name: 'changed' },
    {
      op: 'ReduceSum',
      inputs: ['changed'],
      outputs: [MotionIO.changedCount],
      name: MotionIO.changedCount,
      attributes: { keepdims: attr.int(0) },
    },
  );
  let grown = 'changed';
  if (p.dilate > 1) {
    nodes.push(samePool('MaxPool', 'changed', 'dilated', p.dilate));
    grown = 'dilated';
  }
  nodes.push({
    op: 'Cast',
    inputs: [grown],
    outputs: [MotionIO.motion],
    name: MotionIO.motion,
    attributes: { to: attr.int(OnnxType.UINT8) },
  });

  return {
    graphName: 'vigil_motion',
    irVersion: 7,
    opset: MOTION_OPSET,
    producer: 'vigil-motion',
    producerVersion: String(MOTION_GRAPH_VERSION),
    doc: `Vigil motion v${MOTION_GRAPH_VERSION}: ${p.width}x${p.height} /${p.factor} blur ${p.blur} dilate ${p.dilate}`,
    nodes,
    initializers,
    inputs: [
      { name: MotionIO.y, type: OnnxType.UINT8, dims: [1, 1, p.height, p.width], doc: 'luma plane' },
      { name: MotionIO.bgIn, type: OnnxType.FLOAT, dims: [1, 1, h, w], doc: 'running background' },
      { name: MotionIO.roi, type: OnnxType.FLOAT, dims: [1, 1, h, w], doc: '1 = watched, 0 = masked' },
      { name: MotionIO.alpha, type: OnnxType.FLOAT, dims: [1], doc: 'background learning rate' },
      { name: MotionIO.threshold, type: OnnxType.FLOAT, dims: [1], doc: 'luma difference that counts as change' },
    ],
    outputs: [
      { name: MotionIO.motion, type: OnnxType.UINT8, dims: [1, 1, h, w], doc: 'dilated change mask (0/1)' },
      { name: MotionIO.bgOut, type: OnnxType.FLOAT, dims: [1, 1, h, w], doc: 'updated background' },
      { name: MotionIO.changedCount, type: OnnxType.FLOAT, dims: [], doc: 'changed watched pixels before dilation' },
    ],
  };
}

export function buildMotionModel(p: MotionGraphParams): Uint8Array {
  return encodeModel(motionGraphSpec(p));
}
