import { dirname } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Command } from 'commander';
import sharp from 'sharp';
import { VigilError } from '../errors.js';
import { grabFrame, type Frame } from '../camera/index.js';
import { yuv420ToRgb } from '../thumbnail/index.js';
import {
  addConfigOptions,
  cameraStreamConfig,
  findCamera,
  loadCliConfig,
  writeFileAtomic,
  type ConfigCliOptions,
} from '../config.js';

/**
 * `vigil-agent snapshot --camera NAME --out FILE.jpg`: one frame from a configured camera as a JPEG, at the
 * camera's detect size (what the vision stages see). For installers aiming a camera and for `doctor`.
 */
interface SnapshotOpts extends ConfigCliOptions {
  camera: string;
  out: string;
  timeout: string;
  quality: string;
  json?: boolean;
}

/** A yuv420p frame as a JPEG (the thumbnail stage's colour conversion, then sharp). */
export async function frameToJpeg(frame: Pick<Frame, 'width' | 'height' | 'data'>, quality = 90): Promise<Buffer> {
  const rgb = yuv420ToRgb(frame.data, frame.width, frame.height);
  return sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } })
    .jpeg({ quality })
    .toBuffer();
}

function positive(text: string, flag: string, max: number): number {
  const n = Number(text);
  if (!(n > 0 && n <= max))
    throw new VigilError('invalid_argument', `${flag} must be a number within 0..${max}, got "${text}"`, {
      details: { exitCode: 2 },
    });
  return n;
}

export function registerSnapshot(program: Command): void {
  addConfigOptions(program.command('snapshot'))
    .description('Grab one frame from a configured camera and write it as a JPEG')
    .requiredOption('--camera <name>', 'camera name from the config')
    .requiredOption('--out <file>', 'JPEG file to write')
    .option('--timeout <seconds>', 'give up when no frame arrived in this time', '10')
    .option('--quality <1-100>', 'JPEG quality', '90')
    .option('--json', 'print {camera, path, bytes, width, height} as JSON')
    .action(async (o: SnapshotOpts) => {
      const timeoutMs = positive(o.timeout, '--timeout', 600) * 1000;
      const quality = Math.round(positive(o.quality, '--quality', 100));
      const { config } = loadCliConfig(o);
      const camera = findCamera(config, o.camera);
      // A snapshot wants one current frame: read the input as the camera delivers it, never a whole file first.
      const frame = await grabFrame(cameraStreamConfig(camera), { timeoutMs });
      const jpeg = await frameToJpeg(frame, quality);
      mkdirSync(dirname(o.out), { recursive: true });
      writeFileAtomic(o.out, jpeg);
      if (o.json) {
        process.stdout.write(
          JSON.stringify({
            camera: camera.name,
            path: o.out,
            bytes: jpeg.length,
            width: frame.width,
            height: frame.height,
          }) + '\n',
        );
        return;
      }
      process.stdout.write(`${o.out}  ${jpeg.length} bytes  ${frame.width}x${frame.height}  camera ${camera.name}\n`);
    });
}
