/**
 * `npm run bench:motion`: the motion model's cost per frame, stand-alone and inside the pipeline, in one run.
 *
 * 1. Stand-alone: the clip decoded first (so ffmpeg does not compete), then MotionDetector.detect on every frame
 *    (model + post-processing): mean, p50, p95 and max ms/frame, and the process CPU time per frame.
 * 2. In the pipeline: the same clip streamed from ffmpeg as a camera delivers it, through CameraPipeline with the
 *    motion stage, YOLOX-nano (1 thread, when the model asset is there) on the frames with motion, the tracker and
 *    the thumbnails (in memory, as the daemon makes them): the pipeline's own motion figure (mean wall ms/frame),
 *    the p50 of the motion stage and its main-thread CPU time per frame (Linux: /proc/thread-self/schedstat).
 * 3. The ratio in the pipeline / stand-alone, for the mean and the p50, and the load average.
 *
 * Defaults: vtest.avi at 640x360, 5 fps (the daemon's detect size and rate). Usage:
 * npm run bench:motion [-- --width 480 --height 360 --fps 0 --input clip.mp4 --model none]
 * (`--fps 0`: every frame; `--model none`: the pipeline without a detector). VIGIL_MOTION_DOWNSCALE=area tries the
 * box average downscale; VIGIL_MOTION_SESSION=public runs the model through onnxruntime-node's asynchronous session
 * instead of the synchronous native call the daemon uses (agent/motion/session.ts), for comparison.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { assetPath } from '../shared/paths/index.js';
import { benchMotion, decodeAllFrames } from '../agent/motion/bench.js';
import { MotionDetector } from '../agent/motion/index.js';
import { CameraStream } from '../agent/camera/stream.js';
import type { Frame } from '../agent/camera/frame.js';
import { ObjectDetector } from '../agent/detect/detector.js';
import { CameraPipeline, runPipeline, type MotionStage } from '../agent/pipeline/pipeline.js';

const { values } = parseArgs({
  options: {
    width: { type: 'string', default: '640' },
    height: { type: 'string', default: '360' },
    fps: { type: 'string', default: '5' },
    input: { type: 'string', default: assetPath('media', 'vtest.avi') },
    model: { type: 'string', default: assetPath('models', 'yolox_nano.onnx') },
  },
  args: process.argv.slice(2),
  allowPositionals: true,
});
const input = values.input as string;
const width = Number(values.width);
const height = Number(values.height);
const fps = Number(values.fps);
const model = values.model === 'none' ? undefined : (values.model as string);
if (!existsSync(input)) {
  process.stderr.write(`bench:motion: ${input} not found (set VIGIL_ASSETS or pass --input)\n`);
  process.exit(1);
}
const downscale = (process.env.VIGIL_MOTION_DOWNSCALE as 'linear' | 'area' | undefined) ?? 'linear';
const session = process.env.VIGIL_MOTION_SESSION === 'public' ? 'public' : 'synchronous';
const f = (n: number): string => n.toFixed(3);
const load = (): string =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

/** CPU time of the calling (main) thread, ms; undefined where /proc/thread-self is not there. */
function threadCpuMs(): number | undefined {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return undefined;
  }
}

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1] ?? 0;

/** The motion stage with a stopwatch: wall time of each detect() and the main thread's CPU time in it. */
class TimedMotion implements MotionStage {
  readonly wall: number[] = [];
  cpuMs: number | undefined = threadCpuMs() === undefined ? undefined : 0;
  constructor(private readonly motion: MotionDetector) {}
  async detect(frame: Frame): ReturnType<MotionStage['detect']> {
    const c0 = threadCpuMs();
    const t0 = performance.now();
    const r = await this.motion.detect(frame);
    this.wall.push(performance.now() - t0);
    const c1 = threadCpuMs();
    if (this.cpuMs !== undefined && c0 !== undefined && c1 !== undefined) this.cpuMs += c1 - c0;
    return r;
  }
}

async function inPipeline(): Promise<{ frames: number; events: number; meanMs: number; p50Ms: number; cpu?: number }> {
  const detector =
    model && existsSync(model) ? await ObjectDetector.create({ modelPath: model, threads: 1 }) : undefined;
  const motion = await MotionDetector.create({ width, height, downscale, session });
  const t = new TimedMotion(motion);
  const camera = new CameraStream({ name: 'bench', input, detect: { width, height, fps }, realtime: false });
  const pipeline = new CameraPipeline({ camera: 'bench', width, height, motion: t, detector, mediaTimes: true });
  camera.start();
  const s = await runPipeline(camera as AsyncIterable<Frame>, pipeline);
  await camera.stop();
  await motion.close();
  await detector?.close();
  const cpu = t.cpuMs;
  return {
    frames: s.frames,
    events: s.events,
    meanMs: s.ms_per_frame.motion,
    p50Ms: median(t.wall),
    ...(cpu === undefined ? {} : { cpu: cpu / Math.max(1, s.frames) }),
  };
}

const t0 = performance.now();
const frames = await decodeAllFrames(input, width, height, fps);
const decodeMs = performance.now() - t0;
process.stdout.write(
  `bench:motion — ${input} at ${width}x${height}, ${fps > 0 ? `${fps} fps` : 'every frame'}, downscale ` +
    `${downscale}, 1 onnxruntime thread, ${session} session; load average ${load()}\n`,
);
const r = await benchMotion(frames, { downscale, session }, 2);
process.stdout.write(
  [
    `stand-alone  ${r.frames} frames decoded first (${decodeMs.toFixed(0)} ms, not timed)`,
    `  motion     mean ${f(r.meanMs)} ms/frame, p50 ${f(r.p50Ms)}, p95 ${f(r.p95Ms)}, max ${f(r.maxMs)}; process CPU ` +
      `${f(r.cpuMsPerFrame)} ms/frame`,
    `  found      motion in ${r.framesWithMotion} frames, ${r.calibrations} calibration frames`,
    '',
  ].join('\n'),
);
const p = await inPipeline();
const cpuText = p.cpu === undefined ? '' : `, main-thread CPU ${f(p.cpu)} ms/frame`;
process.stdout.write(
  [
    `in pipeline  ${p.frames} frames streamed from ffmpeg, ` +
      `${model && existsSync(model) ? 'yolox_nano' : 'no detector'}, ${p.events} events`,
    `  motion     mean ${f(p.meanMs)} ms/frame (the pipeline's stage figure), p50 ${f(p.p50Ms)}${cpuText}`,
    `ratio        in pipeline / stand-alone: mean ${(p.meanMs / r.meanMs).toFixed(2)}, p50 ` +
      `${(p.p50Ms / r.p50Ms).toFixed(2)}${p.cpu === undefined ? '' : `, CPU ${(p.cpu / r.cpuMsPerFrame).toFixed(2)}`}`,
    `load average ${load()}`,
    '',
  ].join('\n'),
);
