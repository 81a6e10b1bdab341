import { REVIEW_OBJECTS_MAX, ZONES_MAX } from '../../firmware-protocol/limits.js';
import { ulid } from '../../shared/ids/index.js';
import type { EventMessage } from '../track/messages.js';
import type { ReviewMessage, ReviewSeverity } from './messages.js';
import { REVIEW_GROUPING_DEFAULTS, type ReviewGrouping, type ReviewRules } from './options.js';
import { qualify, severityRank } from './rules.js';

/**
 * Review items of one camera: groups the event messages the pipeline emits into items (`rev_<ULID>`), each an
 * `alert` or a `detection`, and answers with review messages (`new` → `update`* → `end`). Pure: no I/O, no clock;
 * fed every frame's event messages (an empty list on frames without any) with the frame's times.
 *
 * - An object qualifies for `alert` when its label is an alert label and it entered one of the alert's required
 *   zones (any place when none is required), else for `detection` by the detection labels and zones (rules.ts).
 * - An object is active while its event is open, it is not stationary and it has moved (a message without `moved`
 *   counts as moved). Only active qualifying objects start or join items; objects that never qualify make none.
 * - Two lanes per camera: at most one open alert item and one open detection item. An active object that qualifies
 *   for alert joins (or starts) the alert item; one that qualifies only for detection, the detection item. A
 *   detection item's object that later qualifies for alert (enters a required zone) also joins the alert item and
 *   stays listed in the detection item. So an item's severity never changes, and every object of an alert item
 *   made it an alert.
 * - Objects joining, new labels or zones and another best thumbnail make an `update`; at most one message per item
 *   per frame. An item ends when none of its objects has been active for the merge gap (`merge_gap_s`, frame time),
 *   with `ended_at` = when its last object stopped being active. `flush()` ends the open items at once.
 * - `started_at` is its first object's start when that object qualified from its first message, else the frame
 *   where it qualified (entered a required zone, started moving): an alert starts when the alert does.
 */

export interface ReviewTrackerOptions extends Partial<ReviewGrouping> {
  camera: string;
  rules: ReviewRules;
  /** Review id source (tests pass a deterministic one). */
  newId?: (wallMs: number) => string;
}

/** The frame the messages belong to: its media time (merge gap) and wall clock (start and end times). */
export interface ReviewFrame {
  mediaMs: number;
  wallMs: number;
}

/** An EventMessage as the review stage reads it: zone fields and `moved` may be absent (older producers). */
export type ReviewInput = Omit<EventMessage, 'zones' | 'current_zones'> & {
  zones?: readonly string[] | undefined;
  current_zones?: readonly string[] | undefined;
  /** The object has moved since it was first seen (a parked car has not); absent: treated as moved. */
  moved?: boolean | undefined;
};

interface ObjectState {
  id: string;
  label: string;
  zones: readonly string[];
  startedAt: string;
  mediaStart: number | undefined;
  qualification: ReviewSeverity | undefined;
  active: boolean;
  topScore: number;
  hasThumbnail: boolean;
  /** When it last stopped being active (wall ms, media seconds). */
  inactiveWallMs: number | undefined;
  inactiveMedia: number | undefined;
}

interface Item {
  id: string;
  announced: boolean;
  severity: ReviewSeverity;
  members: Map<string, ObjectState>;
  objects: string[];
  labels: string[];
  zones: string[];
  thumbnailEvent: string | undefined;
  startedAt: string;
  mediaStart: number | undefined;
  /** Frame media time since which no member has been active (undefined while one is). */
  quietSinceMs: number | undefined;
  changed: boolean;
}

const newReviewId = (wallMs: number): string => `rev_${ulid(wallMs)}`;

/** The later of an ISO time and an epoch-ms time, as ISO. */
function maxIso(iso: string, ms: number): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) || ms > t ? new Date(ms).toISOString() : iso;
}

/** A frame for messages that come without one (no frame was ever fed): the latest time they name. */
function finalFrame(messages: readonly ReviewInput[]): ReviewFrame {
  const wallMs = Math.max(...messages.map((m) => Date.parse(m.ended_at ?? m.started_at)));
  const mediaS = Math.max(0, ...messages.map((m) => (typeof m.media_end === 'number' ? m.media_end : 0)));
  return { mediaMs: mediaS * 1000, wallMs };
}

const LANES: readonly ReviewSeverity[] = ['alert', 'detection'];

export class ReviewTracker {
  private readonly objects = new Map<string, ObjectState>();
  /** The open item of each lane. */
  private readonly items = new Map<ReviewSeverity, Item>();
  private readonly mergeGapMs: number;
  private readonly newId: (wallMs: number) => string;
  private last: ReviewFrame | undefined;
  private itemCount = { alert: 0, detection: 0 };

  constructor(private readonly opts: ReviewTrackerOptions) {
    this.mergeGapMs = (opts.merge_gap_s ?? REVIEW_GROUPING_DEFAULTS.merge_gap_s) * 1000;
    this.newId = opts.newId ?? newReviewId;
  }

  /** Items ended so far, by severity. */
  get ended(): Readonly<{ alert: number; detection: number }> {
    return this.itemCount;
  }

  /** The open item's id of a lane (default: either, the alert first), if any. */
  openItem(severity?: ReviewSeverity): string | undefined {
    if (severity) return this.items.get(severity)?.id;
    return (this.items.get('alert') ?? this.items.get('detection'))?.id;
  }

  /** Feeds one frame's event messages (in emission order); returns the review messages they cause. */
  update(messages: readonly ReviewInput[], frame: ReviewFrame): ReviewMessage[] {
    this.last = frame;
    for (const m of messages) this.observe(m, frame);
    const out: ReviewMessage[] = [];
    for (const lane of LANES) {
      const item = this.items.get(lane);
      if (!item) continue;
      if (!item.announced || item.changed) out.push(this.message(item, item.announced ? 'update' : 'new'));
      const anyActive = [...item.members.values()].some((o) => o.active);
      if (anyActive) item.quietSinceMs = undefined;
      else {
        item.quietSinceMs ??= frame.mediaMs;
        if (frame.mediaMs - item.quietSinceMs >= this.mergeGapMs) out.push(this.end(item));
      }
    }
    return out;
  }

  /**
   * Ends the open items now (end of input, agent stop). `finalMessages`: the pipeline's last messages (the `end`s
   * its flush made), read as of the last frame fed.
   */
  flush(finalMessages: readonly ReviewInput[] = []): ReviewMessage[] {
    const at = this.last ?? (finalMessages.length > 0 ? finalFrame(finalMessages) : undefined);
    if (at) for (const m of finalMessages) this.observe(m, at);
    const out: ReviewMessage[] = [];
    for (const lane of LANES) {
      const item = this.items.get(lane);
      if (!item) continue;
      if (!item.announced || item.changed) out.push(this.message(item, item.announced ? 'update' : 'new'));
      for (const o of item.members.values()) if (o.active) this.deactivate(o, this.last);
      out.push(this.end(item));
    }
    return out;
  }

  private observe(m: ReviewInput, frame: ReviewFrame): void {
    let o = this.objects.get(m.id);
    const first = o === undefined;
    if (!o) {
      o = {
        id: m.id,
        label: m.label,
        zones: [],
        startedAt: m.started_at,
        mediaStart: m.media_start,
        qualification: undefined,
        active: false,
        topScore: 0,
        hasThumbnail: false,
        inactiveWallMs: undefined,
        inactiveMedia: undefined,
      };
      this.objects.set(m.id, o);
    }
    o.label = m.label;
    o.zones = m.zones ?? o.zones;
    o.topScore = Math.max(o.topScore, m.top_score);
    o.hasThumbnail ||= m.thumbnail !== undefined;
    const found = qualify(this.opts.rules, o.label, o.zones);
    if (severityRank(found) > severityRank(o.qualification)) o.qualification = found;
    const active = m.type !== 'end' && !m.stationary && m.moved !== false;
    if (active) o.active = true;
    else if (o.active || m.type === 'end') this.deactivate(o, frame, m);
    if (m.type === 'end') this.objects.delete(m.id);

    for (const lane of LANES) {
      const item = this.items.get(lane);
      if (item?.members.has(o.id)) this.refresh(item, o);
    }
    // An active object joins (or starts) the item of the lane it qualifies for; never the detection lane once alert.
    const lane = o.active ? o.qualification : undefined;
    if (!lane) return;
    const item = this.items.get(lane);
    if (!item) this.start(lane, o, frame, first);
    else if (!item.members.has(o.id)) this.join(item, o);
  }

  private deactivate(o: ObjectState, frame: ReviewFrame | undefined, m?: ReviewInput): void {
    o.active = false;
    const endWall = m?.type === 'end' && m.ended_at ? Date.parse(m.ended_at) : frame?.wallMs;
    const endMedia = m?.type === 'end' && typeof m.media_end === 'number' ? m.media_end : undefined;
    if (endWall !== undefined) o.inactiveWallMs = Math.max(o.inactiveWallMs ?? endWall, endWall);
    const media = endMedia ?? (o.mediaStart !== undefined && frame ? frame.mediaMs / 1000 : undefined);
    if (media !== undefined) o.inactiveMedia = Math.max(o.inactiveMedia ?? media, media);
  }

  private start(lane: ReviewSeverity, o: ObjectState, frame: ReviewFrame, first: boolean): void {
    // From its first message: the object's own start; later (entered a required zone, started moving): now.
    const mediaNow = o.mediaStart !== undefined ? Math.round(frame.mediaMs) / 1000 : undefined;
    const item: Item = {
      id: this.newId(frame.wallMs),
      announced: false,
      severity: lane,
      members: new Map(),
      objects: [],
      labels: [],
      zones: [],
      thumbnailEvent: undefined,
      startedAt: first ? o.startedAt : maxIso(o.startedAt, frame.wallMs),
      mediaStart: first ? o.mediaStart : mediaNow,
      quietSinceMs: undefined,
      changed: true,
    };
    this.items.set(lane, item);
    this.join(item, o);
  }

  private join(item: Item, o: ObjectState): void {
    item.members.set(o.id, o);
    if (item.objects.length < REVIEW_OBJECTS_MAX) item.objects.push(o.id);
    item.changed = true;
    this.refresh(item, o);
  }

  /** Folds a member's label, zones and thumbnail into the item. */
  private refresh(item: Item, o: ObjectState): void {
    if (!item.labels.includes(o.label) && item.labels.length < REVIEW_OBJECTS_MAX) {
      item.labels.push(o.label);
      item.changed = true;
    }
    for (const z of o.zones) {
      if (item.zones.includes(z) || item.zones.length >= ZONES_MAX) continue;
      item.zones.push(z);
      item.changed = true;
    }
    const best = this.bestThumbnail(item);
    if (best !== item.thumbnailEvent) {
      item.thumbnailEvent = best;
      item.changed = true;
    }
  }

  /** The listed object with a thumbnail that qualifies highest, then scores highest (first joined on a tie). */
  private bestThumbnail(item: Item): string | undefined {
    let best: ObjectState | undefined;
    for (const id of item.objects) {
      const o = item.members.get(id);
      if (!o?.hasThumbnail) continue;
      const better =
        !best ||
        severityRank(o.qualification) > severityRank(best.qualification) ||
        (severityRank(o.qualification) === severityRank(best.qualification) && o.topScore > best.topScore);
      if (better) best = o;
    }
    return best?.id;
  }

  private end(item: Item): ReviewMessage {
    this.items.delete(item.severity);
    this.itemCount[item.severity]++;
    return this.message(item, 'end');
  }

  private message(item: Item, type: ReviewMessage['type']): ReviewMessage {
    item.announced = true;
    item.changed = false;
    const msg: ReviewMessage = {
      kind: 'review',
      type,
      id: item.id,
      camera: this.opts.camera,
      severity: item.severity,
      started_at: item.startedAt,
      ended_at: type === 'end' ? this.endedAt(item) : null,
      objects: [...item.objects],
      labels: [...item.labels],
      zones: [...item.zones],
    };
    if (item.thumbnailEvent) msg.thumbnail_event = item.thumbnailEvent;
    if (item.mediaStart !== undefined) {
      msg.media_start = item.mediaStart;
      msg.media_end = type === 'end' ? this.mediaEnd(item) : null;
    }
    return msg;
  }

  /** When the last member stopped being active; never before the item started. */
  private endedAt(item: Item): string {
    const start = Date.parse(item.startedAt);
    let end = start;
    for (const o of item.members.values()) if (o.inactiveWallMs !== undefined) end = Math.max(end, o.inactiveWallMs);
    return new Date(end).toISOString();
  }

  private mediaEnd(item: Item): number {
    let end = item.mediaStart ?? 0;
    for (const o of item.members.values()) if (o.inactiveMedia !== undefined) end = Math.max(end, o.inactiveMedia);
    return Math.round(end * 1000) / 1000;
  }
}
