import { readFile } from 'node:fs/promises';
import { VigilError } from '../errors.js';
import type { RgbImage } from './preprocess.js';

/**
 * Decodes an image file (JPEG, PNG, WebP, …) to interleaved 8-bit RGB. Greyscale expands to three equal
 * channels; alpha is dropped; EXIF orientation is applied.
 */
export async function loadRgbImage(path: string): Promise<RgbImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new VigilError('image_invalid', `cannot read image ${path}: ${(err as Error).message.split('\n')[0]}`, {
      cause: err,
      details: { path },
    });
  }
  try {
    // Loaded on first use: libvips costs about 30 MB of RSS once loaded, and a detector on camera frames never
    // decodes image files.
    const { default: sharp } = await import('sharp');
    const { data, info } = await sharp(bytes)
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, data: toRgb(data, info.width, info.height, info.channels) };
  } catch (err) {
    // libvips repeats its reasons over several lines; the first says it.
    const reason = (err as Error).message.split('\n')[0]?.trim();
    throw new VigilError('image_invalid', `cannot decode image ${path}: ${reason}`, { cause: err, details: { path } });
  }
}

function toRgb(data: Buffer, width: number, height: number, channels: number): Buffer {
  if (channels === 3) return data;
  const out = Buffer.allocUnsafe(width * height * 3);
  for (let i = 0, j = 0; i < width * height; i++, j += 3) {
    const p = i * channels;
    const r = data[p] as number;
    out[j] = r;
    out[j + 1] = channels >= 3 ? (data[p + 1] as number) : r;
    out[j + 2] = channels >= 3 ? (data[p + 2] as number) : r;
  }
  return out;
}
