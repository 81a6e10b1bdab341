import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { VigilError } from '../errors.js';
import { componentLogger, silentLogger, type Logger } from '../../shared/log/index.js';
import { parseCameraConfig, type CameraConfig, type CameraConfigInput } from './config.js';
import { FfmpegLog, ffmpegExitError, redactUrl } from './ffmpeg-log.js';
import { resolveFfmpeg } from './ffmpeg-path.js';
import { FrameChunker } from './frame-chunker.js';
import { frameByteLength, type Frame } from './frame.js';
import { cameraInput, type CameraInput } from './input.js';

/**
 * One camera: an ffmpeg child process decoding the input to raw yuv420p frames at the detect size and rate,
 * read from its stdout in exactly frame-sized pieces, handed to one consumer that pulls them (`next()` or
 * `for await`).
 *
 * Two delivery modes:
 * - dropping (live cameras, and files/lavfi with `realtime: true`): ffmpeg is always read; when the consumer is
 *   busy at most `maxPending` frames wait and older ones are dropped (counted). A live scene is better seen
 *   late-but-current than complete-but-behind.
 * - lossless (files/lavfi with `realtime: false`, for analysis): when `maxPending` frames wait, the pipe is
 *   paused, so ffmpeg blocks and every frame is analysed.
 *
 * Live inputs that exit or stall (no frame for `stall_timeout_s` while the consumer waits) are restarted with
 * exponential backoff, forever; the last ffmpeg error stays visible in `stats()` and `camera_error` events. Files
 * end at end of file (state `ended`) and fail on errors (state `failed`, `next()` rejects).
 */
export type CameraState = 'starting' | 'streaming' | 'stalled' | 'backoff' | 'ended' | 'failed' | 'stopped';

export interface CameraStats {
  state: CameraState;
  /** Frames read from ffmpeg (all processes of this stream). */
  framesRead: number;
  /** Frames handed to the consumer. */
  framesDelivered: number;
  /** Frames dropped because the consumer was busy (dropping mode only). */
  framesDropped: number;
  /** Frames read per second over the last few seconds. */
  fps: number;
  /** Milliseconds since the last frame was read; undefined before the first. */
  lastFrameAgeMs: number | undefined;
  /** ffmpeg restarts (after an exit or a stall). */
  restarts: number;
  /** Stalls detected by the watchdog. */
  stalls: number;
  /** The last error: why ffmpeg last exited or stalled. */
  lastError: string | undefined;
  /** The last line ffmpeg wrote to stderr (passwords in URLs hidden). */
  lastStderrLine: string | undefined;
  pid: number | undefined;
}

export interface CameraStreamOptions {
  logger?: Logger;
  /** Frames kept for a busy consumer: dropping mode default 1, lossless mode default 2. */
  maxPending?: number;
}

export interface CameraRestartInfo {
  restarts: number;
  delayMs: number;
  reason: string;
}

interface CameraEvents {
  state: [state: CameraState, previous: CameraState];
  camera_error: [error: VigilError];
  stall: [info: { sinceMs: number }];
  restart: [info: CameraRestartInfo];
  drop: [dropped: number];
  end: [];
}

const FPS_WINDOW = 30;

export class CameraStream extends EventEmitter<CameraEvents> {
  readonly config: CameraConfig;
  readonly input: CameraInput;
  readonly width: number;
  readonly height: number;
  readonly frameSize: number;
  /** True when frames are dropped for a busy consumer; false when the pipe is paused instead. */
  readonly dropping: boolean;
  private readonly maxPending: number;
  private readonly log: Logger;
  private ffmpegPath: string | undefined;

  private child: ChildProcess | undefined;
  private ffLog = new FfmpegLog();
  private chunker: FrameChunker;
  private pending: Frame[] = [];
  private unstamped: Array<{ frame: Frame; index: number }> = [];
  private waiters: Array<{ resolve: (f: Frame | null) => void; reject: (e: unknown) => void }> = [];
  private paused = false;
  private _state: CameraState = 'stopped';
  private started = false;
  private stopping = false;
  private failure: VigilError | undefined;
  private startWallMs = 0;
  /** Output frame index of the current ffmpeg process (media time of files and lavfi). */
  private processFrames = 0;
  private processStartMs = 0;
  private lastProgressMs = 0;
  private lastFrameWallMs: number | undefined;
  private attempt = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private backoffTimer: NodeJS.Timeout | undefined;
  private killedForStall = false;
  private exited: Promise<void> = Promise.resolve();
  private readonly frameTimes: number[] = [];
  private _stats = { framesRead: 0, framesDelivered: 0, framesDropped: 0, restarts: 0, stalls: 0 };
  private lastError: string | undefined;

  constructor(config: CameraConfigInput | CameraConfig, options: CameraStreamOptions = {}) {
    super();
    this.config = parseCameraConfig(config, `camera ${(config as { name?: unknown }).name ?? '?'}`);
    const { detect } = this.config;
    this.width = detect.width;
    this.height = detect.height;
    this.frameSize = frameByteLength(this.width, this.height);
    this.input = cameraInput(this.config.input, {
      realtime: this.config.realtime,
      loop: this.config.loop,
      extra: this.config.ffmpeg.input_args,
    });
    this.dropping = this.input.live || this.config.realtime;
    this.maxPending = Math.max(1, options.maxPending ?? (this.dropping ? 1 : 2));
    this.log = componentLogger(options.logger ?? silentLogger(), 'camera', { camera: this.config.name });
    this.chunker = new FrameChunker(this.frameSize, (buf) => this.onFrameBytes(buf));
  }

  get name(): string {
    return this.config.name;
  }

  get state(): CameraState {
    return this._state;
  }

  /** The ffmpeg arguments (after the binary) for the current config. */
  ffmpegArgs(): string[] {
    const { detect, ffmpeg } = this.config;
    const filters: string[] = [];
    if (detect.fps > 0) filters.push(`fps=${detect.fps}`);
    filters.push(`scale=${this.width}:${this.height}:flags=bilinear`);
    return [
      '-hide_banner',
      '-nostdin',
      '-nostats',
      '-loglevel',
      'info',
      ...this.input.args,
      '-map',
      '0:v:0',
      '-an',
      '-sn',
      '-dn',
      '-vf',
      filters.join(','),
      ...ffmpeg.output_args,
      '-pix_fmt',
      'yuv420p',
      '-f',
      'rawvideo',
      'pipe:1',
    ];
  }

  /**
   * Starts ffmpeg. Throws at once when ffmpeg is missing or a file input does not exist; every later problem
   * shows in the state, the stats and `camera_error` events.
   */
  start(): this {
    if (this.started) return this;
    this.ffmpegPath = resolveFfmpeg(this.config.ffmpeg.path);
    if (this.input.kind === 'file' && !existsSync(this.input.target)) {
      throw new VigilError(
        'camera_input_not_found',
        `camera ${this.name}: input file ${this.input.target} does not exist`,
        {
          details: { camera: this.name, input: this.input.target },
        },
      );
    }
    this.started = true;
    this.startWallMs = Date.now();
    const checkEvery = Math.min(1000, Math.max(50, (this.config.stall_timeout_s * 1000) / 4));
    this.watchdog = setInterval(() => this.checkStall(), checkEvery);
    this.watchdog.unref();
    this.spawnFfmpeg();
    return this;
  }

  private setState(next: CameraState): void {
    const prev = this._state;
    if (prev === next) return;
    this._state = next;
    this.emit('state', next, prev);
  }

  private spawnFfmpeg(): void {
    const args = this.ffmpegArgs();
    this.ffLog = new FfmpegLog();
    this.chunker.reset();
    this.unstamped = [];
    this.processFrames = 0;
    this.processStartMs = Date.now();
    this.lastProgressMs = this.processStartMs;
    this.killedForStall = false;
    this.setState('starting');
    this.log.info(
      { ffmpeg: this.ffmpegPath, args: args.map(redactUrl), input_kind: this.input.kind },
      'starting ffmpeg',
    );
    const child = spawn(this.ffmpegPath!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let spawnError: Error | undefined;
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.onClose(child, { code, signal }, spawnError);
        resolve();
      });
    });
    child.once('error', (err) => {
      spawnError = err;
    });
    child.stdout!.on('data', (chunk: Buffer) => this.chunker.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => {
      for (const line of this.ffLog.push(chunk)) this.log.trace({ ffmpeg: line }, 'ffmpeg');
      this.flushUnstamped(false);
    });
    if (this.paused) child.stdout!.pause();
  }

  private onFrameBytes(data: Buffer): void {
    const now = Date.now();
    const index = this.processFrames++;
    this._stats.framesRead++;
    this.lastProgressMs = now;
    this.lastFrameWallMs = now;
    this.frameTimes.push(now);
    if (this.frameTimes.length > FPS_WINDOW) this.frameTimes.shift();
    if (this._state !== 'streaming') {
      this.setState('streaming');
      if (this.attempt > 0) this.log.info({ restarts: this._stats.restarts }, 'camera streaming again');
      else this.log.info('camera streaming');
    }
    this.attempt = 0;
    const frame: Frame = {
      camera: this.name,
      seq: -1,
      width: this.width,
      height: this.height,
      data,
      mediaMs: 0,
      wallMs: now,
    };
    const fps = this.outputFps();
    if (this.input.live) frame.mediaMs = now - this.startWallMs;
    else if (fps !== undefined) frame.mediaMs = (index * 1000) / fps;
    else {
      // fps 0 (native rate): the rate comes from ffmpeg's stream header on stderr, which may be read after the
      // first frame's bytes. Hold frames until it is known.
      this.unstamped.push({ frame, index });
      return;
    }
    this.deliver(frame);
  }

  /** Output frame rate of a file or lavfi input: configured, or ffmpeg's when `fps: 0`. */
  private outputFps(): number | undefined {
    return this.config.detect.fps > 0 ? this.config.detect.fps : this.ffLog.outputFps;
  }

  /** Stamps held frames once the rate is known (or, at exit, with the read time as a last resort). */
  private flushUnstamped(atExit: boolean): void {
    if (this.unstamped.length === 0) return;
    const fps = this.outputFps();
    if (fps === undefined && !atExit) return;
    const held = this.unstamped;
    this.unstamped = [];
    for (const { frame, index } of held) {
      frame.mediaMs = fps !== undefined ? (index * 1000) / fps : frame.wallMs - this.processStartMs;
      this.deliver(frame);
    }
  }

  private deliver(frame: Frame): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      frame.seq = this._stats.framesDelivered++;
      waiter.resolve(frame);
      return;
    }
    this.pending.push(frame);
    if (this.dropping) {
      while (this.pending.length > this.maxPending) {
        this.pending.shift();
        this._stats.framesDropped++;
        this.emit('drop', this._stats.framesDropped);
      }
    } else if (this.pending.length >= this.maxPending && !this.paused) {
      this.paused = true;
      this.child?.stdout?.pause();
    }
  }

  /** The next frame; null once the stream has ended or was stopped. Rejects when a file input failed. */
  next(): Promise<Frame | null> {
    const frame = this.pending.shift();
    if (frame) {
      frame.seq = this._stats.framesDelivered++;
      this.maybeResume();
      return Promise.resolve(frame);
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this._state === 'ended' || this._state === 'stopped') return Promise.resolve(null);
    this.maybeResume();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private maybeResume(): void {
    if (this.paused && this.pending.length < this.maxPending) {
      this.paused = false;
      // Time spent paused is the consumer's, not a stall.
      this.lastProgressMs = Date.now();
      this.child?.stdout?.resume();
    }
  }

  async *frames(): AsyncGenerator<Frame, void, undefined> {
    for (;;) {
      const f = await this.next();
      if (!f) return;
      yield f;
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<Frame, void, undefined> {
    return this.frames();
  }

  private checkStall(): void {
    if (!this.child || this.stopping) return;
    if (this._state !== 'starting' && this._state !== 'streaming') return;
    if (this.paused) return;
    const since = Date.now() - this.lastProgressMs;
    if (since < this.config.stall_timeout_s * 1000) return;
    this._stats.stalls++;
    const reason = this.ffLog.lastErrorLine;
    this.lastError = `no frame for ${(since / 1000).toFixed(1)} s${reason ? ` (ffmpeg: ${reason})` : ''}`;
    this.setState('stalled');
    this.log.warn(
      { since_ms: since, stalls: this._stats.stalls, last_stderr: this.ffLog.lastLine },
      'camera stalled: restarting ffmpeg',
    );
    this.emit('stall', { sinceMs: since });
    this.killedForStall = true;
    this.child.kill('SIGKILL');
  }

  private onClose(
    child: ChildProcess,
    exit: { code: number | null; signal: NodeJS.Signals | null },
    spawnError: Error | undefined,
  ): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.flushUnstamped(true);
    if (this.chunker.partialBytes > 0) {
      this.log.debug({ bytes: this.chunker.partialBytes }, 'ffmpeg ended inside a frame; partial frame discarded');
    }
    if (this.stopping) return;
    const stalled = this.killedForStall;
    const reason = spawnError ? `cannot run ${this.ffmpegPath}: ${spawnError.message}` : this.ffLog.reason();
    const clean = !stalled && !spawnError && exit.code === 0;
    if (!this.input.live) {
      if (clean) {
        this.log.info({ frames: this._stats.framesRead }, 'input ended');
        this.finish('ended');
        this.emit('end');
        return;
      }
      const err = stalled
        ? new VigilError('camera_stalled', `camera ${this.name}: ${this.lastError}`, { details: { camera: this.name } })
        : ffmpegExitError(this.name, this.input.kind, this.input.target, exit, reason);
      this.lastError = err.message;
      this.log.error({ err: err.toJSON(), stderr: this.ffLog.tail() }, 'camera failed');
      this.emit('camera_error', err);
      this.finish('failed', err);
      return;
    }
    // Live: every exit is temporary. Report it, wait, try again.
    if (!stalled) {
      const err = ffmpegExitError(this.name, this.input.kind, this.input.target, exit, reason ?? 'stream ended');
      this.lastError = err.message;
      this.log.warn({ err: err.toJSON(), exit_code: exit.code, signal: exit.signal }, 'ffmpeg exited');
      this.emit('camera_error', err);
    } else {
      this.emit(
        'camera_error',
        new VigilError('camera_stalled', `camera ${this.name}: ${this.lastError}`, { details: { camera: this.name } }),
      );
    }
    const { initial, max } = this.config.restart_backoff_s;
    const delayMs = Math.round(Math.min(max, initial * 2 ** this.attempt) * 1000);
    this.attempt++;
    this.setState('backoff');
    this.log.info({ delay_ms: delayMs, attempt: this.attempt }, 'restarting ffmpeg after backoff');
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      if (this.stopping) return;
      this._stats.restarts++;
      this.emit('restart', { restarts: this._stats.restarts, delayMs, reason: this.lastError ?? 'unknown' });
      this.spawnFfmpeg();
    }, delayMs);
  }

  private finish(state: 'ended' | 'failed' | 'stopped', error?: VigilError): void {
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.watchdog = undefined;
    this.backoffTimer = undefined;
    if (error) this.failure = error;
    this.setState(state);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      if (error && this.pending.length === 0) w.reject(error);
      else w.resolve(null);
    }
  }

  /** The error that ended a file input, if any. */
  get error(): VigilError | undefined {
    return this.failure;
  }

  stats(): CameraStats {
    const t = this.frameTimes;
    const span = t.length > 1 ? t[t.length - 1]! - t[0]! : 0;
    const now = Date.now();
    const recent = this.lastFrameWallMs !== undefined && now - this.lastFrameWallMs < 5000;
    return {
      state: this._state,
      ...this._stats,
      fps: recent && span > 0 ? ((t.length - 1) * 1000) / span : 0,
      lastFrameAgeMs: this.lastFrameWallMs === undefined ? undefined : now - this.lastFrameWallMs,
      lastError: this.lastError,
      lastStderrLine: this.ffLog.lastLine,
      pid: this.child?.pid,
    };
  }

  /** Stops ffmpeg and ends the stream: pending `next()` calls resolve to null. */
  async stop(): Promise<void> {
    if (this.stopping) return this.exited;
    this.stopping = true;
    const child = this.child;
    const ended = this._state === 'ended' || this._state === 'failed';
    if (!ended) this.finish('stopped');
    else this.finish(this._state as 'ended' | 'failed', this.failure);
    this.pending = [];
    if (child) {
      child.stdout?.destroy();
      child.kill('SIGKILL');
    }
    await this.exited;
    this.log.info(this._stats, 'camera stopped');
  }
}
