import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { CONTENT_TYPE } from '../../firmware-protocol/http.js';
import type { AckItem } from '../../firmware-protocol/messages.js';
import type { VigilError } from '../../shared/errors/index.js';
import type { ResolvedIngestDeps } from './deps.js';
import { wireError } from './errors.js';

/**
 * Thumbnails are streamed, never buffered whole: the body passes through a ThumbnailChecker (hash, byte count,
 * JPEG magic) on its way into the sink's streaming blob put. The checker ERRORS instead of ending when the bytes
 * are not what the signed headers announced, so the sink discards its partial write (see IngestSink.putThumbnail).
 */
export class ThumbnailChecker extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private head = Buffer.alloc(0);
  /** True once every byte arrived and matched. */
  verified = false;
  /** The wire error the checker failed with, if it did. */
  failure: VigilError | undefined;

  constructor(private readonly expected: { size: number; sha256: string }) {
    super();
  }

  private fail(err: VigilError, cb: TransformCallback): void {
    this.failure = err;
    cb(err);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.expected.size) {
      this.fail(wireError('body_hash_mismatch', `thumbnail body is longer than the ${this.expected.size} bytes announced`), cb);
      return;
    }
    if (this.head.length < 3) {
      this.head = Buffer.concat([this.head, chunk.subarray(0, 3 - this.head.length)]);
      if (this.head.length === 3 && !(this.head[0] === 0xff && this.head[1] === 0xd8 && this.head[2] === 0xff)) {
        this.fail(wireError('unsupported_media_type', 'thumbnail is not a JPEG (it does not start with the SOI marker FF D8 FF)'), cb);
        return;
      }
    }
    this.hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.bytes !== this.expected.size) {
      this.fail(wireError('body_hash_mismatch', `thumbnail body ended after ${this.bytes} of ${this.expected.size} bytes`), cb);
      return;
    }
    if (this.head.length < 3) {
      this.fail(wireError('unsupported_media_type', 'thumbnail is not a JPEG (shorter than a JPEG header)'), cb);
      return;
    }
    const actual = this.hash.digest('hex');
    if (actual !== this.expected.sha256) {
      this.fail(wireError('body_hash_mismatch', 'thumbnail bytes do not match their signed SHA-256 (X-Vigil-Content-SHA256 / envelope sha256)'), cb);
      return;
    }
    this.verified = true;
    cb();
  }
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
): Promise<AckItem> {
  const limit = deps.config.body_limits.thumbnail_bytes;
  if (upload.size > limit) throw wireError('payload_too_large', `thumbnail is ${upload.size} bytes; the limit is ${limit}`, { limit });
  if (upload.size === 0) throw wireError('unsupported_media_type', 'thumbnail body is empty; expected a JPEG');
  const event = await deps.sink.eventForThumbnail(deviceId, eventId);
  if (!event) throw wireError('unknown_event', `event ${eventId} of device ${deviceId} is unknown here; send the event before its thumbnail`, { id: eventId });
  const announced = event.announced;
  if (announced && (announced.sha256 !== upload.sha256 || announced.size !== upload.size)) {
    throw wireError(
      'thumbnail_mismatch',
      `thumbnail (${upload.size} bytes, sha256 ${upload.sha256.slice(0, 12)}…) differs from the one event ${eventId} announced (${announced.size} bytes, sha256 ${announced.sha256.slice(0, 12)}…)`,
      { id: eventId },
    );
  }

  const checker = new ThumbnailChecker(upload);
  const onSourceError = (err: Error): void => {
    checker.destroy(err);
  };
  source.once('error', onSourceError);
  // 'aborted' is how an IncomingMessage reports a client that went away mid-body.
  source.once('aborted', () => checker.destroy(wireError('body_hash_mismatch', 'thumbnail upload was aborted before its end')));
  source.pipe(checker);
  let status: 'stored' | 'duplicate' | 'conflict';
  try {
    ({ status } = await deps.sink.putThumbnail(deviceId, eventId, checker, { size: upload.size, sha256: upload.sha256, contentType: CONTENT_TYPE.jpeg }));
  } catch (err) {
    if (checker.failure) throw checker.failure;
    throw err;
  } finally {
    source.off('error', onSourceError);
    if (!checker.destroyed && !checker.verified) {
      source.unpipe(checker);
      checker.destroy();
    }
  }
  if (checker.failure) throw checker.failure; // a sink that resolved although the stream failed
  if (status === 'stored' && !checker.verified) throw new Error('sink reported a thumbnail stored before its stream was fully checked');
  if (status === 'conflict') {
    throw wireError('thumbnail_mismatch', `event ${eventId} already has a different thumbnail`, { id: eventId });
  }
  if (status === 'stored') {
    deps.metrics.counts.thumbnails_stored++;
    deps.sink.publish({ type: 'thumbnail.stored', deviceId, eventId, sha256: upload.sha256, size: upload.size, receivedAtMs });
    return { id: eventId, rev: 0, kind: 'thumbnail', status: 'accepted' };
  }
  deps.metrics.counts.thumbnails_duplicate++;
  return { id: eventId, rev: 0, kind: 'thumbnail', status: 'duplicate' };
}
