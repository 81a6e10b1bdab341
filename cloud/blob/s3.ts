import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable, Transform } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { isVigilError, VigilError } from '../errors.js';
import { checkBlobKey, hashMismatch, sizeMismatch } from './blob-store.js';
import type { BlobInfo, BlobObject, BlobPutOptions, BlobStore } from './blob-store.js';

export interface S3BlobOptions {
  bucket: string;
  /** Custom endpoint (MinIO, Ceph, s3rver…); omit for AWS. */
  endpoint?: string | undefined;
  region: string;
  /** Path-style URLs (`endpoint/bucket/key`), which S3-compatible servers need. */
  forcePathStyle: boolean;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  /** Prefix inside the bucket, e.g. `vigil/`. */
  prefix?: string | undefined;
}

/**
 * Blobs in an S3-compatible bucket. A put streams to a temporary key (`_tmp/…`, a name no real key can have),
 * hashing on the way; only when size and hash check out is it copied (server-side) to its key and the temporary
 * object deleted. Not every S3-compatible server is as atomic as S3 about aborted PUTs (some keep the partial
 * object), so the final key never holds anything unchecked.
 */
export class S3BlobStore implements BlobStore {
  readonly kind = 's3' as const;
  private readonly client: S3Client;

  constructor(private readonly options: S3BlobOptions) {
    this.client = new S3Client({
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.accessKeyId && options.secretAccessKey
        ? { credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey } }
        : {}),
      // Plain PUTs: S3-compatible servers do not all understand aws-chunked trailing checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  private key(key: string): string {
    return (this.options.prefix ?? '') + checkBlobKey(key);
  }

  async put(key: string, body: Readable | Buffer, options: BlobPutOptions = {}): Promise<BlobInfo> {
    const objectKey = this.key(key);
    const tempKey = `${this.options.prefix ?? ''}_tmp/${randomBytes(12).toString('hex')}`;
    let data: Buffer | Readable;
    let length: number;
    if (Buffer.isBuffer(body)) {
      data = body;
      length = body.length;
    } else if (options.size !== undefined) {
      data = body;
      length = options.size;
    } else {
      // Unknown length: S3 needs one for a single PUT; small blobs are read whole.
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
      data = Buffer.concat(chunks);
      length = data.length;
    }
    if (options.size !== undefined && length !== options.size) throw sizeMismatch(key, options.size, length);
    const hash = createHash('sha256');
    let seen = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        if (seen > length) return done(sizeMismatch(key, length, seen));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const source = Buffer.isBuffer(data) ? Readable.from([data]) : data;
    const piped = new PassThrough();
    // The SDK does not notice a body stream that fails: abort the request instead, so nothing is committed.
    const abort = new AbortController();
    let failure: unknown;
    const fail = (err: unknown): void => {
      failure ??= err;
      abort.abort();
      piped.destroy();
    };
    piped.on('error', () => undefined);
    source.on('error', fail);
    counter.on('error', fail);
    source.pipe(counter).pipe(piped);
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.options.bucket,
          Key: tempKey,
          Body: piped,
          ContentLength: length,
          ContentType: options.contentType ?? 'application/octet-stream',
        }),
        { abortSignal: abort.signal },
      );
    } catch (err) {
      if (!Buffer.isBuffer(body) && !body.destroyed) body.destroy();
      await this.deleteObject(tempKey);
      // The stream's own error (e.g. a size or hash checker) says more than the SDK's wrapper.
      const cause = failure ?? err;
      throw isVigilError(cause)
        ? cause
        : new VigilError('service_unavailable', `S3 put ${objectKey} failed: ${(cause as Error).message}`, { cause });
    }
    const sha256 = hash.digest('hex');
    const problem =
      failure !== undefined
        ? isVigilError(failure)
          ? failure
          : new VigilError(
              'service_unavailable',
              `S3 put ${objectKey}: the source failed: ${(failure as Error).message}`,
              { cause: failure },
            )
        : seen !== length
          ? sizeMismatch(key, length, seen)
          : options.sha256 !== undefined && sha256 !== options.sha256
            ? hashMismatch(key)
            : undefined;
    if (problem) {
      await this.deleteObject(tempKey);
      throw problem;
    }
    try {
      await this.client.send(
        new CopyObjectCommand({
          Bucket: this.options.bucket,
          Key: objectKey,
          CopySource: `${this.options.bucket}/${tempKey}`,
          ContentType: options.contentType ?? 'application/octet-stream',
          MetadataDirective: 'REPLACE',
        }),
      );
    } catch (err) {
      throw unavailable('copy', key, err);
    } finally {
      await this.deleteObject(tempKey);
    }
    return { key, size: length, sha256 };
  }

  private async deleteObject(objectKey: string): Promise<void> {
    await this.client
      .send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: objectKey }))
      .catch(() => undefined);
  }

  async get(key: string): Promise<BlobObject | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: this.key(key) }));
      if (!r.Body) return undefined;
      return { stream: r.Body as Readable, size: Number(r.ContentLength ?? 0) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw unavailable('get', key, err);
    }
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: this.key(key) }));
      return { size: Number(r.ContentLength ?? 0) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw unavailable('head', key, err);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.key(key) }));
    } catch (err) {
      if (!isNotFound(err)) throw unavailable('delete', key, err);
    }
  }

  async ping(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }));
    } catch (err) {
      throw new VigilError(
        'service_unavailable',
        `S3 bucket ${this.options.bucket} is not reachable: ${(err as Error).name}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

function unavailable(op: string, key: string, err: unknown): VigilError {
  return new VigilError('service_unavailable', `S3 ${op} ${key} failed: ${(err as Error).message}`, { cause: err });
}
