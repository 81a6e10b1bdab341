import type { PixelBox } from '../camera/frame.js';
import { boxArea, intersectionArea } from './nms.js';

/**
 * Region planning: where to run the detector on a frame with motion.
 *
 * Every run of a fixed-size model costs the same, whatever it is fed, so the cost of a plan is its number of runs.
 * Motion boxes grow into square crops at least as large as the model input (clamped to the frame) so objects keep
 * their native resolution; overlapping crops merge into one crop around both. Then:
 * - more than one crop → whole frame (one run beats two);
 * - one crop covering at least `maxRegionFraction` (default 0.5) of the frame → whole frame (a crop that large
 *   gains little resolution and risks cutting objects at its edge);
 * - otherwise → the crop: same cost as the whole frame, finer detail, nothing outside the motion examined.
 * For 480x360 frames and a 416x416 model a crop is at least 416x360 = 87% of the frame, so the whole frame is
 * always chosen; on a 1920x1080 camera a single walker gets a 416x416 crop (8% of the frame) at full resolution.
 */
export interface RegionPlan {
  mode: 'frame' | 'regions';
  regions: PixelBox[];
}

export interface RegionOptions {
  /** Model input size (side of the smallest crop). */
  inputWidth: number;
  inputHeight: number;
  /** Context added around each motion box, as a fraction of its larger side. */
  margin?: number;
  maxRegionFraction?: number;
  /** Most crops worth running; more → whole frame. */
  maxRegions?: number;
}

/** A crop of at least the input size, centred on `box`, grown by `margin`, clamped to the frame. */
export function squareCrop(
  box: PixelBox,
  frameW: number,
  frameH: number,
  minW: number,
  minH: number,
  margin: number,
): PixelBox {
  const cx = (box[0] + box[2]) / 2;
  const cy = (box[1] + box[3]) / 2;
  const side = Math.max(box[2] - box[0], box[3] - box[1]) * (1 + 2 * margin);
  const w = Math.min(frameW, Math.max(minW, side));
  const h = Math.min(frameH, Math.max(minH, side));
  let x1 = Math.round(cx - w / 2);
  let y1 = Math.round(cy - h / 2);
  x1 = Math.max(0, Math.min(frameW - Math.round(w), x1));
  y1 = Math.max(0, Math.min(frameH - Math.round(h), y1));
  // Even coordinates keep chroma samples aligned with luma.
  x1 -= x1 & 1;
  y1 -= y1 & 1;
  return [x1, y1, Math.min(frameW, x1 + Math.round(w)), Math.min(frameH, y1 + Math.round(h))];
}

function union(a: PixelBox, b: PixelBox): PixelBox {
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])];
}

/** Plans the detector runs for one frame's motion boxes. No motion → no regions. */
export function planRegions(
  motion: readonly PixelBox[],
  frameW: number,
  frameH: number,
  opts: RegionOptions,
): RegionPlan {
  if (motion.length === 0) return { mode: 'regions', regions: [] };
  const margin = opts.margin ?? 0.1;
  const crop = (b: PixelBox) => squareCrop(b, frameW, frameH, opts.inputWidth, opts.inputHeight, margin);
  let crops = motion.map(crop);
  // Merge until no two crops overlap; each merge re-squares the union so the result still fits the model.
  for (let merged = true; merged; ) {
    merged = false;
    outer: for (let i = 0; i < crops.length; i++) {
      for (let j = i + 1; j < crops.length; j++) {
        if (intersectionArea(crops[i] as PixelBox, crops[j] as PixelBox) > 0) {
          const next = crop(union(crops[i] as PixelBox, crops[j] as PixelBox));
          crops = crops.filter((_, k) => k !== i && k !== j);
          crops.push(next);
          merged = true;
          break outer;
        }
      }
    }
  }
  const whole: RegionPlan = { mode: 'frame', regions: [[0, 0, frameW, frameH]] };
  if (crops.length > (opts.maxRegions ?? 1)) return whole;
  const total = crops.reduce((s, c) => s + boxArea(c), 0);
  if (total >= (opts.maxRegionFraction ?? 0.5) * frameW * frameH) return whole;
  return { mode: 'regions', regions: crops };
}
