/**
 * `npm run bench:vision`: what one camera costs, stage by stage, and how many cameras one core sustains.
 *
 * 1. Decode: ffmpeg's own CPU time (`-benchmark` utime+stime) to turn vtest.avi into 640x360 yuv420p at 5 fps,
 *    divided by the frames delivered. ffmpeg runs in its own process, so this is CPU the box pays per camera.
 * 2. The pipeline over the same frames (motion on every frame, detection when there is motion or a refresh is
 *    due, tracking, thumbnails), yolox_nano with 1 thread: per-stage ms/frame and the detector's gating rate.
 *    The detector is also timed alone (session.run vs letterbox + decode + NMS: overhead %).
 * 3. Cameras per core = 1000 ms / (decode + motion + track + thumbnail + gating rate × detect, ms per frame) / 5 fps.
 * 4. Detector micro-benchmark on one real frame of the clip, whole-frame detection repeated: median letterbox,
 *    session.run and decode/NMS ms, overhead %, and the letterbox alone (median, min and CPU time per call).
 *
 * 5. Memory: this process's peak RSS after the pipeline phase, then the real daemon (`vigil-agent run`, built
 *    dist/: run `npm run build` first) with 1, 2 and 3 cameras on the clip: peak RSS of the node process (VmHWM,
 *    ffmpeg apart), node CPU per frame and the events per camera (scripts/bench-vision-daemon.ts). The daemon runs
 *    with the node flags of the systemd unit (scripts/systemd/vigil-agent.service.in), if it gives any, and without.
 *
 * Timings are wall-clock inside one process on a shared machine: the load average is printed with them.
 * Usage: npm run bench:vision [-- --fps 5 --width 640 --height 360 --threads 1 --daemon-cameras 1,2,3]
 * (`--daemon-cameras ''` skips phase 5's daemon runs).
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { assetPath, projectRoot } from '../shared/paths/index.js';
import { resolveFfmpeg } from '../agent/camera/ffmpeg-path.js';
import { CameraStream } from '../agent/camera/stream.js';
import type { Frame } from '../agent/camera/frame.js';
import { preprocessYuv420 } from '../agent/detect/preprocess.js';
import { ObjectDetector } from '../agent/detect/detector.js';
import { MotionDetector } from '../agent/motion/index.js';
import { CameraPipeline, runPipeline } from '../agent/pipeline/pipeline.js';
import { daemonMemory, printDaemonMemory, unitNodeArgs } from './bench-vision-daemon.js';

const { values } = parseArgs({
  options: {
    fps: { type: 'string', default: '5' },
    width: { type: 'string', default: '640' },
    height: { type: 'string', default: '360' },
    threads: { type: 'string', default: '1' },
    input: { type: 'string', default: assetPath('media', 'vtest.avi') },
    model: { type: 'string', default: assetPath('models', 'yolox_nano.onnx') },
    'daemon-cameras': { type: 'string', default: '1,2,3' },
  },
});
const fps = Number(values.fps);
const width = Number(values.width);
const height = Number(values.height);
const threads = Number(values.threads);
const input = values.input as string;
const f2 = (v: number) => v.toFixed(2);

async function ffmpegDecodeCpu(): Promise<{ cpuMs: number; frames: number }> {
  const args = [
    '-hide_banner',
    '-nostdin',
    '-benchmark',
    '-i',
    input,
    '-an',
    '-vf',
    `fps=${fps},scale=${width}:${height}`,
    '-pix_fmt',
    'yuv420p',
    '-f',
    'rawvideo',
    '-y',
    '/dev/null',
  ];
  const stderr = await new Promise<string>((resolve, reject) => {
    const child = spawn(resolveFfmpeg(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let text = '';
    child.stderr.on('data', (c: Buffer) => (text += c.toString()));
    child.once('error', reject);
    child.once('close', () => resolve(text));
  });
  const bench = /bench: utime=([\d.]+)s stime=([\d.]+)s/.exec(stderr);
  const frames = [...stderr.matchAll(/frame=\s*(\d+)/g)].map((m) => Number(m[1])).pop();
  if (!bench || !frames) throw new Error(`cannot read ffmpeg -benchmark output:\n${stderr.slice(-500)}`);
  return { cpuMs: (Number(bench[1]) + Number(bench[2])) * 1000, frames };
}

async function main(): Promise<void> {
  console.log(
    `bench:vision — ${input} → ${width}x${height} @ ${fps} fps, yolox_nano threads=${threads}, load average ` +
      `${loadavg().map(f2).join(' ')}`,
  );

  const decode = await ffmpegDecodeCpu();
  const decodeMs = decode.cpuMs / decode.frames;
  console.log(`decode (ffmpeg CPU): ${f2(decode.cpuMs)} ms for ${decode.frames} frames = ${f2(decodeMs)} ms/frame`);

  const detector = await ObjectDetector.create({ modelPath: values.model as string, threads });
  console.log(`detector warm-up: ${f2(detector.warmupMs)} ms`);
  const motion = await MotionDetector.create({ width, height });
  const dir = await mkdtemp(join(tmpdir(), 'vigil-bench-'));
  const camera = new CameraStream({ name: 'bench', input, detect: { width, height, fps }, realtime: false });
  const pipeline = new CameraPipeline({
    camera: 'bench',
    width,
    height,
    motion,
    detector,
    thumbnailDir: dir,
    mediaTimes: true,
  });
  camera.start();
  let sample: Frame | undefined;
  async function* keepOne(): AsyncGenerator<Frame> {
    for await (const f of camera) {
      if (f.seq === 100) sample = { ...f, data: Buffer.from(f.data) };
      yield f;
    }
  }
  const t0 = performance.now();
  const s = await runPipeline(keepOne(), pipeline);
  const wall = performance.now() - t0;
  await camera.stop();
  await motion.close();
  await rm(dir, { recursive: true, force: true });

  const gating = s.detect_frames / Math.max(1, s.frames);
  const detectPerRun = s.total_ms.detect / Math.max(1, s.detect_frames);
  const p = s.ms_per_frame;
  console.log(
    `pipeline: ${s.frames} frames in ${f2(wall / 1000)} s; ${s.motion_frames} with motion; detector on ` +
      `${s.detect_frames} frames (${s.detector_runs} runs, gating rate ${f2(gating * 100)}%); ${s.events} events`,
  );
  console.log('stage ms/frame (averaged over all frames):');
  console.log(
    `  decode (wait for frame) ${f2(p.decode)}   motion ${f2(p.motion)}   detect ${f2(p.detect)}   track ` +
      `${f2(p.track)}   thumbnail ${f2(p.thumbnail)}`,
  );
  console.log(
    `  detect per run: ${f2(detectPerRun)} ms = letterbox ${f2(s.detector_ms.preprocess / s.detector_runs)} + ` +
      `session.run ${f2(s.detector_ms.run / s.detector_runs)} + decode/NMS ` +
      `${f2(s.detector_ms.postprocess / s.detector_runs)}`,
  );
  console.log(`  detector overhead around session.run: ${f2(s.detector_overhead_pct)}% (target ≤ 15%)`);
  console.log(`motion model (ONNX, agent/motion) on the same frames: ${f2(p.motion)} ms/frame`);

  const perFrame = decodeMs + p.motion + p.track + p.thumbnail + gating * detectPerRun;
  const perFrameAllDetect = decodeMs + p.motion + p.track + p.thumbnail + detectPerRun;
  const cams = 1000 / perFrame / fps;
  console.log(
    `per-frame cost at ${fps} fps: decode ${f2(decodeMs)} + motion ${f2(p.motion)} + track ${f2(p.track)} + ` +
      `thumbnail ${f2(p.thumbnail)} + ${f2(gating)} × detect ${f2(detectPerRun)} = ${f2(perFrame)} ms`,
  );
  console.log(
    `cameras per core = 1000 / ${f2(perFrame)} / ${fps} = ${f2(cams)}  (this clip has motion in ` +
      `${f2(gating * 100)}% of frames; a quiet camera with 10% motion: ` +
      `${f2(1000 / (decodeMs + p.motion + p.track + p.thumbnail + 0.1 * detectPerRun) / fps)}; detector on every ` +
      `frame: ${f2(1000 / perFrameAllDetect / fps)})`,
  );
  const peakMiB = (process.resourceUsage().maxRSS / 1024).toFixed(1);
  console.log(`peak RSS of this process after the pipeline phase: ${peakMiB} MiB`);
  if (sample) await microBench(detector, sample);
  await detector.close();

  const counts = (values['daemon-cameras'] as string).split(',').filter(Boolean).map(Number);
  if (counts.length === 0) return;
  const o = { root: projectRoot(), model: values.model as string, input, width, height, fps };
  const unitArgs = unitNodeArgs();
  for (const nodeArgs of unitArgs.length > 0 ? [unitArgs, []] : [[]]) {
    const rows = await daemonMemory({ ...o, nodeArgs }, counts, decode.frames);
    printDaemonMemory(rows, `node ${nodeArgs.join(' ') || '(no flags)'}`);
    console.log(`  load average ${loadavg().map(f2).join(' ')}`);
  }
}

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1] ?? 0;

/** Whole-frame detection on one frame, repeated; then the letterbox alone. */
async function microBench(detector: ObjectDetector, frame: Frame): Promise<void> {
  const pre: number[] = [];
  const run: number[] = [];
  const post: number[] = [];
  for (let i = 0; i < 60; i++) {
    const r = await detector.detectFrame(frame);
    if (i < 10) continue; // warm-up
    pre.push(r.timings.preprocessMs);
    run.push(r.timings.runMs);
    post.push(r.timings.postprocessMs);
  }
  const [lb, rn, dc] = [median(pre), median(run), median(post)];
  console.log(
    `detector micro-benchmark (${frame.width}x${frame.height} frame #${frame.seq}, whole frame, 50 runs, ` +
      `medians): letterbox ${lb.toFixed(3)} ms, session.run ${rn.toFixed(3)} ms, decode/NMS ${dc.toFixed(3)} ms → ` +
      `overhead ${(((lb + dc) / rn) * 100).toFixed(1)}% (load average ${loadavg().map(f2).join(' ')})`,
  );
  const tensor = new Float32Array(3 * detector.input.width * detector.input.height);
  const times: number[] = [];
  for (let i = 0; i < 50; i++) preprocessYuv420(frame, tensor, detector.input, detector.normalization);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < 300; i++) {
    const t0 = performance.now();
    preprocessYuv420(frame, tensor, detector.input, detector.normalization);
    times.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `letterbox alone, 300 calls: median ${median(times).toFixed(3)} ms, min ${Math.min(...times).toFixed(3)} ms, ` +
      `process CPU ${((cpu.user + cpu.system) / 300 / 1000).toFixed(3)} ms/call`,
  );
}

await main();
