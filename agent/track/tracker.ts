import { VigilError } from '../errors.js';
import { newEventId } from '../../shared/ids/index.js';
import type { PixelBox } from '../camera/frame.js';
import { iou, type Box } from '../detect/nms.js';
import type { Detection } from '../detect/types.js';
import {
  isoTime,
  round,
  type EventMessage,
  type PipelineEndReason,
  type ThumbnailCandidate,
  type TrackerOutput,
} from './messages.js';
import { TRACKER_DEFAULTS, type TrackerConfig } from './options.js';
import { ZoneSet, type ZoneDefinition, type ZonePresence } from '../zones/zones.js';

/**
 * Object tracker and event lifecycle. Pure: no I/O, no clock; it is fed `(detections, timeMs)` once per frame
 * (with an empty list on frames the detector skipped) and answers with event messages and thumbnail requests.
 *
 * Association is greedy on IoU per label, best pairs first, then a second greedy pass on centre distance for
 * objects that moved further than their size overlaps (low frame rates). A camera sees a handful of objects per
 * label, where greedy-by-IoU and Hungarian agree in practice; greedy is simpler, deterministic and O(n² log n).
 *
 * An event is announced (`new`) once the median of the track's last 10 scores (missing ones count as 0) reaches
 * the label's threshold; each detection must score at least `min_score` to count at all. A track whose box stays
 * within `stationary_iou` of an anchor position for `stationary_after_ms` becomes stationary; stationary tracks
 * survive missing detections far longer, so a parked car whose detection flickers re-associates with its own
 * track (by overlap with its last position) instead of announcing a new event.
 *
 * Labels a detector confuses (car/truck/bus by default, `label_groups`) are one object when their boxes overlap by
 * `label_group_iou`: a truck detection on a car's track feeds that track instead of starting an event. Same-label
 * association is untouched, so two people walking side by side stay two tracks.
 *
 * Zones (agent/zones) are followed on every detected frame of a track: messages carry `zones` (entered so far, in
 * order of entry) and `current_zones`; an announced event gets an `update` as soon as it enters a zone it had not
 * entered before. `moved` says whether the object ever left its first position (by `stationary_iou`): a car parked
 * from the first frame has not; an announced event gets an `update` when it first moves.
 */

export interface TrackerOptions extends Partial<TrackerConfig> {
  camera: string;
  /** Frame size, to normalize boxes. */
  width: number;
  height: number;
  /** Include `media_start`/`media_end` (file inputs). */
  mediaTimes?: boolean;
  /** Event id source (tests pass a deterministic one). */
  newId?: (wallMs: number) => string;
  /** The camera's zones (default none). */
  zones?: readonly ZoneDefinition[] | undefined;
}

export interface UpdateContext {
  /** Wall clock of the frame (ms since epoch); default: timeMs. */
  wallMs?: number;
  /**
   * Frame regions the detector examined. Tracks outside them are not counted as missing. Omit when the whole
   * frame was examined; pass [] when the detector did not run.
   */
  observed?: readonly PixelBox[];
}

interface Track {
  id: string;
  label: string;
  box: Box;
  /** Object score per observed frame (the best label's score), last HISTORY frames: the gate. */
  scores: number[];
  computed: number;
  top: number;
  /** Tracks of a confusable-group label: score history per group label seen on the object. */
  labelScores: Map<string, number[]> | undefined;
  /** Runner-up label of the group and its mean score (sticky once seen). */
  alt: { label: string; score: number } | undefined;
  firstMs: number;
  firstWall: number;
  lastMs: number;
  lastWall: number;
  missedSinceMs: number | undefined;
  anchor: Box;
  anchorSinceMs: number;
  stationary: boolean;
  /** The box has left its first anchor position at least once (sticky). */
  moved: boolean;
  announced: boolean;
  lastMessageMs: number;
  bestQuality: number;
  bestChanged: boolean;
  zones: ZonePresence | undefined;
}

/** One track's detections in one frame: the one that places it, and the best score per label. */
interface Observation {
  det: Detection;
  labels: Map<string, number>;
}

const HISTORY = 10;

function median10(scores: readonly number[]): number {
  const padded = [...scores];
  while (padded.length < HISTORY) padded.push(0);
  padded.sort((a, b) => a - b);
  const mid = padded.length >> 1;
  return ((padded[mid - 1] as number) + (padded[mid] as number)) / 2;
}

function centre(b: Box): [number, number] {
  return [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];
}

function inside(point: [number, number], r: PixelBox): boolean {
  return point[0] >= r[0] && point[0] < r[2] && point[1] >= r[1] && point[1] < r[3];
}

export class ObjectTracker {
  private readonly cfg: TrackerConfig;
  private readonly tracks: Track[] = [];
  private readonly newId: (wallMs: number) => string;
  /** label → its confusable group (labels in no group are absent). */
  private readonly groupOf = new Map<string, readonly string[]>();
  private readonly zoneSet: ZoneSet | undefined;

  constructor(private readonly opts: TrackerOptions) {
    this.cfg = { ...TRACKER_DEFAULTS, ...stripUndefined(opts) };
    this.newId = opts.newId ?? ((ms) => newEventId(ms));
    this.zoneSet = opts.zones && opts.zones.length > 0 ? new ZoneSet(opts.zones, opts.width, opts.height) : undefined;
    for (const group of this.cfg.label_groups) {
      if (group.length < 2)
        throw new VigilError(
          'config_invalid',
          `tracker.label_groups: group [${group.join(', ')}] needs at least 2 labels`,
          { details: { group } },
        );
      for (const label of group) {
        const other = this.groupOf.get(label);
        if (other)
          throw new VigilError(
            'config_invalid',
            `tracker.label_groups: label "${label}" is in two groups ([${other.join(', ')}] and ` +
              `[${group.join(', ')}]); a label may be in one group only`,
            {
              details: { label },
            },
          );
        this.groupOf.set(label, group);
      }
    }
  }

  /** Tracks alive right now (announced or not). */
  get activeCount(): number {
    return this.tracks.length;
  }

  /** Ids of all live tracks (announced or not). */
  liveIds(): Set<string> {
    return new Set(this.tracks.map((t) => t.id));
  }

  /** Ids of live tracks already announced (a `new` went out). */
  announcedIds(): Set<string> {
    return new Set(this.tracks.filter((t) => t.announced).map((t) => t.id));
  }

  get stationaryCount(): number {
    return this.tracks.filter((t) => t.stationary).length;
  }

  private gate(label: string): { minScore: number; threshold: number } {
    const per = this.cfg.labels[label];
    return { minScore: per?.min_score ?? this.cfg.min_score, threshold: per?.threshold ?? this.cfg.threshold };
  }

  /** Same confusable group, different labels (same-label pairs go through the ordinary passes). */
  private confusable(a: string, b: string): boolean {
    return a !== b && this.groupOf.get(a) !== undefined && this.groupOf.get(a) === this.groupOf.get(b);
  }

  update(detections: readonly Detection[], timeMs: number, ctx: UpdateContext = {}): TrackerOutput {
    const wallMs = ctx.wallMs ?? timeMs;
    const out: TrackerOutput = { messages: [], thumbnails: [] };
    const dets = detections.filter((d) => d.score >= this.gate(d.label).minScore);
    // What each track saw this frame: the detection that placed it and the best score per label.
    const seen = new Map<Track, Observation>();
    const matchedDets = new Set<number>();
    const observe = (t: Track, d: Detection): void => {
      const o = seen.get(t);
      if (!o) seen.set(t, { det: d, labels: new Map([[d.label, d.score]]) });
      else o.labels.set(d.label, Math.max(d.score, o.labels.get(d.label) ?? 0));
    };

    // Pass 1: IoU, best pairs first, same label only.
    const pairs: { t: Track; d: number; v: number }[] = [];
    for (const t of this.tracks)
      dets.forEach((d, i) => {
        if (d.label !== t.label) return;
        const v = iou(t.box, d.box);
        if (v >= this.cfg.match_iou) pairs.push({ t, d: i, v });
      });
    pairs.sort((a, b) => b.v - a.v);
    for (const p of pairs) {
      if (seen.has(p.t) || matchedDets.has(p.d)) continue;
      matchedDets.add(p.d);
      observe(p.t, dets[p.d] as Detection);
    }
    // Pass 2: centre distance within the object's size, similar size, for moving objects only.
    const near: { t: Track; d: number; v: number }[] = [];
    for (const t of this.tracks) {
      if (seen.has(t) || t.stationary) continue;
      const [tx, ty] = centre(t.box);
      const tw = t.box[2] - t.box[0];
      const th = t.box[3] - t.box[1];
      dets.forEach((d, i) => {
        if (matchedDets.has(i) || d.label !== t.label) return;
        const [dx, dy] = centre(d.box);
        const dw = d.box[2] - d.box[0];
        const dh = d.box[3] - d.box[1];
        const ratio = (dw * dh) / Math.max(1e-6, tw * th);
        const dist = Math.hypot(dx - tx, dy - ty) / Math.max(tw, th, 1e-6);
        if (dist <= 0.75 && ratio >= 0.5 && ratio <= 2) near.push({ t, d: i, v: dist });
      });
    }
    near.sort((a, b) => a.v - b.v);
    for (const p of near) {
      if (seen.has(p.t) || matchedDets.has(p.d)) continue;
      matchedDets.add(p.d);
      observe(p.t, dets[p.d] as Detection);
    }
    // Pass 3, strongest first: a leftover detection of a confusable label (truck on a car) that overlaps a track
    // of its group strongly is that object again. Class-wise NMS keeps both labels of one vehicle, and a label
    // may flip from frame to frame; neither may start a second event. Anything else starts a track.
    const rest = dets.map((_, i) => i).filter((i) => !matchedDets.has(i));
    rest.sort((a, b) => (dets[b] as Detection).score - (dets[a] as Detection).score);
    for (const i of rest) {
      const d = dets[i] as Detection;
      let same: Track | undefined;
      let best = this.cfg.label_group_iou;
      if (this.groupOf.has(d.label))
        for (const t of this.tracks) {
          if (!this.confusable(d.label, t.label)) continue;
          // A track seen this frame is compared at its new position.
          const v = iou(seen.get(t)?.det.box ?? t.box, d.box);
          if (v >= best) {
            best = v;
            same = t;
          }
        }
      if (same) {
        observe(same, d);
        continue;
      }
      const t = this.startTrack(d, timeMs, wallMs);
      this.tracks.push(t);
      observe(t, d);
    }
    for (const [t, o] of seen) this.matched(t, o, timeMs, wallMs, out);
    // Unmatched tracks: missing if the detector looked where they are; ended when missing too long.
    for (let i = this.tracks.length - 1; i >= 0; i--) {
      const t = this.tracks[i] as Track;
      if (seen.has(t)) continue;
      const visible = ctx.observed === undefined || ctx.observed.some((r) => inside(centre(t.box), r));
      if (visible && t.missedSinceMs === undefined) t.missedSinceMs = timeMs;
      const limit = t.stationary ? this.cfg.stationary_max_disappeared_ms : this.cfg.max_disappeared_ms;
      if (t.missedSinceMs !== undefined && timeMs - t.missedSinceMs >= limit) {
        this.tracks.splice(i, 1);
        if (t.announced) out.messages.push({ ...this.message('end', t), end_reason: 'left' });
      }
    }
    return out;
  }

  private startTrack(d: Detection, timeMs: number, wallMs: number): Track {
    return {
      id: this.newId(wallMs),
      label: d.label,
      box: d.box,
      scores: [],
      computed: 0,
      top: 0,
      labelScores: this.groupOf.has(d.label) ? new Map() : undefined,
      alt: undefined,
      firstMs: timeMs,
      firstWall: wallMs,
      lastMs: timeMs,
      lastWall: wallMs,
      missedSinceMs: undefined,
      anchor: d.box,
      anchorSinceMs: timeMs,
      stationary: false,
      moved: false,
      announced: false,
      lastMessageMs: timeMs,
      bestQuality: 0,
      bestChanged: false,
      zones: this.zoneSet?.presence(),
    };
  }

  /** Ends every track (end of input, or `reason` when the agent stops it). Announced ones get their `end` message. */
  flush(reason?: PipelineEndReason): EventMessage[] {
    const msgs = this.tracks
      .filter((t) => t.announced)
      .map((t) => (reason ? { ...this.message('end', t), end_reason: reason } : this.message('end', t)));
    this.tracks.length = 0;
    return msgs;
  }

  private matched(t: Track, o: Observation, timeMs: number, wallMs: number, out: TrackerOutput): void {
    const d = o.det;
    // The object's score this frame is its best label's: car 0.7 + truck 0.6 on one vehicle is a vehicle at 0.7.
    let score = 0;
    for (const v of o.labels.values()) score = Math.max(score, v);
    t.box = d.box;
    t.lastMs = timeMs;
    t.lastWall = wallMs;
    t.missedSinceMs = undefined;
    t.scores.push(score);
    if (t.scores.length > HISTORY) t.scores.shift();
    t.computed = median10(t.scores);
    t.top = Math.max(t.top, t.computed);
    if (t.labelScores) this.weighLabels(t, o.labels);
    const { threshold } = this.gate(t.label);
    const enteredZone = (t.zones?.update({ label: t.label, box: d.box, score, timeMs }).entered.length ?? 0) > 0;

    // Stationary: compare with the anchor position; moving re-anchors.
    let stationaryChanged = false;
    let startedMoving = false;
    if (iou(d.box, t.anchor) >= this.cfg.stationary_iou) {
      if (!t.stationary && timeMs - t.anchorSinceMs >= this.cfg.stationary_after_ms) {
        t.stationary = true;
        stationaryChanged = true;
      }
    } else {
      t.anchor = d.box;
      t.anchorSinceMs = timeMs;
      startedMoving = !t.moved;
      t.moved = true;
      if (t.stationary) {
        t.stationary = false;
        stationaryChanged = true;
      }
    }

    // Best picture: score weighted by size (a bigger view of a slightly less certain object is better).
    const area = ((d.box[2] - d.box[0]) * (d.box[3] - d.box[1])) / (this.opts.width * this.opts.height);
    const quality = score * Math.sqrt(area);
    const box: ThumbnailCandidate['box'] = [d.box[0], d.box[1], d.box[2], d.box[3]];
    let candidate: ThumbnailCandidate | undefined;
    if (quality > t.bestQuality * 1.05) {
      t.bestQuality = quality;
      t.bestChanged = true;
      candidate = { id: t.id, box, score, kind: 'best', announced: t.announced };
      out.thumbnails.push(candidate);
    }

    if (!t.announced) {
      if (t.computed >= threshold) {
        t.announced = true;
        // Unannounced tracks keep only their best crop; the snapshot needs a whole frame, from now on.
        if (candidate) candidate.announced = true;
        else out.thumbnails.push({ id: t.id, box, score, kind: 'snapshot', announced: true });
        out.messages.push(this.message('new', t, timeMs));
      }
      return;
    }
    const since = timeMs - t.lastMessageMs;
    if (
      stationaryChanged ||
      startedMoving ||
      enteredZone ||
      since >= this.cfg.update_period_ms ||
      (t.bestChanged && since >= this.cfg.update_min_interval_ms)
    )
      out.messages.push(this.message('update', t, timeMs));
  }

  /**
   * Per-label score histories of a grouped track over its last 10 observed frames (a label missing in a frame
   * scores 0 there). Labels are weighed by their mean: how often and how surely the object was called that, which
   * a zero-padded median cannot tell apart early on (car, car, truck, car… is a car). Until the event is announced
   * its label is the heaviest; from `new` on the label stays (consumers key on it) and the runner-up is reported as
   * `attributes.alt_label`/`alt_score`.
   */
  private weighLabels(t: Track, frame: ReadonlyMap<string, number>): void {
    const hist = t.labelScores as Map<string, number[]>;
    const seenFrames = Math.min(HISTORY, t.scores.length);
    for (const label of frame.keys()) if (!hist.has(label)) hist.set(label, new Array<number>(seenFrames - 1).fill(0));
    for (const [label, scores] of hist) {
      scores.push(frame.get(label) ?? 0);
      if (scores.length > HISTORY) scores.shift();
    }
    const weights = [...hist]
      .map(([label, scores]) => ({ label, w: scores.reduce((a, b) => a + b, 0) / scores.length }))
      .sort((a, b) => b.w - a.w);
    const heaviest = weights[0];
    if (!t.announced && heaviest && heaviest.w > (weights.find((x) => x.label === t.label)?.w ?? 0))
      t.label = heaviest.label;
    const runnerUp = weights.find((x) => x.label !== t.label && x.w > 0);
    if (runnerUp) t.alt = { label: runnerUp.label, score: runnerUp.w };
  }

  private message(type: EventMessage['type'], t: Track, timeMs?: number): EventMessage {
    if (timeMs !== undefined) t.lastMessageMs = timeMs;
    if (type !== 'end') t.bestChanged = false;
    const W = this.opts.width;
    const H = this.opts.height;
    const msg: EventMessage = {
      type,
      id: t.id,
      camera: this.opts.camera,
      label: t.label,
      score: round(t.computed),
      top_score: round(t.top),
      box: [round(t.box[0] / W), round(t.box[1] / H), round(t.box[2] / W), round(t.box[3] / H)],
      started_at: isoTime(t.firstWall),
      ended_at: type === 'end' ? isoTime(t.lastWall) : null,
      stationary: t.stationary,
      moved: t.moved,
      zones: t.zones?.zones ?? [],
      current_zones: t.zones?.current ?? [],
    };
    if (t.alt) msg.attributes = { alt_label: t.alt.label, alt_score: round(t.alt.score) };
    if (this.opts.mediaTimes) {
      msg.media_start = round(t.firstMs / 1000, 3);
      msg.media_end = type === 'end' ? round(t.lastMs / 1000, 3) : null;
    }
    if (type === 'end') msg.duration = round((t.lastMs - t.firstMs) / 1000, 3);
    return msg;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
