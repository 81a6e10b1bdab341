import { CameraStream } from '../camera/stream.js';
import type { Frame } from '../camera/frame.js';
import { MotionDetector, type MotionOptions } from './detector.js';

/**
 * Motion timing over a whole input: decode every frame first (so ffmpeg does not compete for the CPU), then run
 * the motion detector on each and time it. Shared by `npm run bench:motion` and the vision benchmark.
 */
export interface MotionBenchResult {
  frames: number;
  width: number;
  height: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  totalMs: number;
  /** Process CPU time (user + system) per frame, ms: less sensitive than wall time to other load on the machine. */
  cpuMsPerFrame: number;
  /** Frames with at least one motion box. */
  framesWithMotion: number;
  /** Frames that (re)calibrated the background. */
  calibrations: number;
}

export async function decodeAllFrames(input: string, width: number, height: number, fps = 0): Promise<Frame[]> {
  const cam = new CameraStream({ name: 'bench', input, detect: { width, height, fps } }).start();
  const frames: Frame[] = [];
  for await (const f of cam) frames.push(f);
  await cam.stop();
  return frames;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function benchMotion(
  frames: Frame[],
  options: Partial<MotionOptions> = {},
  warmupPasses = 1,
): Promise<MotionBenchResult> {
  const first = frames[0];
  if (!first) throw new Error('benchMotion: no frames');
  const { width, height } = first;
  const times: number[] = [];
  let framesWithMotion = 0;
  let calibrations = 0;
  // Warm-up passes on a separate detector: JIT and onnxruntime's first-run allocations are not per-frame costs.
  for (let pass = 0; pass < warmupPasses; pass++) {
    const warm = await MotionDetector.create({ ...options, width, height });
    for (const f of frames) await warm.detect(f);
    await warm.close();
  }
  const md = await MotionDetector.create({ ...options, width, height });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const f of frames) {
    const r = await md.detect(f);
    times.push(r.ms);
    if (r.boxes.length > 0) framesWithMotion++;
    if (r.calibrating) calibrations++;
  }
  const totalMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await md.close();
  const sorted = [...times].sort((a, b) => a - b);
  return {
    frames: frames.length,
    width,
    height,
    meanMs: times.reduce((a, b) => a + b, 0) / times.length,
    p50Ms: percentile(sorted, 50),
    p95Ms: percentile(sorted, 95),
    maxMs: sorted[sorted.length - 1]!,
    totalMs,
    cpuMsPerFrame: (cpu.user + cpu.system) / 1000 / frames.length,
    framesWithMotion,
    calibrations,
  };
}
