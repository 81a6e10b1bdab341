import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { VigilError } from '../errors.js';

/**
 * The picture the LLM sees: the stored thumbnail, decoded, shrunk to fit `maxPx` on its longest side (never
 * enlarged), re-encoded as JPEG. Vision models bill (and slow down) by pixels; 512 px is plenty to tell a person
 * from a shadow. The SHA-256 is of the ORIGINAL bytes, the same digest the store keeps for the thumbnail, so the
 * cache recognises a picture whatever size it is sent at.
 */
export interface PreparedImage {
  sha256: string;
  jpeg: Buffer;
  width: number;
  height: number;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export async function prepareImage(
  original: Uint8Array,
  options: { maxPx: number; quality: number },
): Promise<PreparedImage> {
  try {
    const { data, info } = await sharp(original, { failOn: 'error' })
      .rotate()
      .resize({ width: options.maxPx, height: options.maxPx, fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: options.quality, mozjpeg: false })
      .toBuffer({ resolveWithObject: true });
    return { sha256: sha256Hex(original), jpeg: data, width: info.width, height: info.height };
  } catch (err) {
    throw new VigilError(
      'thumbnail_unreadable',
      `thumbnail could not be decoded for re-classification: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}
