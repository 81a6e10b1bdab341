import type { Logger } from 'pino';
import { silentLogger } from '../../shared/log/index.js';
import type { Frame, PixelBox } from '../camera/frame.js';
import type { FrameDetector } from '../detect/detector.js';
import type { Detection } from '../detect/types.js';
import { ObjectFilter, isEmptyFilter, type ObjectFilterConfig } from '../filter/object-filter.js';
import { ReviewTracker, type ReviewGrouping, type ReviewMessage, type ReviewRules } from '../review/index.js';
import { ThumbnailStore, type EventPictures, type ThumbnailStoreOptions } from '../thumbnail/store.js';
import type { EventMessage, PipelineEndReason, TrackerOutput } from '../track/messages.js';
import { MotionEventTracker } from '../track/motion-events.js';
import type { TrackerConfig } from '../track/options.js';
import { ObjectTracker } from '../track/tracker.js';
import type { ZoneDefinition } from '../zones/zones.js';
import { emptyTotals, perFrame, type PipelineStats, type StageTotals } from './stats.js';

/**
 * One camera's vision pipeline: frame → motion → detect (only where and when there is motion, plus a periodic
 * whole-frame refresh while objects are tracked) → label set and object filter (masks, size, shape) → track (and
 * zones) → thumbnails → event messages → review items (when `review` is given). A configured camera's options come
 * from `pipelineOptionsForCamera` (agent/config/cameras.ts), the one place the daemon and `analyze --config` turn a
 * camera's config into them.
 *
 * Frames go in through `process()` one at a time (awaited); messages come out through `onEvent` (awaited, so a
 * slow consumer such as the outbox applies backpressure) and are also returned. Review messages follow each frame's
 * event messages through `onReview` (so a review never names an event the consumer has not seen yet). A daemon runs
 * one pipeline per camera; cameras may share one detector (it serialises its runs).
 */

/** What the pipeline needs from the motion stage (agent/motion's MotionDetector fits). */
export interface MotionStage {
  detect(frame: Frame): Promise<{ boxes: PixelBox[]; calibrating: boolean; changedFraction: number; ms: number }>;
}

export interface PipelineOptions {
  camera: string;
  width: number;
  height: number;
  /** Without a motion stage the detector runs on every frame. */
  motion?: MotionStage | undefined;
  /** Without a detector the pipeline reports motion events (`label: 'motion'`). An ObjectDetector, or the daemon's
   * DetectorSlot (agent/detect/detector-slot.ts), whose model can change between two frames. */
  detector?: FrameDetector | undefined;
  tracker?: Partial<TrackerConfig> | undefined;
  motionEvents?: { startFrames?: number; endAfterMs?: number; updatePeriodMs?: number } | undefined;
  /** Only these labels are tracked (default: all the model knows). */
  labels?: readonly string[] | undefined;
  /** Object masks and per-label size/shape limits applied to detections before tracking (default: none). */
  objectFilter?: ObjectFilterConfig | undefined;
  /** The camera's zones; event messages say which ones their object entered (default: none). */
  zones?: readonly ZoneDefinition[] | undefined;
  /** Whole-frame detection at least this often while objects are tracked, even without motion (default 5000 ms). */
  refreshMs?: number | undefined;
  /**
   * Where thumbnail and snapshot files are written (`analyze --out`), named in the messages. Without it the
   * pictures stay in memory and reach `onEvent` only.
   */
  thumbnailDir?: string | undefined;
  thumbnails?: ThumbnailStoreOptions | undefined;
  /** File inputs: messages carry media_start/media_end. */
  mediaTimes?: boolean | undefined;
  /** Each event message with the event's pictures as encoded JPEGs (`{jpeg, width, height}`), awaited. */
  onEvent?: ((msg: EventMessage, pictures: EventPictures) => void | Promise<void>) | undefined;
  /** Group the event messages into review items by these rules (agent/review); without it, no review items. */
  review?: { rules: ReviewRules; grouping?: Partial<ReviewGrouping> | undefined } | undefined;
  /** Review messages, after the event messages of the same frame (awaited). */
  onReview?: ((msg: ReviewMessage) => void | Promise<void>) | undefined;
  logger?: Logger | undefined;
}

const now = (): number => performance.now();
/** One turn of the event loop: the I/O callbacks that are due run now (see `process`). */
const ioTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class CameraPipeline {
  private readonly tracker: ObjectTracker | undefined;
  private readonly motionEvents: MotionEventTracker | undefined;
  private readonly store: ThumbnailStore;
  private readonly totals: StageTotals = emptyTotals();
  private readonly log: Logger;
  private readonly labels: Set<string> | undefined;
  private readonly filter: ObjectFilter | undefined;
  private readonly review: ReviewTracker | undefined;
  private filtered = 0;
  private readonly refreshMs: number;
  private readonly announced = new Set<string>();
  private frames = 0;
  private motionFrames = 0;
  private detectFrames = 0;
  private detectorRuns = 0;
  private messages = 0;
  private detMs = { preprocess: 0, run: 0, postprocess: 0 };
  private lastDetectMs = Number.NEGATIVE_INFINITY;
  private finished = false;
  private pictureBytesPeak = 0;
  private liveTracksPeak = 0;

  constructor(private readonly opts: PipelineOptions) {
    this.log = opts.logger ?? silentLogger();
    this.labels = opts.labels ? new Set(opts.labels) : undefined;
    this.refreshMs = opts.refreshMs ?? 5000;
    const common = {
      camera: opts.camera,
      width: opts.width,
      height: opts.height,
      mediaTimes: opts.mediaTimes ?? false,
    };
    if (opts.objectFilter && !isEmptyFilter(opts.objectFilter))
      this.filter = new ObjectFilter(opts.objectFilter, opts.width, opts.height);
    if (opts.detector) this.tracker = new ObjectTracker({ ...common, ...(opts.tracker ?? {}), zones: opts.zones });
    else this.motionEvents = new MotionEventTracker({ ...common, ...(opts.motionEvents ?? {}) });
    this.store = new ThumbnailStore(opts.thumbnailDir, opts.thumbnails ?? {});
    if (opts.review)
      this.review = new ReviewTracker({
        camera: opts.camera,
        rules: opts.review.rules,
        ...(opts.review.grouping ?? {}),
      });
  }

  /** Runs one frame through every stage. `decodeMs`: time the caller spent getting the frame. */
  async process(frame: Frame, decodeMs = 0): Promise<EventMessage[]> {
    this.frames += 1;
    // The camera's bytes that arrived meanwhile (ffmpeg's pipe chunks, copied into the next frame, and the garbage
    // collection they set off) are handled at the first await of a frame: give them that turn here, counted as
    // decode, rather than inside the motion stage's run, which then measures the motion model alone.
    const ty = now();
    await ioTurn();
    this.totals.decode += decodeMs + now() - ty;

    let motionBoxes: PixelBox[] | undefined;
    if (this.opts.motion) {
      const t0 = now();
      const m = await this.opts.motion.detect(frame);
      this.totals.motion += now() - t0;
      motionBoxes = m.calibrating ? [] : m.boxes;
      if (motionBoxes.length > 0) this.motionFrames += 1;
    }

    let out: TrackerOutput;
    if (this.opts.detector && this.tracker) {
      const detector = this.opts.detector;
      const refreshDue = this.tracker.activeCount > 0 && frame.mediaMs - this.lastDetectMs >= this.refreshMs;
      let detections: Detection[] = [];
      let observed: readonly PixelBox[] | undefined = [];
      if (motionBoxes === undefined || motionBoxes.length > 0 || refreshDue) {
        const t0 = now();
        const r = await detector.detectFrame(frame, refreshDue ? undefined : motionBoxes);
        this.totals.detect += now() - t0;
        this.detectFrames += 1;
        this.detectorRuns += r.timings.runs;
        this.detMs.preprocess += r.timings.preprocessMs;
        this.detMs.run += r.timings.runMs;
        this.detMs.postprocess += r.timings.postprocessMs;
        this.lastDetectMs = frame.mediaMs;
        detections = this.labels ? r.detections.filter((d) => this.labels?.has(d.label)) : r.detections;
        if (this.filter && detections.length > 0) {
          const f = this.filter.apply(detections);
          this.filtered += f.dropped.length;
          detections = f.kept;
        }
        observed = r.plan.mode === 'frame' ? undefined : r.plan.regions;
      }
      const t1 = now();
      out = this.tracker.update(detections, frame.mediaMs, {
        wallMs: frame.wallMs,
        ...(observed === undefined ? {} : { observed }),
      });
      this.totals.track += now() - t1;
    } else {
      const t1 = now();
      out = (this.motionEvents as MotionEventTracker).update(motionBoxes ?? [], frame.mediaMs, frame.wallMs);
      this.totals.track += now() - t1;
    }

    const t2 = now();
    if (out.thumbnails.length > 0) await this.store.keep(frame, out.thumbnails);
    if (this.tracker && this.store.size > this.tracker.activeCount) this.store.retain(this.tracker.liveIds());
    if (out.thumbnails.length > 0) this.pictureBytesPeak = Math.max(this.pictureBytesPeak, this.store.bytes);
    if (this.tracker) this.liveTracksPeak = Math.max(this.liveTracksPeak, this.tracker.activeCount);
    this.totals.thumbnail += now() - t2;
    const done = await this.emit(out.messages);
    // Every frame, with or without messages: an item's merge gap runs on frame time.
    if (this.review) await this.emitReviews(this.review.update(done, { mediaMs: frame.mediaMs, wallMs: frame.wallMs }));
    return done;
  }

  /** End of input: ends every open event (`reason`: the agent stopped the camera; absent: the input ended). */
  async finish(reason?: PipelineEndReason): Promise<EventMessage[]> {
    if (this.finished) return [];
    this.finished = true;
    const done = await this.emit(this.tracker ? this.tracker.flush(reason) : (this.motionEvents?.flush(reason) ?? []));
    if (this.review) await this.emitReviews(this.review.flush(done));
    return done;
  }

  private async emitReviews(msgs: ReviewMessage[]): Promise<void> {
    for (const m of msgs) {
      this.log.info({ review: m.id, type: m.type, severity: m.severity }, 'review');
      if (this.opts.onReview) await this.opts.onReview(m);
    }
  }

  private async emit(msgs: EventMessage[]): Promise<EventMessage[]> {
    const done: EventMessage[] = [];
    for (const m of msgs) {
      const t0 = now();
      const { message: full, pictures } = await this.store.attach(m);
      this.totals.thumbnail += now() - t0;
      if (m.type === 'new') this.announced.add(m.id);
      this.messages += 1;
      this.log.info({ event: full.id, type: full.type, label: full.label, score: full.score }, 'event');
      done.push(full);
      if (this.opts.onEvent) await this.opts.onEvent(full, pictures);
    }
    return done;
  }

  stats(): PipelineStats {
    const { preprocess, run, postprocess } = this.detMs;
    const r = (v: number) => Math.round(v * 10) / 10;
    return {
      camera: this.opts.camera,
      frames: this.frames,
      motion_frames: this.motionFrames,
      detect_frames: this.detectFrames,
      detector_runs: this.detectorRuns,
      events: this.announced.size,
      messages: this.messages,
      total_ms: {
        decode: r(this.totals.decode),
        motion: r(this.totals.motion),
        detect: r(this.totals.detect),
        track: r(this.totals.track),
        thumbnail: r(this.totals.thumbnail),
      },
      ms_per_frame: perFrame(this.totals, this.frames),
      detector_ms: { preprocess: r(preprocess), run: r(run), postprocess: r(postprocess) },
      detector_overhead_pct: run > 0 ? Math.round(((preprocess + postprocess) / run) * 1000) / 10 : 0,
      picture_bytes_peak: this.pictureBytesPeak,
      live_tracks_peak: this.liveTracksPeak,
      detections_filtered: this.filtered,
      review_items: { ...(this.review?.ended ?? { alert: 0, detection: 0 }) },
    };
  }
}

/** Feeds every frame of `frames` through the pipeline, then finishes it. Returns the final stats. */
export async function runPipeline(frames: AsyncIterable<Frame>, pipeline: CameraPipeline): Promise<PipelineStats> {
  const it = frames[Symbol.asyncIterator]();
  for (;;) {
    const t0 = now();
    const next = await it.next();
    const decodeMs = now() - t0;
    if (next.done) break;
    await pipeline.process(next.value, decodeMs);
  }
  await pipeline.finish();
  return pipeline.stats();
}
