import { existsSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdirPrivateSync, PRIVATE_FILE_MODE } from '../../shared/fs/index.js';
import { VigilError } from '../errors.js';
import { buildMotionModel, MOTION_GRAPH_VERSION, type MotionGraphParams } from './graph.js';

/**
 * The motion model is never committed: it is generated on first use into a cache folder, one file per set of
 * graph parameters and graph version (the file name is the key), and reused afterwards.
 */
export function defaultMotionCacheDir(): string {
  const dataDir = process.env.VIGIL_DATA_DIR;
  return dataDir ? join(dataDir, 'models') : join(tmpdir(), 'vigil-models');
}

export function motionModelFileName(p: MotionGraphParams): string {
  const size = `${p.width}x${p.height}`;
  return `motion-v${MOTION_GRAPH_VERSION}-${size}-k${p.factor}-${p.downscale}-b${p.blur}-d${p.dilate}.onnx`;
}

export interface EnsuredModel {
  path: string;
  /** True when this call wrote the file. */
  created: boolean;
  /**
   * The model itself, when it could not be written to the cache (full disk): load it from memory. Motion
   * detection does not stop because the disk is full; the next start caches it.
   */
  bytes?: Uint8Array;
  /** Why the cache write failed, when `bytes` is set. */
  cacheError?: string;
}

/** Path of the cached model for `p`, generating it first when absent. */
export function ensureMotionModel(p: MotionGraphParams, cacheDir = defaultMotionCacheDir()): EnsuredModel {
  const path = join(cacheDir, motionModelFileName(p));
  if (existsSync(path)) return { path, created: false };
  const bytes = buildMotionModel(p);
  try {
    // Owner-only like the rest of the data dir (folders 0700, files 0600) whatever the umask.
    mkdirPrivateSync(cacheDir);
    // Write then rename: a reader (another camera's detector) never sees a half-written model.
    const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(tmp, bytes, { mode: PRIVATE_FILE_MODE });
    renameSync(tmp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT')
      return { path, created: false, bytes, cacheError: (err as Error).message };
    throw new VigilError(
      'motion_model_write_failed',
      `cannot write the motion model to ${path}: ${(err as Error).message}`,
      {
        cause: err,
        details: { path },
      },
    );
  }
  return { path, created: true };
}
