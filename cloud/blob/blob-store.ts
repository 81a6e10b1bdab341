import type { Readable } from 'node:stream';
import { VigilError } from '../errors.js';

/**
 * Where thumbnail bytes live: a local directory by default, any S3-compatible bucket when configured. Keys are
 * slash-separated paths like `tenant/device/event/thumbnail-<sha>.jpg`; the database records the key, size and
 * SHA-256, and only after `put` resolved, so a record never points at a missing or partial blob.
 */
export interface BlobPutOptions {
  /** Exact byte length expected; the put fails (and leaves nothing) if the body differs. */
  size?: number | undefined;
  /** Expected lowercase hex SHA-256; the put fails (and leaves nothing) if the body differs. */
  sha256?: string | undefined;
  contentType?: string | undefined;
}

export interface BlobInfo {
  key: string;
  size: number;
  sha256: string;
}

export interface BlobObject {
  stream: Readable;
  size: number;
}

export interface BlobStore {
  readonly kind: 'fs' | 's3';
  /** Streams `body` to `key`; visible under `key` only once complete, checked and durable. */
  put(key: string, body: Readable | Buffer, options?: BlobPutOptions): Promise<BlobInfo>;
  /** Streams a blob; undefined when absent. */
  get(key: string): Promise<BlobObject | undefined>;
  /** Size of a blob; undefined when absent. */
  head(key: string): Promise<{ size: number } | undefined>;
  delete(key: string): Promise<void>;
  /** Throws when the store cannot be written/read (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Checks a key: 1-8 segments of [A-Za-z0-9_.-] (no `..`, no leading dot), so it maps safely onto a path. */
export function checkBlobKey(key: string): string {
  const parts = key.split('/');
  if (parts.length < 1 || parts.length > 8 || parts.some((p) => !SEGMENT.test(p) || p.includes('..'))) {
    throw new VigilError(
      'invalid_blob_key',
      `blob key "${key.slice(0, 200)}" must be 1-8 segments of [A-Za-z0-9_.-], not starting with a dot`,
    );
  }
  return key;
}

/**
 * Key of an event's thumbnail. The content hash in the name keeps a replaced thumbnail from overwriting the old bytes.
 */
export function thumbnailKey(tenantId: string, deviceId: string, eventId: string, sha256: string): string {
  return checkBlobKey(`${tenantId}/${deviceId}/${eventId}/thumbnail-${sha256.slice(0, 16)}.jpg`);
}

export function sizeMismatch(key: string, expected: number, got: number): VigilError {
  return new VigilError(
    'blob_size_mismatch',
    `blob ${key}: expected ${expected} bytes, got ${got}${got > expected ? ' or more' : ''}`,
    { details: { expected, got } },
  );
}

export function hashMismatch(key: string): VigilError {
  return new VigilError('blob_hash_mismatch', `blob ${key}: the bytes do not match the expected SHA-256`);
}
