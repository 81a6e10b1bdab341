import { join } from 'node:path';
import { projectRoot } from '../../shared/paths/index.js';

/**
 * Where the built web app lives: `dist/web/` under the package root, written by `npm run build:web`
 * (cloud/web/build/) and served by the collector (cloud/server/web-app.ts). The same answer from the sources (tsx,
 * vitest) and from dist/.
 */
export const WEB_OUT_SUBDIR = join('dist', 'web');

/** Files the build writes at the root of the output (the rest is under assets/, named by content hash, and icons/). */
export const WEB_ROOT_FILES = ['index.html', 'sw.js', 'manifest.webmanifest'] as const;

export function webOutDir(): string {
  return join(projectRoot(), WEB_OUT_SUBDIR);
}
