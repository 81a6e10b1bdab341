import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import sharp from 'sharp';
import { CONTENT_TYPE } from '../../firmware-protocol/http.js';
import { THUMBNAIL_MAX_PIXELS, THUMBNAIL_MAX_SIDE } from '../../firmware-protocol/limits.js';
import type { AckItem } from '../../firmware-protocol/messages.js';
import { isVigilError } from '../../shared/errors/index.js';
import type { ResolvedIngestDeps } from './deps.js';
import { wireError } from './errors.js';

/**
 * Thumbnails are checked whole before anything is stored: the body is read (never more than the announced size,
 * itself at most `ingest.body_limits.thumbnail_bytes`), its SHA-256 compared with the signed one, and it is opened
 * as an image (sharp metadata: the JPEG headers parse, the format is JPEG, at most THUMBNAIL_MAX_SIDE px a side and
 * THUMBNAIL_MAX_PIXELS in all). Only then does the sink get it, as a stream that cannot fail. Nothing here is an
 * event emitter left without a listener: a malformed upload is a wire error for this one request or message.
 */
export interface CheckedThumbnail {
  bytes: Buffer;
  width: number;
  height: number;
}

/** Reads `source` to its end, holding it to the announced size and hash. Throws wire errors. */
async function readExactly(source: Readable, expected: { size: number; sha256: string }): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  try {
    for await (const chunk of source) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      bytes += buf.length;
      if (bytes > expected.size) {
        throw wireError('body_hash_mismatch', `thumbnail body is longer than the ${expected.size} bytes announced`);
      }
      chunks.push(buf);
    }
  } catch (err) {
    if (isVigilError(err)) throw err;
    // A client that went away mid-body (premature close, reset): transient, the box sends it again.
    throw wireError('body_hash_mismatch', `thumbnail upload ended before its end: ${(err as Error).message}`);
  }
  if (bytes !== expected.size) {
    throw wireError('body_hash_mismatch', `thumbnail body ended after ${bytes} of ${expected.size} bytes`);
  }
  const body = Buffer.concat(chunks, bytes);
  if (createHash('sha256').update(body).digest('hex') !== expected.sha256) {
    const what = 'thumbnail bytes do not match their signed SHA-256 (X-Vigil-Content-SHA256 / envelope sha256)';
    throw wireError('body_hash_mismatch', what);
  }
  return body;
}

/** Opens the bytes as an image: a JPEG of bounded dimensions, or a wire error saying what it is instead. */
export async function checkJpeg(body: Buffer): Promise<{ width: number; height: number }> {
  if (!(body.length >= 3 && body[0] === 0xff && body[1] === 0xd8 && body[2] === 0xff)) {
    const what = 'thumbnail is not a JPEG (it does not start with the SOI marker FF D8 FF)';
    throw wireError('unsupported_media_type', what);
  }
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    meta = await sharp(body, { limitInputPixels: false }).metadata();
  } catch (err) {
    const why = ((err as Error).message ?? '').split('\n')[0]!.slice(0, 200);
    throw wireError('unsupported_media_type', `thumbnail is not a decodable JPEG: ${why}`);
  }
  if (meta.format !== 'jpeg') {
    throw wireError('unsupported_media_type', `thumbnail decodes as ${meta.format ?? 'an unknown format'}, not JPEG`);
  }
  const { width, height } = meta;
  if (!width || !height) {
    throw wireError('unsupported_media_type', 'thumbnail is not a decodable JPEG: no dimensions in its header');
  }
  if (width > THUMBNAIL_MAX_SIDE || height > THUMBNAIL_MAX_SIDE || width * height > THUMBNAIL_MAX_PIXELS) {
    throw wireError(
      'payload_too_large',
      `thumbnail is ${width}×${height} px; the limits are ${THUMBNAIL_MAX_SIDE} px a side and ` +
        `${THUMBNAIL_MAX_PIXELS} px in all (THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_PIXELS)`,
      { limit_side: THUMBNAIL_MAX_SIDE, limit_pixels: THUMBNAIL_MAX_PIXELS },
    );
  }
  return { width, height };
}

/** The whole upload, read and checked (size, signed hash, decodable JPEG of bounded dimensions). */
export async function readThumbnail(
  source: Readable,
  expected: { size: number; sha256: string },
): Promise<CheckedThumbnail> {
  const bytes = await readExactly(source, expected);
  return { bytes, ...(await checkJpeg(bytes)) };
}

export interface ThumbnailUpload {
  /** Exact byte length the sender announced (Content-Length / MQTT body length). */
  size: number;
  /** The signed body hash (already authenticated by the signature). */
  sha256: string;
}

/**
 * Checks the upload against the event's announcement, streams it through a checker into the sink, acks it.
 * `source` is consumed only when the upload is admissible. Throws wire errors.
 */
export async function ingestThumbnail(
  deps: ResolvedIngestDeps,
  deviceId: string,
  eventId: string,
  source: Readable,
  upload: ThumbnailUpload,
  receivedAtMs: number,
  /** Filled with the checked bytes once read (for the dead-letter record of a later failure). */
  seen?: { body?: Buffer },
): Promise<AckItem> {
  const limit = deps.config.body_limits.thumbnail_bytes;
  if (upload.size > limit)
    throw wireError('payload_too_large', `thumbnail is ${upload.size} bytes; the limit is ${limit}`, { limit });
  if (upload.size === 0) throw wireError('unsupported_media_type', 'thumbnail body is empty; expected a JPEG');
  const event = await deps.sink.eventForThumbnail(deviceId, eventId);
  if (!event)
    throw wireError(
      'unknown_event',
      `event ${eventId} of device ${deviceId} is unknown here; send the event before its thumbnail`,
      { id: eventId },
    );
  const announced = event.announced;
  if (announced && (announced.sha256 !== upload.sha256 || announced.size !== upload.size)) {
    throw wireError(
      'thumbnail_mismatch',
      `thumbnail (${upload.size} bytes, sha256 ${upload.sha256.slice(0, 12)}…) differs from the one event ` +
        `${eventId} announced (${announced.size} bytes, sha256 ${announced.sha256.slice(0, 12)}…)`,
      { id: eventId },
    );
  }

  // Read and checked whole before the sink sees a byte; a source error ends the read, never the process.
  // (An unread rest of an HTTP body is node's to discard: destroying the request would also drop the answer.)
  source.on('error', ignore);
  const checked = await readThumbnail(source, upload);
  if (seen) seen.body = checked.bytes;
  const { status } = await deps.sink.putThumbnail(deviceId, eventId, Readable.from([checked.bytes]), {
    size: upload.size,
    sha256: upload.sha256,
    contentType: CONTENT_TYPE.jpeg,
  });
  if (status === 'conflict') {
    throw wireError('thumbnail_mismatch', `event ${eventId} already has a different thumbnail`, { id: eventId });
  }
  if (status === 'stored') {
    deps.metrics.counts.thumbnails_stored++;
    deps.sink.publish({
      type: 'thumbnail.stored',
      deviceId,
      eventId,
      sha256: upload.sha256,
      size: upload.size,
      receivedAtMs,
    });
    return { id: eventId, rev: 0, kind: 'thumbnail', status: 'accepted' };
  }
  deps.metrics.counts.thumbnails_duplicate++;
  return { id: eventId, rev: 0, kind: 'thumbnail', status: 'duplicate' };
}

function ignore(): void {
  // A body stream's late error (client gone after the answer): nothing to do, and never an unhandled 'error'.
}
