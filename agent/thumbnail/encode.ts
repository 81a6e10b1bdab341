import sharp from 'sharp';
import type { PixelBox } from '../camera/frame.js';
import { cutYuv420, drawBox, yuv420ToRgb } from './yuv.js';

/** A kept picture of an event: a private yuv420p image (a whole frame or a cut of one) and the object's box in it. */
export interface BestPicture {
  width: number;
  height: number;
  data: Buffer;
  box: PixelBox;
  score: number;
}

export interface ThumbnailOptions {
  /** Longest side of the crop thumbnail (default 320). */
  maxSize?: number;
  /** Context around the object, as a fraction of its size on each side (default 0.15). */
  margin?: number;
  quality?: number;
  /** Longest side of the full-frame snapshot (default 640; 0 disables snapshots). */
  snapshotMaxSize?: number;
  snapshotQuality?: number;
}

/** The crop around the box with margin, clamped to the frame. */
export function cropBox(p: BestPicture, margin: number): PixelBox {
  const [x1, y1, x2, y2] = p.box;
  const mx = (x2 - x1) * margin;
  const my = (y2 - y1) * margin;
  return [Math.max(0, x1 - mx), Math.max(0, y1 - my), Math.min(p.width, x2 + mx), Math.min(p.height, y2 + my)];
}

/**
 * Cuts the thumbnail's region (box + margin) out of a picture: what `encodeThumbnailPicture` needs, a few KB
 * instead of the whole frame. `encodeThumbnailPicture` of the cut (same margin) gives the same JPEG as of the whole
 * picture.
 */
export function cutThumbnailSource(p: BestPicture, margin: number): BestPicture {
  const cut = cutYuv420(p.data, p.width, p.height, cropBox(p, margin));
  const [x1, y1, x2, y2] = p.box;
  return {
    width: cut.width,
    height: cut.height,
    data: cut.data,
    box: [x1 - cut.x, y1 - cut.y, x2 - cut.x, y2 - cut.y],
    score: p.score,
  };
}

/** An encoded picture as the pipeline hands it on: the JPEG and its size (known from encoding, never read back). */
export interface EncodedPicture {
  jpeg: Buffer;
  width: number;
  height: number;
}

async function toJpeg(
  rgb: { data: Buffer; width: number; height: number },
  max: number,
  quality: number,
): Promise<EncodedPicture> {
  const { data, info } = await sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } })
    .resize({ width: max, height: max, fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality })
    .toBuffer({ resolveWithObject: true });
  return { jpeg: data, width: info.width, height: info.height };
}

/** JPEG crop around the object, no larger than `maxSize` on its longest side (never enlarged), with its size. */
export function encodeThumbnailPicture(p: BestPicture, opts: ThumbnailOptions = {}): Promise<EncodedPicture> {
  const rgb = yuv420ToRgb(p.data, p.width, p.height, cropBox(p, opts.margin ?? 0.15));
  return toJpeg(rgb, opts.maxSize ?? 320, opts.quality ?? 80);
}

/** JPEG of the whole frame with the object's box drawn, with its size. */
export function encodeSnapshotPicture(p: BestPicture, opts: ThumbnailOptions = {}): Promise<EncodedPicture> {
  const rgb = yuv420ToRgb(p.data, p.width, p.height);
  const thickness = Math.max(2, Math.round(Math.max(p.width, p.height) / 320));
  drawBox(rgb, p.box, [255, 48, 48], thickness);
  return toJpeg(rgb, opts.snapshotMaxSize ?? 640, opts.snapshotQuality ?? 75);
}

/**
 * JPEG of a whole yuv420p frame as the vision stages see it, `width` wide when asked (height follows the frame; never
 * enlarged), with its size: `vigil-agent snapshot` and the `snapshot` command.
 */
export async function encodeFramePicture(
  frame: { width: number; height: number; data: Buffer },
  opts: { width?: number | undefined; quality: number },
): Promise<EncodedPicture> {
  const rgb = yuv420ToRgb(frame.data, frame.width, frame.height);
  const w = Math.min(opts.width ?? frame.width, frame.width);
  const h = Math.max(1, Math.round((frame.height * w) / frame.width));
  let img = sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } });
  if (w !== frame.width || h !== frame.height) img = img.resize({ width: w, height: h, fit: 'fill' });
  const { data, info } = await img.jpeg({ quality: opts.quality }).toBuffer({ resolveWithObject: true });
  return { jpeg: data, width: info.width, height: info.height };
}
