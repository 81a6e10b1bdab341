import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import type { Logger } from 'pino';
import { VigilError } from '../errors.js';
import { silentLogger } from '../../shared/log/index.js';
import type { Frame, PixelBox } from '../camera/frame.js';
import { DETECTOR_DEFAULTS } from './config.js';
import { decodeOutputs, detectFormat, type DecoderSpec, type OutputTensor } from './decode.js';
import { loadRgbImage } from './image.js';
import { COCO80, labelOf, parseNamesMetadata } from './labels.js';
import { unletterbox } from './letterbox.js';
import { nmsClasswise } from './nms.js';
import { readOnnxTopLevel } from './onnx-metadata.js';
import { preprocessRgb, preprocessYuv420, type RgbImage } from './preprocess.js';
import { planRegions, type RegionPlan } from './regions.js';
import {
  DEFAULT_NORMALIZATION,
  type Detection,
  type InputGeometry,
  type InputNormalization,
  type LetterboxTransform,
  type ModelType,
} from './types.js';

export interface DetectorOptions {
  modelPath: string;
  type?: ModelType | 'auto';
  /** onnxruntime intra-op threads (default `model.threads`'s, 1: the box runs several cameras, one run each). */
  threads?: number;
  scoreThreshold?: number;
  iouThreshold?: number;
  /** Overrides of the per-format input normalization. */
  normalization?: Partial<InputNormalization>;
  boxOrder?: 'yxyx' | 'xyxy';
  labels?: string[];
  logger?: Logger;
}

/** Time spent per stage of one detection call, in ms. */
export interface DetectTimings {
  preprocessMs: number;
  runMs: number;
  /** Output decoding, NMS and mapping back to source pixels. */
  postprocessMs: number;
  runs: number;
}

export interface FrameDetections {
  detections: Detection[];
  plan: RegionPlan;
  timings: DetectTimings;
}

/** What a camera pipeline needs of a detector: an ObjectDetector, or the daemon's DetectorSlot that can swap one. */
export interface FrameDetector {
  detectFrame(frame: Frame, motion?: readonly PixelBox[]): Promise<FrameDetections>;
}

/** Cumulative timings since the detector was created (warm-up excluded). */
export interface DetectorTotals extends DetectTimings {
  calls: number;
}

const now = (): number => performance.now();

/**
 * An ONNX object detector: one onnxruntime session on the CPU, one preallocated input tensor, and a decoder chosen
 * from the model's outputs. Not re-entrant: calls are serialised by the caller (one pipeline owns one detector).
 */
export class ObjectDetector implements FrameDetector {
  /** The file the model was read from, and the lowercase hex SHA-256 of the bytes loaded. */
  readonly modelPath: string;
  readonly sha256: string;
  readonly input: InputGeometry;
  readonly normalization: InputNormalization;
  readonly labels: readonly string[];
  readonly format: DecoderSpec;
  readonly inputName: string;
  readonly warmupMs: number;
  readonly totals: DetectorTotals = { preprocessMs: 0, runMs: 0, postprocessMs: 0, runs: 0, calls: 0 };
  private readonly tensorData: Float32Array;
  private readonly inputTensor: ort.Tensor;
  /** Output tensors allocated once (outputs of a fixed shape): a run writes into them instead of new buffers. */
  private readonly fetches: Record<string, ort.Tensor | null>;
  private readonly outputs = new Map<string, OutputTensor>();
  private readonly scoreThreshold: number;
  private readonly iouThreshold: number;
  /** Serialises calls: one input tensor, one session run at a time (cameras may share a detector). */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly session: ort.InferenceSession,
    init: {
      modelPath: string;
      sha256: string;
      input: InputGeometry;
      inputName: string;
      inputType: 'float32' | 'uint8';
      normalization: InputNormalization;
      labels: readonly string[];
      format: DecoderSpec;
      warmupMs: number;
      tensorData: Float32Array;
      scoreThreshold: number;
      iouThreshold: number;
      fetches: Record<string, ort.Tensor | null>;
    },
  ) {
    this.fetches = init.fetches;
    this.modelPath = init.modelPath;
    this.sha256 = init.sha256;
    this.input = init.input;
    this.inputName = init.inputName;
    this.normalization = init.normalization;
    this.labels = init.labels;
    this.format = init.format;
    this.warmupMs = init.warmupMs;
    this.tensorData = init.tensorData;
    this.scoreThreshold = init.scoreThreshold;
    this.iouThreshold = init.iouThreshold;
    const dims =
      init.input.layout === 'nchw'
        ? [1, 3, init.input.height, init.input.width]
        : [1, init.input.height, init.input.width, 3];
    this.inputTensor =
      init.inputType === 'float32'
        ? new ort.Tensor('float32', this.tensorData, dims)
        : new ort.Tensor('uint8', new Uint8Array(this.tensorData.length), dims);
  }

  /** Loads the model, reads its input and output layout, and runs it once (warm-up). */
  static async create(options: DetectorOptions): Promise<ObjectDetector> {
    const log = options.logger ?? silentLogger();
    let bytes: Buffer;
    try {
      bytes = await readFile(options.modelPath);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR')
        throw new VigilError('model_not_found', `model file ${options.modelPath} does not exist`, {
          details: { path: options.modelPath },
        });
      throw new VigilError('model_invalid', `cannot read model file ${options.modelPath}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    let meta: Record<string, string>;
    try {
      const top = readOnnxTopLevel(bytes);
      if (!top.hasGraph) throw new Error('no graph in the file');
      meta = top.metadata;
    } catch (err) {
      throw new VigilError(
        'model_invalid',
        `${options.modelPath} is not a valid ONNX model: ${(err as Error).message}`,
        { details: { path: options.modelPath } },
      );
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, sessionOptions(options.threads ?? DETECTOR_DEFAULTS.threads));
    } catch (err) {
      throw new VigilError(
        'model_invalid',
        `onnxruntime cannot load ${options.modelPath}: ${(err as Error).message.split('\n')[0]}`,
        { cause: err },
      );
    }
    try {
      const inputName = session.inputNames[0];
      const inMeta = session.inputMetadata[0];
      if (!inputName || !inMeta?.isTensor)
        throw new VigilError('model_format_unknown', `${options.modelPath}: the model has no tensor input`);
      const shape = inMeta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : -1));
      const input = inputGeometry(shape, options.modelPath);
      if (inMeta.type !== 'float32' && inMeta.type !== 'uint8')
        throw new VigilError(
          'model_format_unknown',
          `${options.modelPath}: input ${inputName} is ${inMeta.type}; float32 or uint8 expected`,
        );
      // Run once on a pad-filled input: warms up the session and gives the real output shapes.
      const tensorData = new Float32Array(3 * input.width * input.height);
      const dims = input.layout === 'nchw' ? [1, 3, input.height, input.width] : [1, input.height, input.width, 3];
      const warm =
        inMeta.type === 'float32'
          ? new ort.Tensor('float32', tensorData, dims)
          : new ort.Tensor('uint8', new Uint8Array(tensorData.length), dims);
      const t0 = now();
      const result = await session.run({ [inputName]: warm });
      const warmupMs = now() - t0;
      const outputs = session.outputNames.map((name) => ({
        name,
        dims: [...((result[name] as ort.Tensor | undefined)?.dims ?? [])],
      }));
      const metaLabels = meta.names !== undefined ? parseNamesMetadata(meta.names) : undefined;
      const labels = options.labels ?? metaLabels ?? COCO80;
      const format = detectFormat(outputs, input, {
        type: options.type ?? DETECTOR_DEFAULTS.type,
        ...(metaLabels ? { classCount: metaLabels.length } : {}),
        boxOrder: options.boxOrder ?? DETECTOR_DEFAULTS.boxOrder,
      });
      const normalization = { ...DEFAULT_NORMALIZATION[format.type], ...(options.normalization ?? {}) };
      const fetches = preallocatedOutputs(session, result);
      tensorData.fill(normalization.padValue * normalization.scale);
      log.info(
        {
          model: options.modelPath,
          input: { name: inputName, ...input },
          outputs,
          format: format.type,
          labels: labels.length,
          warmup_ms: Math.round(warmupMs * 10) / 10,
        },
        'detector ready',
      );
      return new ObjectDetector(session, {
        modelPath: options.modelPath,
        sha256: createHash('sha256').update(bytes).digest('hex'),
        input,
        inputName,
        inputType: inMeta.type,
        normalization,
        labels,
        format,
        warmupMs,
        tensorData,
        scoreThreshold: options.scoreThreshold ?? DETECTOR_DEFAULTS.scoreThreshold,
        iouThreshold: options.iouThreshold ?? DETECTOR_DEFAULTS.iouThreshold,
        fetches,
      });
    } catch (err) {
      await session.release().catch(() => undefined);
      throw err;
    }
  }

  /** Detects objects in an image file. Boxes in image pixels. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  async detectImageFile(
    path: string,
  ): Promise<{ detections: Detection[]; width: number; height: number; timings: DetectTimings }> {
    const image = await loadRgbImage(path);
    const { detections, timings } = await this.detectRgb(image);
    return { detections, width: image.width, height: image.height, timings };
  }

  detectRgb(image: RgbImage): Promise<{ detections: Detection[]; timings: DetectTimings }> {
    return this.serial(() => this.detectRgbNow(image));
  }

  private async detectRgbNow(image: RgbImage): Promise<{ detections: Detection[]; timings: DetectTimings }> {
    const t0 = now();
    const t = preprocessRgb(image, this.tensorData, this.input, this.normalization);
    const t1 = now();
    const timings: DetectTimings = { preprocessMs: t1 - t0, runMs: 0, postprocessMs: 0, runs: 0 };
    const detections = this.finish(await this.runOnce(t, timings), image.width, image.height, timings);
    this.count(timings);
    return { detections, timings };
  }

  /**
   * Detects objects in a frame. With `motion` boxes the regions are planned (see regions.ts) and only those are
   * examined; without, the whole frame is. Boxes in frame pixels.
   */
  detectFrame(frame: Frame, motion?: readonly PixelBox[]): Promise<FrameDetections> {
    return this.serial(() => this.detectFrameNow(frame, motion));
  }

  private async detectFrameNow(frame: Frame, motion?: readonly PixelBox[]): Promise<FrameDetections> {
    const plan: RegionPlan = motion
      ? planRegions(motion, frame.width, frame.height, { inputWidth: this.input.width, inputHeight: this.input.height })
      : { mode: 'frame', regions: [[0, 0, frame.width, frame.height]] };
    const timings: DetectTimings = { preprocessMs: 0, runMs: 0, postprocessMs: 0, runs: 0 };
    const all: Detection[] = [];
    for (const region of plan.regions) {
      const t0 = now();
      const t = preprocessYuv420(frame, this.tensorData, this.input, this.normalization, region);
      timings.preprocessMs += now() - t0;
      all.push(...(await this.runOnce(t, timings)));
    }
    // Overlapping regions can see one object twice: NMS across regions.
    const detections = this.finish(all, frame.width, frame.height, timings, plan.regions.length > 1);
    this.count(timings);
    return { detections, plan, timings };
  }

  private count(t: DetectTimings): void {
    this.totals.preprocessMs += t.preprocessMs;
    this.totals.runMs += t.runMs;
    this.totals.postprocessMs += t.postprocessMs;
    this.totals.runs += t.runs;
    this.totals.calls += 1;
  }

  /** Runs the session on the prepared tensor and decodes to source pixels (NMS per region). */
  private async runOnce(t: LetterboxTransform, timings: DetectTimings): Promise<Detection[]> {
    if (this.inputTensor.type === 'uint8') {
      const u8 = this.inputTensor.data as Uint8Array;
      for (let i = 0; i < u8.length; i++) u8[i] = this.tensorData[i] as number;
    }
    const t0 = now();
    const result = await this.session.run({ [this.inputName]: this.inputTensor }, this.fetches);
    const t1 = now();
    const outputs = this.outputs;
    for (const name of this.session.outputNames) {
      // A preallocated output holds the values (the result may wrap it in another Tensor object).
      const tensor = this.fetches[name] ?? (result[name] as ort.Tensor);
      const data =
        tensor.data instanceof Float32Array ? tensor.data : Float32Array.from(tensor.data as ArrayLike<number>);
      outputs.set(name, { name, dims: tensor.dims, data });
    }
    const candidates = nmsClasswise(
      decodeOutputs(this.format, outputs, this.input, this.scoreThreshold),
      this.iouThreshold,
    );
    const detections = candidates.map((c) => ({
      label: labelOf(this.labels, c.classId),
      classId: c.classId,
      score: c.score,
      box: unletterbox(c.box, t),
    }));
    timings.runMs += t1 - t0;
    timings.postprocessMs += now() - t1;
    timings.runs += 1;
    return detections;
  }

  /** Clips to the source, drops empty boxes, and (for several regions) suppresses duplicates. */
  private finish(
    dets: Detection[],
    width: number,
    height: number,
    timings: DetectTimings,
    crossNms = false,
  ): Detection[] {
    const t0 = now();
    let out = dets
      .map((d) => ({
        ...d,
        box: [
          clamp(d.box[0], width),
          clamp(d.box[1], height),
          clamp(d.box[2], width),
          clamp(d.box[3], height),
        ] as Detection['box'],
      }))
      .filter((d) => d.box[2] - d.box[0] >= 1 && d.box[3] - d.box[1] >= 1);
    if (crossNms) out = nmsClasswise(out, this.iouThreshold);
    timings.postprocessMs += now() - t0;
    return out;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}

/**
 * onnxruntime settings for a box. Measured on the daemon (notes in README "Benchmarks"): the CPU arena and the
 * memory pattern stay on (without the arena, glibc keeps the freed activations and the peak is higher and runs
 * slower); one sequential executor, no inter-op pool; `threads` intra-op threads.
 */
export function sessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: true,
    enableMemPattern: true,
  };
}

/** A float32 output whose declared shape is fixed gets one tensor for every run; others are left to onnxruntime. */
function preallocatedOutputs(
  session: ort.InferenceSession,
  warm: ort.InferenceSession.OnnxValueMapType,
): Record<string, ort.Tensor | null> {
  const out: Record<string, ort.Tensor | null> = {};
  session.outputNames.forEach((name, i) => {
    const meta = session.outputMetadata[i];
    const got = warm[name] as ort.Tensor | undefined;
    const fixed = meta?.isTensor && meta.shape.every((d) => typeof d === 'number' && d > 0);
    out[name] =
      fixed && got?.type === 'float32' ? new ort.Tensor('float32', new Float32Array(got.data.length), got.dims) : null;
  });
  return out;
}

function clamp(v: number, max: number): number {
  return Math.min(Math.max(v, 0), max);
}

function inputGeometry(shape: number[], path: string): InputGeometry {
  if (shape.length === 4 && shape[1] === 3 && (shape[2] ?? -1) > 0 && (shape[3] ?? -1) > 0)
    return { layout: 'nchw', height: shape[2] as number, width: shape[3] as number };
  if (shape.length === 4 && shape[3] === 3 && (shape[1] ?? -1) > 0 && (shape[2] ?? -1) > 0)
    return { layout: 'nhwc', height: shape[1] as number, width: shape[2] as number };
  throw new VigilError(
    'model_format_unknown',
    `${path}: input shape [${shape.join(', ')}] is not a fixed-size image ([1,3,H,W] or [1,H,W,3])`,
  );
}
