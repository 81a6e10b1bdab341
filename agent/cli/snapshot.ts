import { dirname } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Command } from 'commander';
import { VigilError } from '../errors.js';
import { grabFrame } from '../camera/index.js';
import { encodeFramePicture, yuv420ToRgb } from '../thumbnail/index.js';
import { drawOverlay, type OverlayShape } from '../thumbnail/overlay.js';
import { addConfigOptions, cameraStreamConfig, findCamera, loadCliConfig, type ConfigCliOptions } from '../config.js';
import { writeFileAtomic } from '../../shared/fs/index.js';

/**
 * `vigil-agent snapshot --camera NAME --out FILE.jpg [--draw]`: one frame from a configured camera as a JPEG, at the
 * camera's detect size (what the vision stages see). For installers aiming a camera and for `doctor`; with `--draw`
 * the camera's zones, object masks and motion masks are drawn and named on it, to check coordinates on the picture.
 */
interface SnapshotOpts extends ConfigCliOptions {
  camera: string;
  out: string;
  timeout: string;
  quality: string;
  draw?: boolean;
  json?: boolean;
}

type Points = ReadonlyArray<readonly [number, number]>;

/** The parts of a camera's config that hold polygons. */
export interface CameraPolygons {
  masks: readonly Points[];
  zones?: Readonly<Record<string, { coordinates: Points }>> | undefined;
  objects?: { mask?: readonly Points[] | undefined } | undefined;
  filters?: Readonly<Record<string, { mask?: readonly Points[] | undefined; [gate: string]: unknown }>> | undefined;
}

/**
 * What `--draw` draws for a camera: its zones by name, its object masks (`object mask N`, and `LABEL mask N` for a
 * label's own), its motion masks (`motion mask N`); N counts from 1 in config order.
 */
export function overlayShapes(camera: CameraPolygons): OverlayShape[] {
  const numbered = (kind: OverlayShape['kind'], prefix: string, polys: readonly Points[] = []): OverlayShape[] =>
    polys.map((points, i) => ({ kind, name: `${prefix} ${i + 1}`, points }));
  return [
    ...Object.entries(camera.zones ?? {}).map(([name, z]) => ({ kind: 'zone' as const, name, points: z.coordinates })),
    ...numbered('object_mask', 'object mask', camera.objects?.mask),
    ...Object.entries(camera.filters ?? {}).flatMap(([label, f]) => numbered('label_mask', `${label} mask`, f.mask)),
    ...numbered('motion_mask', 'motion mask', camera.masks),
  ];
}

/** `drawn: 2 zones (porch, drive), 1 object mask, 1 motion mask` — or that there was nothing to draw. */
function drawnSummary(drawn: ReadonlyArray<Pick<OverlayShape, 'kind' | 'name'>>): string {
  const zones = drawn.filter((d) => d.kind === 'zone').map((d) => d.name);
  const objectMasks = drawn.filter((d) => d.kind === 'object_mask' || d.kind === 'label_mask').length;
  const motionMasks = drawn.filter((d) => d.kind === 'motion_mask').length;
  if (drawn.length === 0) return 'drawn: nothing (no zones, object masks or motion masks configured)';
  const n = (count: number, what: string): string => `${count} ${what}${count === 1 ? '' : 's'}`;
  return (
    `drawn: ${n(zones.length, 'zone')}${zones.length > 0 ? ` (${zones.join(', ')})` : ''}, ` +
    `${n(objectMasks, 'object mask')}, ${n(motionMasks, 'motion mask')}`
  );
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
    .option('--draw', "draw the camera's zones, object masks and motion masks on the frame, named")
    .option('--json', 'print {camera, path, bytes, width, height} as JSON (with --draw: and drawn: [{kind, name}])')
    .action(async (o: SnapshotOpts) => {
      const timeoutMs = positive(o.timeout, '--timeout', 600) * 1000;
      const quality = Math.round(positive(o.quality, '--quality', 100));
      const { config } = loadCliConfig(o);
      const camera = findCamera(config, o.camera);
      // A snapshot wants one current frame: read the input as the camera delivers it, never a whole file first.
      const frame = await grabFrame(cameraStreamConfig(camera), { timeoutMs });
      const shapes = o.draw ? overlayShapes(camera) : undefined;
      const jpeg = shapes
        ? await drawOverlay(yuv420ToRgb(frame.data, frame.width, frame.height), shapes, quality)
        : (await encodeFramePicture(frame, { quality })).jpeg;
      mkdirSync(dirname(o.out), { recursive: true });
      writeFileAtomic(o.out, jpeg);
      const drawn = shapes?.map(({ kind, name }) => ({ kind, name }));
      if (o.json) {
        process.stdout.write(
          JSON.stringify({
            camera: camera.name,
            path: o.out,
            bytes: jpeg.length,
            width: frame.width,
            height: frame.height,
            ...(drawn ? { drawn } : {}),
          }) + '\n',
        );
        return;
      }
      process.stdout.write(`${o.out}  ${jpeg.length} bytes  ${frame.width}x${frame.height}  camera ${camera.name}\n`);
      if (drawn) process.stdout.write(drawnSummary(drawn) + '\n');
    });
}
