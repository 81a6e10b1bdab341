import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, constants, open, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { VigilError } from '../errors.js';
import { fsyncDir, mkdirPrivate, PRIVATE_FILE_MODE } from '../../shared/fs/index.js';
import { checkBlobKey, hashMismatch, sizeMismatch } from './blob-store.js';
import type { BlobInfo, BlobObject, BlobPutOptions, BlobStore } from './blob-store.js';

/**
 * Blobs as files under one directory. A put writes `<name>.tmp-<random>`, fsyncs it, renames it over the final
 * name and fsyncs the directory: a reader sees the old file or the complete new one, and after a crash the blob is
 * either fully there or absent (a stray temp file at worst). New folders are 0700 and files 0600, whatever the umask.
 */
export class FsBlobStore implements BlobStore {
  readonly kind = 'fs' as const;

  constructor(readonly dir: string) {}

  private path(key: string): string {
    return join(this.dir, ...checkBlobKey(key).split('/'));
  }

  async put(key: string, body: Readable | Buffer, options: BlobPutOptions = {}): Promise<BlobInfo> {
    const final = this.path(key);
    await mkdirPrivate(dirname(final));
    const temp = `${final}.tmp-${randomBytes(6).toString('hex')}`;
    const handle = await open(temp, 'wx', PRIVATE_FILE_MODE);
    const hash = createHash('sha256');
    let size = 0;
    let ok = false;
    try {
      await handle.chmod(PRIVATE_FILE_MODE);
      const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
      for await (const chunk of source) {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        size += buf.length;
        if (options.size !== undefined && size > options.size) throw sizeMismatch(key, options.size, size);
        hash.update(buf);
        await handle.write(buf);
      }
      if (options.size !== undefined && size !== options.size) throw sizeMismatch(key, options.size, size);
      const sha256 = hash.digest('hex');
      if (options.sha256 !== undefined && sha256 !== options.sha256) throw hashMismatch(key);
      await handle.sync();
      await handle.close();
      await rename(temp, final);
      await fsyncDir(dirname(final));
      ok = true;
      return { key, size, sha256 };
    } finally {
      if (!ok) {
        await handle.close().catch(() => undefined);
        await unlink(temp).catch(() => undefined);
        if (!Buffer.isBuffer(body) && !body.destroyed) body.destroy();
      }
    }
  }

  async get(key: string): Promise<BlobObject | undefined> {
    const path = this.path(key);
    try {
      const s = await stat(path);
      return { stream: createReadStream(path), size: s.size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    try {
      return { size: (await stat(this.path(key))).size };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await unlink(this.path(key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  async ping(): Promise<void> {
    try {
      await mkdirPrivate(this.dir);
      await access(this.dir, constants.W_OK | constants.R_OK);
    } catch (err) {
      throw new VigilError(
        'service_unavailable',
        `blob directory ${this.dir} is not writable: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  async close(): Promise<void> {}
}
