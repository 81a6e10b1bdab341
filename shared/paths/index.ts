import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VigilError } from '../errors/common.js';

let cachedRoot: string | undefined;

/** The repository/package root: the nearest folder above this file holding package.json (works from dist too). */
export function projectRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'firmware-protocol'))) {
      cachedRoot = dir;
      return dir;
    }
    const up = dirname(dir);
    if (up === dir)
      throw new VigilError(
        'project_root_not_found',
        'cannot find the Vigil package root above ' + fileURLToPath(import.meta.url),
      );
    dir = up;
  }
}

/**
 * Where the test assets live: `VIGIL_ASSETS`, else `../shared` beside the repository.
 * Holds `models/yolox_nano.onnx` and `media/*`. Never part of the repository itself.
 */
export function assetsDir(): string {
  const fromEnv = process.env.VIGIL_ASSETS;
  return fromEnv ? resolve(fromEnv) : resolve(projectRoot(), '..', 'shared');
}

export function assetPath(...parts: string[]): string {
  return join(assetsDir(), ...parts);
}
