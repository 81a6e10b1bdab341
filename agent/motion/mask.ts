/**
 * Motion masks: polygons in normalized frame coordinates (0..1, x right, y down) where motion is ignored
 * (a clock, a tree, a busy road). They are rasterized once, at the motion mask's small size, into the `roi`
 * input of the motion model (1 = watched, 0 = masked), so masked pixels never count as change.
 */
import { pointInPolygon as inside, type Polygon } from '../geometry/polygon.js';

export type { Polygon };

export function validatePolygons(masks: Polygon[]): void {
  masks.forEach((poly, m) => {
    if (!Array.isArray(poly) || poly.length < 3)
      throw new RangeError(`motion mask ${m}: a polygon needs at least 3 points`);
    poly.forEach((pt, p) => {
      const ok = Array.isArray(pt) && pt.length === 2 && pt.every((v) => Number.isFinite(v) && v >= 0 && v <= 1);
      if (!ok)
        throw new RangeError(
          `motion mask ${m} point ${p}: expected [x, y] with 0 <= x, y <= 1, got ${JSON.stringify(pt)}`,
        );
    });
  });
}

/** A w×h grid of 1 (watched) / 0 (masked); a pixel is masked when its centre lies in any polygon. */
export function rasterizeRoi(masks: Polygon[], w: number, h: number): Float32Array {
  validatePolygons(masks);
  const roi = new Float32Array(w * h).fill(1);
  for (const poly of masks) {
    for (let y = 0; y < h; y++) {
      const cy = (y + 0.5) / h;
      for (let x = 0; x < w; x++) {
        if (inside(poly, (x + 0.5) / w, cy)) roi[y * w + x] = 0;
      }
    }
  }
  return roi;
}
