import { spawn } from 'node:child_process';
import { VigilError } from '../errors.js';
import { resolveFfmpeg } from './ffmpeg-path.js';

/**
 * A generated test scene: a white square crossing a grey background, appearing and disappearing at known times.
 * It needs no footage, so the demo, the tests and a field tech without a camera can all run the pipeline; its
 * ground truth (`syntheticSceneTruth`) says exactly when motion starts and ends.
 */
export interface SyntheticSceneOptions {
  width?: number;
  height?: number;
  fps?: number;
  /** Clip length, seconds. */
  durationS?: number;
  /** Background luma/grey level 0..255. */
  background?: number;
  /** Square side, pixels. */
  boxSize?: number;
  /** When the square appears and disappears, seconds. */
  startS?: number;
  endS?: number;
  /** Horizontal speed, pixels per second (default: crosses most of the frame). */
  speedPxPerS?: number;
  /** Temporal sensor noise strength (ffmpeg `noise` alls, 0 = clean). */
  noise?: number;
}

export interface SyntheticSceneTruth {
  motionStartMs: number;
  motionEndMs: number;
  /** Square position at time t (ms), or undefined when not shown: [x1, y1, x2, y2] in pixels. */
  boxAt(ms: number): [number, number, number, number] | undefined;
}

function resolved(o: SyntheticSceneOptions): Required<SyntheticSceneOptions> {
  const width = o.width ?? 640;
  const height = o.height ?? 360;
  const boxSize = o.boxSize ?? Math.round(height / 6);
  const startS = o.startS ?? 2;
  const endS = o.endS ?? 6;
  const margin = Math.round(width / 16);
  const speed = o.speedPxPerS ?? (width - boxSize - 2 * margin) / Math.max(0.1, endS - startS);
  const r = {
    width,
    height,
    fps: o.fps ?? 10,
    durationS: o.durationS ?? 9,
    background: o.background ?? 96,
    boxSize,
    startS,
    endS,
    speedPxPerS: speed,
    noise: o.noise ?? 0,
  };
  if (r.width % 2 || r.height % 2) throw new RangeError('synthetic scene: width and height must be even');
  if (!(r.startS >= 0 && r.endS > r.startS && r.durationS >= r.endS))
    throw new RangeError('synthetic scene: need 0 <= startS < endS <= durationS');
  return r;
}

function boxX0(o: Required<SyntheticSceneOptions>): number {
  return Math.round(o.width / 16);
}

function boxY(o: Required<SyntheticSceneOptions>): number {
  return Math.round((o.height - o.boxSize) / 2);
}

/** The lavfi filtergraph (without the `lavfi:` prefix). */
export function syntheticSceneGraph(options: SyntheticSceneOptions = {}): string {
  const o = resolved(options);
  const grey = o.background.toString(16).padStart(2, '0');
  const bg = `color=c=0x${grey}${grey}${grey}:s=${o.width}x${o.height}:r=${o.fps}:d=${o.durationS}`;
  const noisy = o.noise > 0 ? `,noise=alls=${o.noise}:allf=t` : '';
  const x = `${boxX0(o)}+(t-${o.startS})*${o.speedPxPerS}`;
  return (
    `${bg}${noisy}[bg];color=c=white:s=${o.boxSize}x${o.boxSize}:r=${o.fps}[box];` +
    `[bg][box]overlay=x='${x}':y=${boxY(o)}:shortest=1:enable='gte(t,${o.startS})*lt(t,${o.endS})'[out0]`
  );
}

/** A camera `input` string for the scene: `lavfi:<graph>`. */
export function syntheticSceneInput(options: SyntheticSceneOptions = {}): string {
  return `lavfi:${syntheticSceneGraph(options)}`;
}

export function syntheticSceneTruth(options: SyntheticSceneOptions = {}): SyntheticSceneTruth {
  const o = resolved(options);
  return {
    motionStartMs: o.startS * 1000,
    motionEndMs: o.endS * 1000,
    boxAt(ms: number) {
      const t = ms / 1000;
      if (t < o.startS || t >= o.endS) return undefined;
      const x = Math.round(boxX0(o) + (t - o.startS) * o.speedPxPerS);
      return [x, boxY(o), x + o.boxSize, boxY(o) + o.boxSize];
    },
  };
}

/**
 * Writes the scene to a video file (`.mp4`: H.264; anything else: MJPEG), for tests and demos that need a file
 * rather than a lavfi input.
 */
export async function writeSyntheticClip(
  path: string,
  options: SyntheticSceneOptions = {},
  ffmpegPath?: string,
): Promise<void> {
  const ffmpeg = resolveFfmpeg(ffmpegPath);
  const codec = path.toLowerCase().endsWith('.mp4')
    ? ['-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '18', '-pix_fmt', 'yuv420p']
    : ['-c:v', 'mjpeg', '-q:v', '3', '-pix_fmt', 'yuvj420p'];
  const args = [
    '-hide_banner',
    '-nostdin',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    syntheticSceneGraph(options),
    ...codec,
    path,
  ];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(ffmpeg, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) resolve();
      else
        reject(
          new VigilError(
            'synthetic_clip_failed',
            `cannot write synthetic clip ${path}: ${stderr.trim().split('\n').pop() ?? `exit ${code}`}`,
          ),
        );
    });
  });
}
