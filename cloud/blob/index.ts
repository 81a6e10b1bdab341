import { join } from 'node:path';
import type { BlobStore } from './blob-store.js';
import { FsBlobStore } from './fs.js';
import { S3BlobStore, type S3BlobOptions } from './s3.js';

export * from './blob-store.js';
export { FsBlobStore } from './fs.js';
export { S3BlobStore } from './s3.js';

export interface BlobConfig {
  kind: 'fs' | 's3';
  /** Directory for `fs`; default `<data_dir>/thumbnails`. */
  dir?: string | undefined;
  s3?: Partial<S3BlobOptions> | undefined;
}

export function openBlobStore(config: BlobConfig, dataDir: string): BlobStore {
  if (config.kind === 's3') {
    const s3 = config.s3 ?? {};
    if (!s3.bucket) throw new Error('blob.s3.bucket is required when blob.kind is s3');
    return new S3BlobStore({
      bucket: s3.bucket,
      region: s3.region ?? 'us-east-1',
      forcePathStyle: s3.forcePathStyle ?? true,
      ...s3,
    } as S3BlobOptions);
  }
  return new FsBlobStore(config.dir ?? join(dataDir, 'thumbnails'));
}
