import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVigilError } from '../../shared/errors/index.js';
import { checkBlobKey, FsBlobStore, S3BlobStore, thumbnailKey, type BlobStore } from '../blob/index.js';
import { startLocalS3, type LocalS3 } from './support/s3.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A stream that yields `bytes` in small chunks, then fails instead of ending (as ingest's checker does). */
function failingStream(bytes: Buffer, error: Error): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(bytes);
      } else setImmediate(() => this.destroy(error));
    },
  });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return isVigilError(err) ? err.code : `non-vigil: ${(err as Error).message}`;
  }
}

function chunked(buf: Buffer, size = 1000): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
  return Readable.from(parts);
}

const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(50_000, 7), Buffer.from([0xff, 0xd9])]);

function contract(name: string, open: () => Promise<BlobStore>, extra?: (s: () => BlobStore) => void): void {
  describe(name, () => {
    let store: BlobStore;
    beforeAll(async () => {
      store = await open();
    });

    it('streams a put in and a get out, checking size and hash', async () => {
      const key = thumbnailKey('default', 'dev_A', 'evt_B', sha(jpeg));
      const info = await store.put(key, chunked(jpeg), {
        size: jpeg.length,
        sha256: sha(jpeg),
        contentType: 'image/jpeg',
      });
      expect(info).toEqual({ key, size: jpeg.length, sha256: sha(jpeg) });
      expect(await store.head(key)).toEqual({ size: jpeg.length });
      const got = await store.get(key);
      expect(got?.size).toBe(jpeg.length);
      expect(sha(await readAll(got!.stream))).toBe(sha(jpeg));
    });

    it('leaves nothing behind when the bytes do not match', async () => {
      const key = 'default/dev_A/evt_C/thumbnail.jpg';
      expect(await codeOf(store.put(key, chunked(jpeg), { size: jpeg.length, sha256: 'f'.repeat(64) }))).toBe(
        'blob_hash_mismatch',
      );
      expect(await store.head(key)).toBeUndefined();
      expect(await codeOf(store.put(key, chunked(jpeg), { size: jpeg.length - 1 }))).toBe('blob_size_mismatch');
      expect(await store.head(key)).toBeUndefined();
    });

    it('leaves nothing behind when the source stream fails half-way', async () => {
      const key = 'default/dev_A/evt_D/thumbnail.jpg';
      const boom = Object.assign(new Error('body_hash_mismatch from the checker'), {});
      const code = await codeOf(store.put(key, failingStream(jpeg.subarray(0, 1000), boom), { size: jpeg.length }));
      expect(code).not.toBe('ok');
      expect(await store.head(key)).toBeUndefined();
    });

    it('answers undefined for a missing blob and deletes idempotently', async () => {
      expect(await store.get('default/none/x.jpg')).toBeUndefined();
      await store.put('default/tmp/a.jpg', Buffer.from('abc'));
      await store.delete('default/tmp/a.jpg');
      await store.delete('default/tmp/a.jpg');
      expect(await store.head('default/tmp/a.jpg')).toBeUndefined();
      await store.ping();
    });

    extra?.(() => store);
  });
}

describe('blob keys', () => {
  it('refuses keys that could escape the store', () => {
    for (const bad of ['../etc/passwd', 'a/../../b', '/abs', 'a//b', '.hidden/x', 'a/b c', '']) {
      expect(() => checkBlobKey(bad), bad).toThrow(/blob key/);
    }
    expect(checkBlobKey('default/dev_1/evt_2/thumbnail-abc.jpg')).toBe('default/dev_1/evt_2/thumbnail-abc.jpg');
  });
});

const fsDir = mkdtempSync(join(tmpdir(), 'vigil-blob-'));
afterAll(() => rmSync(fsDir, { recursive: true, force: true }));

contract(
  'filesystem blob store',
  async () => new FsBlobStore(fsDir),
  () => {
    it('writes via a temp file and renames, leaving no temp files', async () => {
      const dir = join(fsDir, 'default', 'dev_A', 'evt_B');
      expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
      expect(readdirSync(join(fsDir, 'default', 'dev_A', 'evt_C')).length).toBe(0);
    });
  },
);

let s3: LocalS3 | undefined;
afterAll(async () => {
  await s3?.close();
});

contract(
  'S3 blob store (s3rver)',
  async () => {
    s3 = await startLocalS3();
    return new S3BlobStore({
      bucket: s3.bucket,
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      prefix: 'vigil/',
    });
  },
  () => {
    it('keeps every object under its prefix, and only checked ones outside _tmp/', async () => {
      const client = new S3Client({
        endpoint: s3!.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      });
      const listed = await client.send(new ListObjectsV2Command({ Bucket: s3!.bucket }));
      const keys = (listed.Contents ?? []).map((o) => o.Key ?? '');
      expect(keys.length).toBeGreaterThan(0);
      // s3rver may finish writing an aborted upload after it was deleted; such leftovers stay under _tmp/.
      expect(keys.filter((k) => !k.startsWith('vigil/default/') && !k.startsWith('vigil/_tmp/'))).toEqual([]);
      expect(keys).toContain(
        'vigil/default/dev_A/evt_B/' + thumbnailKey('default', 'dev_A', 'evt_B', sha(jpeg)).split('/').pop(),
      );
      expect(keys.filter((k) => k.includes('evt_C') || k.includes('evt_D'))).toEqual([]);
      client.destroy();
    });
  },
);

describe('S3 readiness', () => {
  it('fails ping for a bucket that does not exist', async () => {
    s3 ??= await startLocalS3();
    const local = s3;
    const store = new S3BlobStore({
      bucket: 'no-such-bucket',
      endpoint: local.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
    });
    expect(await codeOf(store.ping())).toBe('service_unavailable');
    await store.close();
  });
});
