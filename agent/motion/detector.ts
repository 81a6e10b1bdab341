import * as ort from 'onnxruntime-node';
import { isVigilError, VigilError } from '../errors.js';
import { componentLogger, silentLogger, type Logger } from '../../shared/log/index.js';
import { lumaPlane, type Frame, type PixelBox } from '../camera/frame.js';
import { defaultFactor, motionGraphShape, MotionIO, type MotionGraphParams } from './graph.js';
import { rasterizeRoi, type Polygon } from './mask.js';
import { type EnsuredModel, ensureMotionModel } from './model-cache.js';
import { MotionRegions } from './regions.js';
import { type MotionSession, openMotionSession } from './session.js';

export interface MotionResult {
  /** Moving regions in frame pixels. Empty while calibrating. */
  boxes: PixelBox[];
  /** Fraction of watched (unmasked) mask pixels that changed, before dilation: 0..1. */
  changedFraction: number;
  /** True when the background was (re)initialised on this frame: first frame, or a lighting jump. */
  calibrating: boolean;
  /** Time spent in detect() for this frame (model + post-processing), ms. */
  ms: number;
}

export interface MotionOptions {
  /** Frame size; frames of another size are rejected. */
  width: number;
  height: number;
  /** Where the generated model is cached (default: $VIGIL_DATA_DIR/models or the OS temp folder). */
  cacheDir?: string;
  /** Luma difference (0..255) between frame and background that counts as change. Default 25. */
  threshold?: number;
  /** Background learning rate per frame (0..1]. Default 0.02 (about 5 s to absorb a parked car at 10 fps). */
  alpha?: number;
  /** Smallest motion region reported, in frame pixels. Default 200. */
  minArea?: number;
  /** Polygons (normalized 0..1 coordinates) where motion is ignored. */
  masks?: Polygon[];
  /** onnxruntime intra-op threads. Default 1: the graph is tiny and cameras run in parallel. */
  threads?: number;
  logger?: Logger;
  /** Downscale factor; default gives a mask about 100 px high. */
  factor?: number;
  /** Downscale method; default `linear` (see graph.ts). */
  downscale?: MotionGraphParams['downscale'];
  /** Blur kernel on the small image (odd, 1 = none). Default 3. */
  blur?: number;
  /** Dilation kernel on the change mask (odd, 1 = none). Default 3. */
  dilate?: number;
  /** Changed fraction above which the frame is taken as a lighting jump and the background reset. Default 0.8. */
  recalibrateFraction?: number;
  /** Frames after a reset that also reset the background and report no motion (exposure settling). Default 2. */
  settleFrames?: number;
  /** `public`: onnxruntime-node's asynchronous session instead of the synchronous native call (tests). */
  session?: 'synchronous' | 'public';
}

function checkRange(name: string, v: number, min: number, max: number): void {
  if (!Number.isFinite(v) || v < min || v > max) {
    throw new VigilError('invalid_motion_options', `motion: ${name} must be within ${min}..${max}, got ${v}`);
  }
}

/**
 * Motion detection for one camera: the generated ONNX motion model (downscale, blur, running background,
 * difference, threshold, dilation) plus small-size post-processing in JS (connected components, lighting-jump
 * recalibration). Calls are serialized: the background is state carried from frame to frame.
 */
export class MotionDetector {
  private readonly yDims: readonly number[];
  private readonly smallDims: readonly number[];
  /** The running background: two tensors used in turn (one is read as bg_in while the run writes the other). */
  private bg: ort.Tensor;
  private bgNext: ort.Tensor;
  /** Output tensors allocated once: a run writes into them (no arena allocation, no copy into a new buffer). */
  private readonly motionOut: ort.Tensor;
  private readonly changedOut: ort.Tensor;
  private readonly fetches: Record<string, ort.Tensor>;
  private readonly roi: ort.Tensor;
  private readonly roiPixels: number;
  private readonly alphaFeed: ort.Tensor;
  private readonly alphaReset: ort.Tensor;
  private readonly thresholdFeed: ort.Tensor;
  private readonly regions: MotionRegions;
  private readonly feeds: Record<string, ort.Tensor>;
  private readonly minArea: number;
  private readonly recalibrateFraction: number;
  private readonly settleFrames: number;
  /** Frames left that reset the background instead of detecting (first frame counts). */
  private resetLeft = 1;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly session: MotionSession,
    private readonly opts: Required<Pick<MotionOptions, 'width' | 'height'>>,
    small: { smallWidth: number; smallHeight: number },
    roi: Float32Array,
    settings: { alpha: number; threshold: number; minArea: number; recalibrateFraction: number; settleFrames: number },
    private readonly log: Logger,
  ) {
    const { smallWidth: w, smallHeight: h } = small;
    this.yDims = [1, 1, opts.height, opts.width];
    this.smallDims = [1, 1, h, w];
    this.bg = new ort.Tensor('float32', new Float32Array(w * h), this.smallDims);
    this.bgNext = new ort.Tensor('float32', new Float32Array(w * h), this.smallDims);
    this.motionOut = new ort.Tensor('uint8', new Uint8Array(w * h), this.smallDims);
    this.changedOut = new ort.Tensor('float32', new Float32Array(1), []);
    this.fetches = {
      [MotionIO.motion]: this.motionOut,
      [MotionIO.bgOut]: this.bgNext,
      [MotionIO.changedCount]: this.changedOut,
    };
    this.roi = new ort.Tensor('float32', roi, this.smallDims);
    this.roiPixels = roi.reduce((n, v) => n + v, 0);
    this.alphaFeed = new ort.Tensor('float32', Float32Array.of(settings.alpha), [1]);
    this.alphaReset = new ort.Tensor('float32', Float32Array.of(1), [1]);
    this.thresholdFeed = new ort.Tensor('float32', Float32Array.of(settings.threshold), [1]);
    this.regions = new MotionRegions(w, h, opts.width, opts.height);
    this.feeds = {
      [MotionIO.y]: this.bg,
      [MotionIO.bgIn]: this.bg,
      [MotionIO.roi]: this.roi,
      [MotionIO.alpha]: this.alphaFeed,
      [MotionIO.threshold]: this.thresholdFeed,
    };
    this.minArea = settings.minArea;
    this.recalibrateFraction = settings.recalibrateFraction;
    this.settleFrames = settings.settleFrames;
  }

  static async create(options: MotionOptions): Promise<MotionDetector> {
    const { width, height } = options;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 2 || height < 2) {
      throw new VigilError(
        'invalid_motion_options',
        `motion: width and height must be integers >= 2, got ${width}x${height}`,
      );
    }
    const threshold = options.threshold ?? 25;
    const alpha = options.alpha ?? 0.02;
    const minArea = options.minArea ?? 200;
    const recalibrateFraction = options.recalibrateFraction ?? 0.8;
    const settleFrames = options.settleFrames ?? 2;
    checkRange('threshold', threshold, 0, 255);
    checkRange('alpha', alpha, 1e-6, 1);
    checkRange('minArea', minArea, 0, width * height);
    checkRange('recalibrateFraction', recalibrateFraction, 0.01, 1);
    checkRange('settleFrames', settleFrames, 0, 1000);
    const params: MotionGraphParams = {
      width,
      height,
      factor: options.factor ?? defaultFactor(height),
      downscale: options.downscale ?? 'linear',
      blur: options.blur ?? 3,
      dilate: options.dilate ?? 3,
    };
    const small = motionGraphShape(params);
    let roi: Float32Array;
    try {
      roi = rasterizeRoi(options.masks ?? [], small.smallWidth, small.smallHeight);
    } catch (err) {
      throw new VigilError('invalid_motion_options', (err as Error).message, { cause: err });
    }
    let model: EnsuredModel;
    try {
      model = ensureMotionModel(params, options.cacheDir);
    } catch (err) {
      if (isVigilError(err)) throw err;
      throw new VigilError('invalid_motion_options', `motion: ${(err as Error).message}`, { cause: err });
    }
    const log = componentLogger(options.logger ?? silentLogger(), 'motion');
    const threads = options.threads ?? 1;
    let session: MotionSession;
    try {
      const sessionOptions: ort.InferenceSession.SessionOptions = {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      };
      if (model.bytes)
        log.warn(
          { model: model.path, err: model.cacheError },
          'motion model not cached (disk full): loaded from memory',
        );
      session = await openMotionSession(model.bytes ?? model.path, sessionOptions, options.session);
    } catch (err) {
      throw new VigilError(
        'motion_model_load_failed',
        `cannot load the motion model ${model.path}: ${(err as Error).message}`,
        {
          cause: err,
          details: { path: model.path },
        },
      );
    }
    log.info(
      { model: model.path, generated: model.created, ...params, mask: `${small.smallWidth}x${small.smallHeight}` },
      'motion model ready',
    );
    return new MotionDetector(
      session,
      { width, height },
      small,
      roi,
      { alpha, threshold, minArea, recalibrateFraction, settleFrames },
      log,
    );
  }

  /** Size of the motion mask (mask pixel → frame pixel scale is width/smallWidth). */
  get maskSize(): { width: number; height: number } {
    return { width: this.smallDims[3]!, height: this.smallDims[2]! };
  }

  /** Forget the background: the next frame re-initialises it. */
  reset(): void {
    this.resetLeft = Math.max(this.resetLeft, 1);
  }

  detect(frame: Frame): Promise<MotionResult> {
    const run = this.queue.then(() => this.detectNow(frame));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async detectNow(frame: Frame): Promise<MotionResult> {
    const t0 = performance.now();
    if (this.closed) throw new VigilError('motion_closed', 'motion detector is closed');
    if (frame.width !== this.opts.width || frame.height !== this.opts.height) {
      throw new VigilError(
        'motion_frame_size_mismatch',
        `motion: frame from ${frame.camera} is ${frame.width}x${frame.height}, the detector was built ` +
          `for ${this.opts.width}x${this.opts.height}`,
      );
    }
    const resetting = this.resetLeft > 0;
    const out = await this.run(frame, resetting);
    if (resetting) {
      this.resetLeft--;
      return { boxes: [], changedFraction: 0, calibrating: true, ms: performance.now() - t0 };
    }
    const changedFraction = this.roiPixels > 0 ? out.changed / this.roiPixels : 0;
    if (changedFraction > this.recalibrateFraction) {
      // A lighting jump (lights on, auto-exposure, IR switch) changes nearly every pixel at once: learn the new
      // scene from this frame and report no motion rather than one frame-sized box.
      await this.run(frame, true);
      this.resetLeft = this.settleFrames;
      this.log.debug(
        { camera: frame.camera, seq: frame.seq, changedFraction },
        'lighting jump: motion background reset',
      );
      return { boxes: [], changedFraction, calibrating: true, ms: performance.now() - t0 };
    }
    const boxes = out.changed > 0 ? this.regions.boxes(out.mask, this.minArea) : [];
    return { boxes, changedFraction, calibrating: false, ms: performance.now() - t0 };
  }

  private async run(frame: Frame, resetBackground: boolean): Promise<{ mask: Uint8Array; changed: number }> {
    // One feeds object and one fetches object, updated in place: only the frame and the background change between
    // runs. The outputs are written into tensors allocated once (the binding takes them as the run's outputs), so a
    // frame allocates nothing but the small Tensor object around its luma plane (the plane itself is not copied).
    const feeds = this.feeds;
    feeds[MotionIO.y] = new ort.Tensor('uint8', lumaPlane(frame), this.yDims);
    feeds[MotionIO.bgIn] = this.bg;
    feeds[MotionIO.alpha] = resetBackground ? this.alphaReset : this.alphaFeed;
    this.fetches[MotionIO.bgOut] = this.bgNext;
    // Synchronous (./session.ts): no event-loop turn in the middle of the stage.
    const pending = this.session.run(feeds, this.fetches);
    if (pending) await pending;
    // The new background becomes the next frame's input; the old one is written by the next run.
    [this.bg, this.bgNext] = [this.bgNext, this.bg];
    return { mask: this.motionOut.data as Uint8Array, changed: (this.changedOut.data as Float32Array)[0] ?? 0 };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await this.session.release();
  }
}
