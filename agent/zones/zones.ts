import { shapeProblem, type ShapeLimits } from '../filter/object-filter.js';
import { bottomCentre, pointInPolygon, type PixelRect } from '../geometry/polygon.js';

/**
 * Zones: which named areas of the frame an object is in. Pure: fed one observation of an object per detected frame,
 * it answers which zones the object entered and left.
 *
 * The point tested is the bottom-centre of the object's box. An object enters a zone once that point has been
 * inside for `inertia` consecutive observed frames and for `loitering_time` seconds (both counted from the first
 * frame of the streak); it leaves once it has been outside for `inertia` consecutive observed frames. A frame
 * counts as inside only if the zone takes the object's label (`objects`) and the detection passes the zone's
 * filter for that label (score, size, shape). Frames where the object was not detected do not count either way.
 * `zones` lists the zones entered so far in order of first entry; `current` those it is in now, in the same order.
 */

/** One configured zone, ready for the zone logic (a camera's `zones.<name>` plus its name). */
export interface ZoneDefinition {
  name: string;
  /** Polygon, normalised 0..1. */
  coordinates: readonly (readonly [number, number])[];
  /** Labels that count; undefined: every label. */
  objects?: readonly string[] | undefined;
  /** Consecutive observed frames inside to enter, outside to leave (≥ 1). */
  inertia: number;
  /** Seconds inside before the object counts as in the zone. */
  loitering_time: number;
  /** Per label: what a detection needs to count inside. */
  filters: Readonly<Record<string, ShapeLimits & { min_score?: number | undefined }>>;
}

/** One sighting of an object: its label, box (frame pixels), detection score and media time. */
export interface ZoneObservation {
  label: string;
  box: PixelRect;
  score: number;
  timeMs: number;
}

export interface ZoneChange {
  /** Zones entered for the first time in this frame (new entries of `zones`). */
  entered: string[];
  /** Zones the object came back into (already in `zones`). */
  reentered: string[];
  left: string[];
}

interface ZoneState {
  insideFrames: number;
  insideSinceMs: number;
  outsideFrames: number;
  present: boolean;
}

/** A camera's zones on a width×height frame; makes one ZonePresence per tracked object. */
export class ZoneSet {
  readonly zones: readonly ZoneDefinition[];

  constructor(
    zones: readonly ZoneDefinition[],
    readonly width: number,
    readonly height: number,
  ) {
    for (const z of zones)
      if (!Number.isInteger(z.inertia) || z.inertia < 1)
        throw new RangeError(`zone ${z.name}: inertia must be an integer ≥ 1, got ${z.inertia}`);
    this.zones = zones;
  }

  get size(): number {
    return this.zones.length;
  }

  /** Does this sighting count as inside `zone` (label, filter and bottom-centre)? */
  counts(zone: ZoneDefinition, o: ZoneObservation): boolean {
    if (zone.objects && !zone.objects.includes(o.label)) return false;
    const f = zone.filters[o.label];
    if (f) {
      if (f.min_score !== undefined && o.score < f.min_score) return false;
      if (shapeProblem(o.box, f, this.width, this.height)) return false;
    }
    const [x, y] = bottomCentre(o.box, this.width, this.height);
    return pointInPolygon(zone.coordinates, x, y);
  }

  presence(): ZonePresence {
    return new ZonePresence(this);
  }
}

/** The zone state of one object. */
export class ZonePresence {
  private readonly states: ZoneState[];
  private readonly order: string[] = [];

  constructor(private readonly set: ZoneSet) {
    this.states = set.zones.map(() => ({ insideFrames: 0, insideSinceMs: 0, outsideFrames: 0, present: false }));
  }

  /** Zones entered so far, in order of first entry. */
  get zones(): string[] {
    return [...this.order];
  }

  /** Zones the object is in now, in order of first entry. */
  get current(): string[] {
    const present = new Set(this.set.zones.filter((_, i) => this.states[i]?.present).map((z) => z.name));
    return this.order.filter((n) => present.has(n));
  }

  /** Feeds one observed frame of the object. */
  update(o: ZoneObservation): ZoneChange {
    const change: ZoneChange = { entered: [], reentered: [], left: [] };
    this.set.zones.forEach((zone, i) => {
      const s = this.states[i] as ZoneState;
      if (this.set.counts(zone, o)) {
        s.outsideFrames = 0;
        if (s.insideFrames === 0) s.insideSinceMs = o.timeMs;
        s.insideFrames += 1;
        const long = o.timeMs - s.insideSinceMs >= zone.loitering_time * 1000;
        if (!s.present && s.insideFrames >= zone.inertia && long) {
          s.present = true;
          if (this.order.includes(zone.name)) change.reentered.push(zone.name);
          else {
            this.order.push(zone.name);
            change.entered.push(zone.name);
          }
        }
        return;
      }
      s.insideFrames = 0;
      if (!s.present) return;
      s.outsideFrames += 1;
      if (s.outsideFrames >= zone.inertia) {
        s.present = false;
        s.outsideFrames = 0;
        change.left.push(zone.name);
      }
    });
    return change;
  }
}
