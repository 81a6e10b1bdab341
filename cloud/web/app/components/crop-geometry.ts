/**
 * Where the detection sits in the event's picture. The box uploads a crop around the object (its box plus a 15 %
 * margin each side, clamped to the frame: agent/thumbnail/encode.ts `cropBox`), so from the normalised box the app
 * knows the crop's place in the frame, the box's place in the crop, and — from the crop's pixel size — the frame's
 * proportions.
 */
export const CROP_MARGIN = 0.15;

export interface CropGeometry {
  /** The crop in normalised frame coordinates [x1, y1, x2, y2]. */
  crop: [number, number, number, number];
  /** The box inside the crop, fractions of the crop. */
  boxInCrop: { left: number; top: number; width: number; height: number };
  /** Frame width / height, when the thumbnail's pixel size is known. */
  frameAspect: number | null;
}

export function cropGeometry(box: [number, number, number, number], thumbAspect: number | null): CropGeometry {
  const [x1, y1, x2, y2] = box;
  const mx = (x2 - x1) * CROP_MARGIN;
  const my = (y2 - y1) * CROP_MARGIN;
  const crop: [number, number, number, number] = [
    Math.max(0, x1 - mx),
    Math.max(0, y1 - my),
    Math.min(1, x2 + mx),
    Math.min(1, y2 + my),
  ];
  const cw = Math.max(1e-6, crop[2] - crop[0]);
  const ch = Math.max(1e-6, crop[3] - crop[1]);
  return {
    crop,
    boxInCrop: { left: (x1 - crop[0]) / cw, top: (y1 - crop[1]) / ch, width: (x2 - x1) / cw, height: (y2 - y1) / ch },
    // thumb px aspect = (cw·W)/(ch·H) ⇒ W/H = aspect · ch / cw
    frameAspect: thumbAspect === null ? null : (thumbAspect * ch) / cw,
  };
}
