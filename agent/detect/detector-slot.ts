import { silentLogger, type Logger } from '../../shared/log/index.js';
import type { Frame, PixelBox } from '../camera/frame.js';
import { describeError } from '../errors.js';
import type { FrameDetections, FrameDetector, ObjectDetector } from './detector.js';
import type { ModelType } from './types.js';

/** Where the running model came from: a registry id (model_update) or the config's `model.path` (id null). */
export interface ModelOrigin {
  /** Registry id (`mdl_…`) of a model installed by a model_update command; null for the config's model file. */
  id: string | null;
  /** Human name from the registry; null for the config's model file. */
  name: string | null;
}

/** The model a slot runs now, as heartbeats and the status document report it. */
export interface RunningModel extends ModelOrigin {
  sha256: string;
  path: string;
  format: ModelType;
  /** When this model was swapped in (or loaded at start), ISO date-time. */
  loaded_at: string;
}

interface Entry {
  detector: ObjectDetector;
  model: RunningModel;
  /** Calls that started on this detector and have not finished. */
  inflight: number;
  /** Resolves once a retired entry has no call in flight. */
  drained?: () => void;
}

/**
 * The daemon's object detector, swappable while the cameras run. Every camera pipeline calls `detectFrame` on the
 * slot; each call runs on the detector that is current when it starts. `swap()` makes a new detector current for
 * the next call, so a swap happens between frames and no camera restarts; calls already started (running or queued
 * on the old session) finish on it, and the old session is closed once the last of them has.
 */
export class DetectorSlot implements FrameDetector {
  private entry: Entry;
  private closed = false;
  private readonly log: Logger;

  constructor(detector: ObjectDetector, origin: ModelOrigin, logger?: Logger) {
    this.entry = { detector, model: runningModel(detector, origin), inflight: 0 };
    this.log = logger ?? silentLogger();
  }

  /** The detector new calls run on. */
  get detector(): ObjectDetector {
    return this.entry.detector;
  }

  get model(): RunningModel {
    return this.entry.model;
  }

  async detectFrame(frame: Frame, motion?: readonly PixelBox[]): Promise<FrameDetections> {
    const e = this.entry;
    e.inflight++;
    try {
      return await e.detector.detectFrame(frame, motion);
    } finally {
      e.inflight--;
      if (e.inflight === 0) e.drained?.();
    }
  }

  /**
   * Makes `next` current at once and returns when the previous detector has finished its calls and been closed.
   * The slot owns `next` from now on (it closes it on the next swap or on close()).
   */
  async swap(next: ObjectDetector, origin: ModelOrigin): Promise<RunningModel> {
    if (this.closed) {
      await next.close();
      throw new Error('detector slot is closed');
    }
    const old = this.entry;
    this.entry = { detector: next, model: runningModel(next, origin), inflight: 0 };
    this.log.info(
      { from: summary(old.model), to: summary(this.entry.model), in_flight: old.inflight },
      'detector swapped; the previous one closes after its calls in flight',
    );
    await this.retire(old);
    return this.entry.model;
  }

  /** Closes the current detector once its calls in flight have finished. Further calls fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.retire(this.entry);
  }

  private async retire(e: Entry): Promise<void> {
    if (e.inflight > 0) await new Promise<void>((resolve) => (e.drained = resolve));
    try {
      await e.detector.close();
    } catch (err) {
      this.log.warn({ err: describeError(err), model: summary(e.model) }, 'closing a detector failed');
    }
  }
}

function runningModel(d: ObjectDetector, origin: ModelOrigin): RunningModel {
  return {
    id: origin.id,
    name: origin.name,
    sha256: d.sha256,
    path: d.modelPath,
    format: d.format.type,
    loaded_at: new Date().toISOString(),
  };
}

function summary(m: RunningModel): { id: string | null; sha256: string; path: string } {
  return { id: m.id, sha256: m.sha256, path: m.path };
}
