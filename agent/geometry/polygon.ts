import { Type, type Static } from '@sinclair/typebox';

/**
 * Polygons in normalised frame coordinates (0..1, x right, y down from the top-left corner): the one shape behind
 * motion masks, object masks and zones, with its schema and the point-in-polygon test they all use.
 */

export const PointSchema = Type.Tuple(
  [Type.Number({ minimum: 0, maximum: 1 }), Type.Number({ minimum: 0, maximum: 1 })],
  { description: '[x, y], normalised: 0..1 of the frame width and height from the top-left corner' },
);

/** A polygon of at least 3 points, `[[x, y], …]`; `description` says what it is for. */
export const polygonSchema = (description: string) => Type.Array(PointSchema, { minItems: 3, description });

export const PolygonSchema = polygonSchema('A polygon: at least 3 [x, y] points, normalised 0..1');
export type Polygon = Array<[number, number]>;
export type PolygonConfig = Static<typeof PolygonSchema>;

/** A box in frame pixels: [x1, y1, x2, y2]. */
export type PixelRect = readonly [number, number, number, number];

/** Even-odd rule: is (x, y) inside `poly`? Points exactly on an edge may fall either way. */
export function pointInPolygon(poly: readonly (readonly [number, number])[], x: number, y: number): boolean {
  let hit = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i] as readonly [number, number];
    const [xj, yj] = poly[j] as readonly [number, number];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
  }
  return hit;
}

/** True when the point is inside any of `polygons`. */
export function pointInAny(
  polygons: readonly (readonly (readonly [number, number])[])[],
  x: number,
  y: number,
): boolean {
  return polygons.some((p) => pointInPolygon(p, x, y));
}

/**
 * The point of a box that object masks and zones test: the middle of its bottom edge (where a person's feet or a
 * car's wheels touch the ground), normalised by the frame size.
 */
export function bottomCentre(box: PixelRect, width: number, height: number): [number, number] {
  return [(box[0] + box[2]) / 2 / width, box[3] / height];
}
