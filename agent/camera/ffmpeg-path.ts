import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { VigilError } from '../errors.js';

/**
 * Which ffmpeg runs: the configured path (or $VIGIL_FFMPEG), else `ffmpeg` on PATH, else the static build that
 * the `@ffmpeg-installer/ffmpeg` package ships. A configured path that is not executable is an error, not a
 * silent fallback: the operator asked for that binary.
 */
function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (executable(candidate)) return candidate;
  }
  return undefined;
}

function bundled(): { path?: string; tried: string } {
  try {
    const require = createRequire(import.meta.url);
    const mod = require('@ffmpeg-installer/ffmpeg') as { path?: string };
    if (mod.path && executable(mod.path)) return { path: mod.path, tried: `@ffmpeg-installer/ffmpeg (${mod.path})` };
    return { tried: `@ffmpeg-installer/ffmpeg (${mod.path ?? 'no binary for this platform'})` };
  } catch (err) {
    return { tried: `@ffmpeg-installer/ffmpeg (${(err as Error).message.split('\n')[0]})` };
  }
}

const cache = new Map<string, string>();

export function resolveFfmpeg(configured?: string): string {
  const wanted = configured ?? process.env.VIGIL_FFMPEG;
  const key = wanted ?? '';
  const hit = cache.get(key);
  if (hit) return hit;
  let found: string | undefined;
  if (wanted) {
    const p = isAbsolute(wanted) || wanted.includes('/') ? resolve(wanted) : onPath(wanted);
    if (!p || !executable(p)) {
      throw new VigilError(
        'ffmpeg_not_found',
        `ffmpeg not found: the configured ffmpeg "${wanted}" is not an executable file`,
        {
          details: { tried: [wanted] },
        },
      );
    }
    found = p;
  } else {
    const tried = ['ffmpeg on PATH'];
    found = onPath('ffmpeg');
    if (!found) {
      const b = bundled();
      tried.push(b.tried);
      found = b.path;
    }
    if (!found) {
      throw new VigilError(
        'ffmpeg_not_found',
        `ffmpeg not found; tried: ${tried.join(', ')}. Install ffmpeg or set ffmpeg.path`,
        {
          details: { tried },
        },
      );
    }
  }
  cache.set(key, found);
  return found;
}
