/** Non-maximum suppression and box overlap, shared by the detector, region merging and the tracker. */

/** Any [x1, y1, x2, y2] box (pixels or normalized). */
export type Box = readonly [number, number, number, number];

export function boxArea(b: Box): number {
  return Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
}

export function intersectionArea(a: Box, b: Box): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  return w > 0 && h > 0 ? w * h : 0;
}

/** Intersection over union, 0 for disjoint or empty boxes. */
export function iou(a: Box, b: Box): number {
  const inter = intersectionArea(a, b);
  if (inter === 0) return 0;
  return inter / (boxArea(a) + boxArea(b) - inter);
}

export interface Scored {
  box: Box;
  score: number;
  classId: number;
}

/**
 * Class-wise greedy NMS: within each class, keep the highest-scoring box and drop every other box overlapping it
 * by more than `iouThreshold`. Returns the kept items sorted by score, highest first.
 */
export function nmsClasswise<T extends Scored>(items: readonly T[], iouThreshold: number): T[] {
  const sorted = [...items].sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  const suppressed = new Uint8Array(sorted.length);
  for (let i = 0; i < sorted.length; i++) {
    if (suppressed[i]) continue;
    const a = sorted[i] as T;
    kept.push(a);
    for (let j = i + 1; j < sorted.length; j++) {
      if (suppressed[j]) continue;
      const b = sorted[j] as T;
      if (b.classId === a.classId && iou(a.box, b.box) > iouThreshold) suppressed[j] = 1;
    }
  }
  return kept;
}
