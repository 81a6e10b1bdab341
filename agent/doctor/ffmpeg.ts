import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import { describeError, isVigilError } from '../../shared/errors/index.js';
import { resolveFfmpeg } from '../camera/index.js';
import type { AgentConfig } from '../config.js';
import { fail, pass, type CheckResult } from './report.js';

/** The ffmpeg binaries the cameras will run: each distinct configured `ffmpeg.path`, else the default lookup. */
export function ffmpegChoices(
  config: AgentConfig | undefined,
): { configured: string | undefined; cameras: string[] }[] {
  const byPath = new Map<string | undefined, string[]>();
  const cameras = config?.cameras.filter((c) => c.enabled) ?? [];
  if (cameras.length === 0) byPath.set(undefined, []);
  for (const c of cameras) {
    const list = byPath.get(c.ffmpeg.path) ?? [];
    list.push(c.name);
    byPath.set(c.ffmpeg.path, list);
  }
  return [...byPath.entries()].map(([configured, names]) => ({ configured, cameras: names }));
}

function source(configured: string | undefined, path: string): string {
  if (configured) return 'configured ffmpeg.path';
  if (process.env.VIGIL_FFMPEG) return '$VIGIL_FFMPEG';
  if (path.includes('@ffmpeg-installer')) return 'bundled @ffmpeg-installer/ffmpeg';
  return `ffmpeg on PATH (${dirname(path)})`;
}

function versionOf(path: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(path, ['-hide_banner', '-version'], { timeout: timeoutMs }, (err, stdout) => {
      if (err) return reject(err);
      const first = stdout.split('\n')[0] ?? '';
      const m = /^ffmpeg version (\S+)/.exec(first);
      resolve(m?.[1] ?? (first.trim() || 'unknown version'));
    });
  });
}

/** One check per distinct ffmpeg: found (and from where), runs, and its version. */
export async function checkFfmpeg(
  config: AgentConfig | undefined,
  timeoutMs = 10_000,
): Promise<{ results: CheckResult[]; broken: Set<string> }> {
  const results: CheckResult[] = [];
  const broken = new Set<string>();
  const choices = ffmpegChoices(config);
  for (const { configured, cameras } of choices) {
    const name = choices.length > 1 ? `ffmpeg(${cameras.join(',')})` : 'ffmpeg';
    const forCameras = cameras.length ? ` (cameras ${cameras.join(', ')})` : '';
    let path: string;
    try {
      path = resolveFfmpeg(configured);
    } catch (err) {
      for (const c of cameras) broken.add(c);
      const code = isVigilError(err) ? err.code : 'ffmpeg_not_found';
      results.push(
        fail(
          name,
          `${code}: ${describeError(err).replace(/^ffmpeg_not_found: /, '')}${forCameras}`,
          configured
            ? `fix cameras[].ffmpeg.path (${configured}) or remove it to use the bundled ffmpeg`
            : 'run `npm install` in the Vigil folder (it ships a static ffmpeg), install the ffmpeg package, or ' +
                'set ffmpeg.path / $VIGIL_FFMPEG',
        ),
      );
      continue;
    }
    try {
      const version = await versionOf(path, timeoutMs);
      results.push(pass(name, `ffmpeg ${version} at ${path} (${source(configured, path)})${forCameras}`));
    } catch (err) {
      for (const c of cameras) broken.add(c);
      results.push(
        fail(
          name,
          `ffmpeg_failed: ${path} -version did not run: ${(err as Error).message.split('\n')[0]}`,
          'the binary is not a working ffmpeg for this machine (wrong architecture or missing libraries); point ' +
            'ffmpeg.path at one that runs',
        ),
      );
    }
  }
  return { results, broken };
}
