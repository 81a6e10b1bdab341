import { spawn } from 'node:child_process';
import { VigilError } from '../errors.js';
import { cameraInput } from '../camera/input.js';
import { resolveFfmpeg } from '../camera/ffmpeg-path.js';

/**
 * The native frame size of a file or lavfi input, read from ffmpeg's stream description (no decoding). Used to
 * pick an analysis size that keeps the aspect ratio. `undefined` when ffmpeg names no video stream size.
 */
export async function probeVideoSize(
  input: string,
  ffmpegPath?: string,
): Promise<{ width: number; height: number } | undefined> {
  const ffmpeg = resolveFfmpeg(ffmpegPath);
  const { args } = cameraInput(input, { realtime: false, loop: false, extra: [] });
  const stderr = await new Promise<string>((resolve, reject) => {
    const child = spawn(ffmpeg, ['-hide_banner', '-nostdin', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let text = '';
    child.stderr.on('data', (c: Buffer) => (text += c.toString()));
    child.once('error', reject);
    child.once('close', () => resolve(text));
  });
  const m = /Stream #\d+:\d+.*?: Video: .*?(\d{2,5})x(\d{2,5})/.exec(stderr);
  if (!m) {
    const last = stderr.trim().split('\n').pop() ?? '';
    if (/No such file|does not exist|Invalid data|Error opening/i.test(last))
      throw new VigilError('input_invalid', `cannot open ${input}: ${last}`, { details: { input } });
    return undefined;
  }
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** An analysis size: the native size when it is at most `maxWidth` wide, else scaled down; always even. */
export function analysisSize(
  native: { width: number; height: number } | undefined,
  maxWidth = 640,
): { width: number; height: number } {
  if (!native) return { width: 640, height: 360 };
  const scale = Math.min(1, maxWidth / native.width);
  const even = (v: number) => Math.max(16, Math.round(v / 2) * 2);
  return { width: even(native.width * scale), height: even(native.height * scale) };
}
