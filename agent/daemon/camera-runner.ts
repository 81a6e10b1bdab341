import type { Frame } from '../camera/frame.js';
import { abortableSleep } from '../../shared/clock/index.js';
import { CameraStream, type CameraStats } from '../camera/stream.js';
import { cameraStreamConfig, pipelineOptionsForCamera, type AgentCameraConfig } from '../config.js';
import type { FrameDetector } from '../detect/detector.js';
import { MotionDetector } from '../motion/index.js';
import { CameraPipeline } from '../pipeline/pipeline.js';
import type { PipelineStats } from '../pipeline/stats.js';
import type { ReviewMessage } from '../review/index.js';
import type { EventPictures } from '../thumbnail/index.js';
import type { EventMessage } from '../track/messages.js';
import { componentLogger, type Logger } from '../../shared/log/index.js';
import { describeError } from '../../shared/errors/index.js';
import type { CameraStatus } from '../uplink/heartbeat.js';

/**
 * One configured camera inside the daemon: its CameraStream, its motion stage and a CameraPipeline, run until
 * stopped. The runner never gives up and never throws: whatever goes wrong (missing file, ffmpeg dying, a bad
 * frame) shows in `status()` and is retried with backoff, so one camera never takes the others down.
 *
 * File and lavfi inputs end. `loop: true` replays them: each pass is a fresh stream and a fresh pipeline (media
 * clock from 0, open events ended at the end of the pass), rather than ffmpeg's -stream_loop, so events never
 * span the jump from the last frame back to the first. Without `loop` the runner stays `ended`.
 */
export type RunnerPhase =
  | 'starting'
  | 'running'
  | 'stalled'
  | 'reconnecting'
  | 'ended'
  | 'error'
  | 'disabled'
  | 'stopped';

export interface CameraRunnerStatus {
  name: string;
  /** Daemon view: see RunnerPhase. */
  phase: RunnerPhase;
  /** Protocol (heartbeat) state. */
  state: CameraStatus['state'];
  input_kind: string;
  live: boolean;
  fps: number;
  last_frame_age_s: number | null;
  /** ffmpeg restarts plus runner restarts (after a failed start or a failed file). */
  restarts: number;
  last_error: string | null;
  frames: number;
  frames_dropped: number;
  /** Frames the vision pipeline processed (not those read while detection was switched off). */
  frames_processed: number;
  events: number;
  messages: number;
  /** Completed passes over a file/lavfi input (loop). */
  passes: number;
}

export interface CameraRunnerOptions {
  config: AgentCameraConfig;
  /** The daemon's DetectorSlot (its model may be swapped between frames); undefined: motion events only. */
  detector: FrameDetector | undefined;
  /** Generated motion models are cached here. */
  modelCacheDir: string;
  /** Awaited for every message, with the event's pictures in memory: the outbox write applies backpressure. */
  onEvent: (msg: EventMessage, pictures: EventPictures) => Promise<void>;
  /** Awaited for every review message (after the event messages of its frame); without it review items are made
   * and counted but go nowhere. */
  onReview?: ((msg: ReviewMessage) => Promise<void>) | undefined;
  logger: Logger;
  /**
   * Is detection on (the local detect switch)? Checked at every frame; while off, frames are read and dropped, and
   * the open events were ended (`agent_stop`). Default: always on.
   */
  detecting?: () => boolean;
  /**
   * Delay before retrying a failed start / failed file (doubles up to max). Default: the camera's restart_backoff_s.
   */
  backoffMs?: { initial: number; max: number };
}

const PROTOCOL_STATE: Record<RunnerPhase, CameraStatus['state']> = {
  starting: 'starting',
  running: 'running',
  stalled: 'stalled',
  reconnecting: 'reconnecting',
  ended: 'stopped',
  error: 'error',
  disabled: 'stopped',
  stopped: 'stopped',
};

export class CameraRunner {
  readonly name: string;
  readonly config: AgentCameraConfig;
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private stream: CameraStream | undefined;
  private pipeline: CameraPipeline | undefined;
  private motion: MotionDetector | undefined;
  private loop: Promise<void> | undefined;
  private phase: RunnerPhase;
  private lastError: string | undefined;
  private runnerRestarts = 0;
  private previousStreams = { restarts: 0, frames: 0, dropped: 0 };
  private previousPipelines = { events: 0, messages: 0, frames: 0 };
  private passes = 0;
  /** The frame read last in the running pass (commands: snapshot, model warm-up); none between passes. */
  private lastFrame: Frame | undefined;
  private readonly live: boolean;
  private readonly kind: string;

  constructor(private readonly o: CameraRunnerOptions) {
    this.config = o.config;
    this.name = o.config.name;
    this.log = componentLogger(o.logger, 'daemon', { camera: this.name });
    this.phase = o.config.enabled ? 'starting' : 'disabled';
    // Only used for the input's kind; the real stream is made per pass.
    const probe = new CameraStream({ ...cameraStreamConfig(o.config), loop: false });
    this.live = probe.input.live;
    this.kind = probe.input.kind;
  }

  /** True for inputs that end (files, lavfi with a duration) and do not loop. */
  get finite(): boolean {
    return !this.live && !this.config.loop;
  }

  get ended(): boolean {
    return this.phase === 'ended';
  }

  start(): void {
    if (!this.config.enabled || this.loop) return;
    this.loop = this.run().catch((err) => {
      // run() catches everything itself; this is a last resort so a bug never becomes an unhandled rejection.
      this.phase = 'error';
      this.lastError = describeError(err);
      this.log.error({ err: describeError(err) }, 'camera runner stopped unexpectedly');
    });
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const backoff = this.o.backoffMs ?? {
      initial: this.config.restart_backoff_s.initial * 1000,
      max: this.config.restart_backoff_s.max * 1000,
    };
    let attempt = 0;
    while (!signal.aborted) {
      let failed = false;
      try {
        const ended = await this.pass(signal);
        if (ended && !this.config.loop) {
          this.phase = 'ended';
          this.log.info({ passes: this.passes }, 'camera input ended');
          return;
        }
        attempt = 0;
        if (ended) continue; // loop: next pass at once
      } catch (err) {
        failed = true;
        this.lastError = describeError(err);
        this.log.error({ err: this.lastError }, 'camera failed; retrying');
      }
      if (signal.aborted) break;
      if (failed) {
        const delay = Math.min(backoff.max, backoff.initial * 2 ** attempt);
        attempt++;
        this.phase = 'reconnecting';
        await abortableSleep(delay, signal);
        if (!signal.aborted) this.runnerRestarts++;
      }
    }
  }

  /**
   * One stream + pipeline from start to end. Returns true when the input ended normally, false when stopped;
   * throws when the camera failed (the caller backs off and retries). Open events are ended in every case.
   */
  private async pass(signal: AbortSignal): Promise<boolean> {
    const c = this.config;
    this.phase = 'starting';
    const stream = new CameraStream({ ...cameraStreamConfig(c), loop: false }, { logger: this.o.logger });
    this.motion ??= await MotionDetector.create({
      width: stream.width,
      height: stream.height,
      masks: c.masks,
      cacheDir: this.o.modelCacheDir,
      logger: this.o.logger,
    });
    const makePipeline = (): CameraPipeline =>
      new CameraPipeline({
        ...pipelineOptionsForCamera(c),
        width: stream.width,
        height: stream.height,
        motion: this.motion,
        detector: this.o.detector,
        // Thumbnails stay in memory (no folder: no files); snapshots are not sent anywhere: skip encoding them.
        thumbnails: { snapshotMaxSize: 0 },
        mediaTimes: !stream.input.live,
        onEvent: this.o.onEvent,
        onReview: this.o.onReview,
        logger: componentLogger(this.o.logger, 'pipeline', { camera: c.name }),
      });
    let pipeline = makePipeline();
    this.stream = stream;
    this.pipeline = pipeline;
    const onState = (): void => this.syncPhase();
    stream.on('state', onState);
    // camera_error is also reported through stats().lastError; a listener keeps EventEmitter from throwing.
    stream.on('camera_error', (e) => this.log.warn({ err: e.message }, 'camera error'));
    try {
      if (signal.aborted) return false;
      stream.start();
      let t0 = performance.now();
      let paused = false;
      for (;;) {
        const frame = await stream.next();
        if (!frame) break;
        this.lastFrame = frame;
        if (this.o.detecting && !this.o.detecting()) {
          // Detection switched off: open events end now; a fresh pipeline starts when it is switched on again.
          if (!paused) {
            paused = true;
            await pipeline.finish('agent_stop');
            this.addPipelineStats(pipeline);
            pipeline = makePipeline();
            this.pipeline = pipeline;
          }
          t0 = performance.now();
          continue;
        }
        paused = false;
        await pipeline.process(frame, performance.now() - t0);
        t0 = performance.now();
      }
      if (stream.error) throw stream.error;
      if (signal.aborted || stream.state === 'stopped') return false;
      this.passes++;
      return true;
    } finally {
      stream.off('state', onState);
      await stream.stop();
      // End every open event (stop, end of file, failure): the next pass or the next run starts fresh tracks.
      try {
        // Stopped by the agent (shutdown, reload): agent_stop. The input ended or failed: no reason is claimed.
        await pipeline.finish(signal.aborted ? 'agent_stop' : undefined);
      } catch (err) {
        this.log.error({ err: describeError(err) }, 'could not end open events');
      }
      const s = stream.stats();
      this.previousStreams.restarts += s.restarts;
      this.previousStreams.frames += s.framesRead;
      this.previousStreams.dropped += s.framesDropped;
      this.addPipelineStats(pipeline);
      if (s.lastError) this.lastError = s.lastError;
      this.stream = undefined;
      this.pipeline = undefined;
      this.lastFrame = undefined;
    }
  }

  private addPipelineStats(pipeline: CameraPipeline): void {
    const p = pipeline.stats();
    this.previousPipelines.events += p.events;
    this.previousPipelines.messages += p.messages;
    this.previousPipelines.frames += p.frames;
  }

  private syncPhase(): void {
    const s = this.stream?.state;
    if (s === 'starting') this.phase = 'starting';
    else if (s === 'streaming') this.phase = 'running';
    else if (s === 'stalled') this.phase = 'stalled';
    else if (s === 'backoff') this.phase = 'reconnecting';
    else if (s === 'failed') this.phase = 'error';
  }

  /** Stops the camera, ends its open events (they reach `onEvent`) and waits for the pipeline to finish. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.stream?.stop();
    await this.loop;
    if (this.phase !== 'ended' && this.phase !== 'disabled') this.phase = 'stopped';
    await this.motion?.close();
    this.motion = undefined;
  }

  status(): CameraRunnerStatus {
    const s: CameraStats | undefined = this.stream?.stats();
    const p: PipelineStats | undefined = this.pipeline?.stats();
    const lastError = s?.lastError ?? this.lastError;
    return {
      name: this.name,
      phase: this.phase,
      state: PROTOCOL_STATE[this.phase],
      input_kind: this.kind,
      live: this.live,
      fps: s ? Math.round(s.fps * 100) / 100 : 0,
      last_frame_age_s: s?.lastFrameAgeMs === undefined ? null : s.lastFrameAgeMs / 1000,
      restarts: this.runnerRestarts + this.previousStreams.restarts + (s?.restarts ?? 0),
      last_error: lastError ?? null,
      frames: this.previousStreams.frames + (s?.framesRead ?? 0),
      frames_dropped: this.previousStreams.dropped + (s?.framesDropped ?? 0),
      frames_processed: this.previousPipelines.frames + (p?.frames ?? 0),
      events: this.previousPipelines.events + (p?.events ?? 0),
      messages: this.previousPipelines.messages + (p?.messages ?? 0),
      passes: this.passes,
    };
  }

  /**
   * The camera's current frame: the one read last while its stream runs (also while detection is switched off),
   * undefined when it has none (starting, between passes, reconnecting, ended, stopped). The frame's buffer is its
   * own (the chunker gives each frame a new one) and no stage writes into it, so it may be read at any time.
   */
  latestFrame(): Frame | undefined {
    return this.lastFrame;
  }

  /** The heartbeat entry (firmware-protocol CameraStatus). */
  heartbeat(): CameraStatus {
    const st = this.status();
    return {
      name: st.name,
      state: st.state,
      fps: st.fps,
      last_frame_age_s: st.last_frame_age_s,
      restarts: st.restarts,
    };
  }
}
