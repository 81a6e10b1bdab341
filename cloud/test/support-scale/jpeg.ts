import { randomBytes } from 'node:crypto';
import sharp from 'sharp';

/** Real JPEGs for simulated boxes: random noise, so every picture is different and hardly compresses. */

/** A small noise JPEG (distinct bytes on every call: the collector's answer cache never hits). */
export function noiseJpeg(width = 48, height = 32, quality = 80): Promise<Buffer> {
  return sharp(randomBytes(width * height * 3), { raw: { width, height, channels: 3 } })
    .jpeg({ quality })
    .toBuffer();
}

/** A noise JPEG of about `bytes` (within a few percent), e.g. the 20 KB thumbnail of a fleet benchmark. */
export async function jpegOfAbout(bytes: number): Promise<Buffer> {
  let side = Math.max(16, Math.round(Math.sqrt(bytes / 1.2)));
  let best = await noiseJpeg(side, side);
  for (let i = 0; i < 8 && Math.abs(best.length - bytes) > bytes * 0.03; i++) {
    side = Math.max(16, Math.round(side * Math.sqrt(bytes / best.length)));
    best = await noiseJpeg(side, side);
  }
  return best;
}
