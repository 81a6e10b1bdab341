import { newEventId } from '../../shared/ids/index.js';
import type { PixelBox } from '../camera/frame.js';
import { boxArea } from '../detect/nms.js';
import { isoTime, round, type EventMessage, type PipelineEndReason, type TrackerOutput } from './messages.js';

/**
 * Motion-only events, for cameras without a detector model. Pure, fed once per frame.
 * An event starts after `start_frames` consecutive frames with motion (its start is the first of them) and ends
 * once there has been no motion for `end_after_ms` (its end is the last frame with motion). The box is the union
 * of all motion boxes of the event; `score` is 1 (motion is not a guess).
 */
export interface MotionEventOptions {
  camera: string;
  width: number;
  height: number;
  mediaTimes?: boolean;
  /** Consecutive motion frames that start an event (default 3). */
  startFrames?: number;
  /** Quiet time that ends an event (default 2000 ms). */
  endAfterMs?: number;
  /** Periodic update while it lasts (default 10000 ms). */
  updatePeriodMs?: number;
  newId?: (wallMs: number) => string;
}

interface Active {
  id: string;
  firstMs: number;
  firstWall: number;
  lastMs: number;
  lastWall: number;
  box: PixelBox;
  bestArea: number;
  lastMessageMs: number;
}

export class MotionEventTracker {
  private run: { count: number; firstMs: number; firstWall: number; box: PixelBox } | undefined;
  private active: Active | undefined;
  private readonly startFrames: number;
  private readonly endAfterMs: number;
  private readonly updatePeriodMs: number;
  private readonly newId: (wallMs: number) => string;

  constructor(private readonly opts: MotionEventOptions) {
    this.startFrames = opts.startFrames ?? 3;
    this.endAfterMs = opts.endAfterMs ?? 2000;
    this.updatePeriodMs = opts.updatePeriodMs ?? 10000;
    this.newId = opts.newId ?? ((ms) => newEventId(ms));
  }

  get inEvent(): boolean {
    return this.active !== undefined;
  }

  update(boxes: readonly PixelBox[], timeMs: number, wallMs: number = timeMs): TrackerOutput {
    const out: TrackerOutput = { messages: [], thumbnails: [] };
    const frameBox = boxes.length > 0 ? boxes.reduce(unionBox) : undefined;
    const a = this.active;
    if (a) {
      if (frameBox) {
        a.lastMs = timeMs;
        a.lastWall = wallMs;
        a.box = unionBox(a.box, frameBox);
        const area = boxArea(frameBox);
        if (area > a.bestArea * 1.1) {
          a.bestArea = area;
          out.thumbnails.push({ id: a.id, box: [...frameBox], score: 1, kind: 'best', announced: true });
        }
        if (timeMs - a.lastMessageMs >= this.updatePeriodMs) out.messages.push(this.message('update', a, timeMs));
      } else if (timeMs - a.lastMs >= this.endAfterMs) {
        out.messages.push({ ...this.message('end', a), end_reason: 'left' });
        this.active = undefined;
      }
      return out;
    }
    if (!frameBox) {
      this.run = undefined;
      return out;
    }
    this.run = this.run
      ? { ...this.run, count: this.run.count + 1, box: unionBox(this.run.box, frameBox) }
      : { count: 1, firstMs: timeMs, firstWall: wallMs, box: frameBox };
    if (this.run.count >= this.startFrames) {
      const started: Active = {
        id: this.newId(this.run.firstWall),
        firstMs: this.run.firstMs,
        firstWall: this.run.firstWall,
        lastMs: timeMs,
        lastWall: wallMs,
        box: this.run.box,
        bestArea: boxArea(frameBox),
        lastMessageMs: timeMs,
      };
      this.active = started;
      this.run = undefined;
      out.thumbnails.push({ id: started.id, box: [...frameBox], score: 1, kind: 'best', announced: true });
      out.messages.push(this.message('new', started, timeMs));
    }
    return out;
  }

  /** Ends the event in progress, if any (end of input, or `reason` when the agent stops it). */
  flush(reason?: PipelineEndReason): EventMessage[] {
    const a = this.active;
    this.active = undefined;
    this.run = undefined;
    if (!a) return [];
    return [reason ? { ...this.message('end', a), end_reason: reason } : this.message('end', a)];
  }

  private message(type: EventMessage['type'], a: Active, timeMs?: number): EventMessage {
    if (timeMs !== undefined) a.lastMessageMs = timeMs;
    const { width: W, height: H } = this.opts;
    const msg: EventMessage = {
      type,
      id: a.id,
      camera: this.opts.camera,
      label: 'motion',
      score: 1,
      top_score: 1,
      box: [round(a.box[0] / W), round(a.box[1] / H), round(a.box[2] / W), round(a.box[3] / H)],
      started_at: isoTime(a.firstWall),
      ended_at: type === 'end' ? isoTime(a.lastWall) : null,
      stationary: false,
      moved: true,
      // Motion-only events have no object to place in a zone.
      zones: [],
      current_zones: [],
    };
    if (this.opts.mediaTimes) {
      msg.media_start = round(a.firstMs / 1000, 3);
      msg.media_end = type === 'end' ? round(a.lastMs / 1000, 3) : null;
    }
    if (type === 'end') msg.duration = round((a.lastMs - a.firstMs) / 1000, 3);
    return msg;
  }
}

function unionBox(a: PixelBox, b: PixelBox): PixelBox {
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])];
}
