import type { Detection } from '../detect/types.js';
import { bottomCentre, pointInAny, type PixelRect } from '../geometry/polygon.js';

/**
 * The object filter, between detect and track: drops detections a camera's config rules out before they can start
 * or feed a track. A detection is dropped when the bottom-centre of its box lies in an object mask (every label's
 * `objects.mask`, or its own label's `filters.<label>.mask`), or when its box is outside its label's size and shape
 * limits (`min_area`/`max_area`, `min_ratio`/`max_ratio`). Pure: no I/O, no state besides the config.
 */

/** Size and shape limits of a box. Areas: pixels of the frame, or a fraction of it when ≤ 1. Ratio: width/height. */
export interface ShapeLimits {
  min_area?: number | undefined;
  max_area?: number | undefined;
  min_ratio?: number | undefined;
  max_ratio?: number | undefined;
}

type PolygonLike = readonly (readonly [number, number])[];

/** What the filter needs from a camera's config (`objects.mask` and `filters`). */
export interface ObjectFilterConfig {
  /** Object masks of every label. */
  mask: readonly PolygonLike[];
  /** Per label: shape limits and that label's own masks. */
  labels: Readonly<Record<string, ShapeLimits & { mask?: readonly PolygonLike[] | undefined }>>;
}

export type FilterReason = 'mask' | 'min_area' | 'max_area' | 'min_ratio' | 'max_ratio';

/** An area setting in pixels: values ≤ 1 are a fraction of the frame. */
export function areaInPixels(value: number, width: number, height: number): number {
  return value <= 1 ? value * width * height : value;
}

/** Why `box` breaks `limits` on a width×height frame, or undefined when it passes. */
export function shapeProblem(
  box: PixelRect,
  limits: ShapeLimits | undefined,
  width: number,
  height: number,
): FilterReason | undefined {
  if (!limits) return undefined;
  const w = Math.max(0, box[2] - box[0]);
  const h = Math.max(0, box[3] - box[1]);
  const area = w * h;
  if (limits.min_area !== undefined && area < areaInPixels(limits.min_area, width, height)) return 'min_area';
  if (limits.max_area !== undefined && area > areaInPixels(limits.max_area, width, height)) return 'max_area';
  const ratio = h > 0 ? w / h : Number.POSITIVE_INFINITY;
  if (limits.min_ratio !== undefined && ratio < limits.min_ratio) return 'min_ratio';
  if (limits.max_ratio !== undefined && ratio > limits.max_ratio) return 'max_ratio';
  return undefined;
}

/** True when the config drops nothing (no masks, no limits): the pipeline can skip the stage. */
export function isEmptyFilter(config: ObjectFilterConfig): boolean {
  if (config.mask.length > 0) return false;
  return Object.values(config.labels).every(
    (l) =>
      (l.mask?.length ?? 0) === 0 &&
      l.min_area === undefined &&
      l.max_area === undefined &&
      l.min_ratio === undefined &&
      l.max_ratio === undefined,
  );
}

export interface FilterResult {
  kept: Detection[];
  dropped: { detection: Detection; reason: FilterReason }[];
}

export class ObjectFilter {
  constructor(
    private readonly config: ObjectFilterConfig,
    private readonly width: number,
    private readonly height: number,
  ) {}

  /** Why `d` is dropped, or undefined when it passes. */
  reason(d: Detection): FilterReason | undefined {
    const [x, y] = bottomCentre(d.box, this.width, this.height);
    if (pointInAny(this.config.mask, x, y)) return 'mask';
    const own = this.config.labels[d.label];
    if (!own) return undefined;
    if (own.mask && pointInAny(own.mask, x, y)) return 'mask';
    return shapeProblem(d.box, own, this.width, this.height);
  }

  apply(detections: readonly Detection[]): FilterResult {
    const out: FilterResult = { kept: [], dropped: [] };
    for (const d of detections) {
      const reason = this.reason(d);
      if (reason) out.dropped.push({ detection: d, reason });
      else out.kept.push(d);
    }
    return out;
  }
}
