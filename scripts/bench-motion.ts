/**
 * `npm run bench:motion`: motion model timing on vtest.avi (480×360, every frame).
 * Prints ms/frame (mean, p50, p95, max) of MotionDetector.detect (model + post-processing) and the total.
 */
import { assetPath } from '../shared/paths/index.js';
import { existsSync } from 'node:fs';
import { benchMotion, decodeAllFrames } from '../agent/motion/bench.js';

const input = process.argv[2] ?? assetPath('media', 'vtest.avi');
if (!existsSync(input)) {
  process.stderr.write(`bench:motion: ${input} not found (set VIGIL_ASSETS or pass a video path)\n`);
  process.exit(1);
}
const downscale = (process.env.VIGIL_MOTION_DOWNSCALE as 'linear' | 'area' | undefined) ?? 'linear';
const t0 = performance.now();
const frames = await decodeAllFrames(input, 480, 360);
const decodeMs = performance.now() - t0;
const r = await benchMotion(frames, { downscale }, 2);
const f = (n: number): string => n.toFixed(3);
process.stdout.write(
  [
    `input       ${input}`,
    `frames      ${r.frames} at ${r.width}x${r.height} yuv420p (decode ${decodeMs.toFixed(0)} ms, not timed below)`,
    `downscale   ${downscale}, 1 onnxruntime thread`,
    `motion      mean ${f(r.meanMs)} ms/frame, p50 ${f(r.p50Ms)}, p95 ${f(r.p95Ms)}, max ${f(r.maxMs)}`,
    `cpu         ${f(r.cpuMsPerFrame)} ms/frame (process CPU time)`,
    `total       ${r.totalMs.toFixed(1)} ms for ${r.frames} frames (${((r.frames * 1000) / r.totalMs).toFixed(0)} ` +
      'frames/s)',
    `found       motion in ${r.framesWithMotion} frames, ${r.calibrations} calibration frames`,
    '',
  ].join('\n'),
);
