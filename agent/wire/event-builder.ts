import { createHash } from 'node:crypto';
import { ZONES_MAX } from '../../firmware-protocol/limits.js';
import type { Event } from '../../firmware-protocol/messages.js';
import type { EventMessage } from '../track/messages.js';
import { systemClock, type Clock } from '../../shared/clock/index.js';

/** A thumbnail as the pipeline hands it over: the JPEG and its size. */
export interface PipelineThumbnail {
  jpeg: Buffer;
  width: number;
  height: number;
}

interface Open {
  rev: number;
  announced: Event['thumbnail'];
  /** What was announced before the last build (restored when that build's thumbnail was not stored). */
  before: Event['thumbnail'];
}

export interface BuiltEvent {
  event: Event;
  /** JPEG bytes to upload with this message (its picture changed). */
  thumbnail?: Buffer;
  /** With `thumbnail`: the same message announcing what was announced before, to store if the upload is not. */
  withoutThumbnail?: Event;
}

const clamp01 = (v: number): number => (Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0);

/**
 * Event.zones / current_zones from the message: both left out while the object entered no zone (a camera without
 * zones sends what it always sent), both present once it entered one — `current_zones` then also when empty, so
 * the collector can tell "left every zone" from "not said".
 */
function zonesOf(msg: { zones?: readonly string[]; current_zones?: readonly string[] }): Partial<Event> {
  const zones = (msg.zones ?? []).slice(0, ZONES_MAX);
  if (zones.length === 0) return {};
  const current = (msg.current_zones ?? []).filter((z) => zones.includes(z));
  return { zones, current_zones: current };
}

/**
 * Turns the vision pipeline's event messages (agent/track) into protocol v1 Events (firmware-protocol) for the
 * outbox: adds `v`, `device_id` and the per-event `rev` (0 for new, +1 per later message), renames/normalises
 * fields (zones: see `zonesOf`), and announces a thumbnail only when its bytes changed (an unchanged crop is not
 * uploaded again). The daemon's EventSink calls `build` for every message and hands the result to `Uplink.enqueue`.
 */
export class WireEventBuilder {
  private readonly open = new Map<string, Open>();

  constructor(
    private readonly deviceId: string,
    private readonly clock: Clock = systemClock,
  ) {}

  build(msg: EventMessage, thumb?: PipelineThumbnail): BuiltEvent {
    const prev = this.open.get(msg.id);
    const before = prev?.announced;
    // An update for an id this process never saw (e.g. after a restart) still needs rev ≥ 1.
    const rev = msg.type === 'new' ? 0 : (prev?.rev ?? 0) + 1;
    let announced = prev?.announced;
    let upload: Buffer | undefined;
    if (thumb) {
      const sha256 = createHash('sha256').update(thumb.jpeg).digest('hex');
      if (announced?.sha256 !== sha256) {
        const { width, height } = thumb;
        announced = { sha256, size: thumb.jpeg.length, width, height, content_type: 'image/jpeg' };
        upload = thumb.jpeg;
      }
    }
    const [a, b, c, d] = msg.box.map(clamp01) as [number, number, number, number];
    const event: Event = {
      v: 1,
      id: msg.id,
      device_id: this.deviceId,
      camera: msg.camera,
      type: msg.type,
      rev,
      label: msg.label,
      score: clamp01(msg.score),
      box: [Math.min(a, c), Math.min(b, d), Math.max(a, c), Math.max(b, d)],
      started_at: msg.started_at,
      top_score: clamp01(msg.top_score),
      stationary: msg.stationary,
      ...(msg.type === 'end' ? { ended_at: msg.ended_at ?? new Date(this.clock.now()).toISOString() } : {}),
      ...(msg.type === 'end' && msg.end_reason ? { end_reason: msg.end_reason } : {}),
      ...(msg.duration !== undefined ? { duration_s: msg.duration } : {}),
      ...zonesOf(msg),
      ...(msg.attributes ? { attributes: msg.attributes } : {}),
      ...(announced ? { thumbnail: announced } : {}),
    };
    if (msg.type === 'end') this.open.delete(msg.id);
    else this.open.set(msg.id, { rev, announced, before });
    if (!upload) return { event };
    const { thumbnail: _announced, ...bare } = event;
    const withoutThumbnail: Event = before ? { ...bare, thumbnail: before } : bare;
    return { event, thumbnail: upload, withoutThumbnail };
  }

  /**
   * The thumbnail of the last build of `id` was not stored (full disk, budget): the event goes on announcing the
   * previous one, and the next message with this picture uploads it again.
   */
  thumbnailNotStored(id: string): void {
    const o = this.open.get(id);
    if (o) o.announced = o.before;
  }

  /** Events currently open (started, not ended). */
  get openEvents(): number {
    return this.open.size;
  }
}
