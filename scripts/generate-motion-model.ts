/**
 * Writes the motion model for a frame size into the model cache (the agent also does this on first use).
 *
 *   tsx scripts/generate-motion-model.ts --width 480 --height 360 [--factor 4] [--downscale linear|area]
 *       [--blur 3] [--dilate 3] [--cache-dir DIR] [--out FILE]
 *
 * Prints the model path. `--out` writes a copy elsewhere too (e.g. to inspect it with an ONNX viewer).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  buildMotionModel,
  defaultFactor,
  ensureMotionModel,
  defaultMotionCacheDir,
  type MotionGraphParams,
} from '../agent/motion/index.js';

const { values } = parseArgs({
  options: {
    width: { type: 'string' },
    height: { type: 'string' },
    factor: { type: 'string' },
    downscale: { type: 'string', default: 'linear' },
    blur: { type: 'string', default: '3' },
    dilate: { type: 'string', default: '3' },
    'cache-dir': { type: 'string' },
    out: { type: 'string' },
  },
});

function int(name: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < 1) {
    process.stderr.write(`generate-motion-model: --${name} must be a positive integer (got ${v ?? 'nothing'})\n`);
    process.exit(2);
  }
  return n;
}

const width = int('width', values.width);
const height = int('height', values.height);
if (values.downscale !== 'linear' && values.downscale !== 'area') {
  process.stderr.write(`generate-motion-model: --downscale must be linear or area (got ${values.downscale})\n`);
  process.exit(2);
}
const params: MotionGraphParams = {
  width,
  height,
  factor: values.factor === undefined ? defaultFactor(height) : int('factor', values.factor),
  downscale: values.downscale,
  blur: int('blur', values.blur),
  dilate: int('dilate', values.dilate),
};
const { path, created } = ensureMotionModel(params, values['cache-dir'] ?? defaultMotionCacheDir());
if (values.out) writeFileSync(values.out, buildMotionModel(params));
process.stdout.write(`${created ? 'generated' : 'cached'} ${path}${values.out ? `\ncopied to ${values.out}` : ''}\n`);
