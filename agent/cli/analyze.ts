import { mkdtemp, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { VigilError } from '../errors.js';
import { createLogger } from '../../shared/log/index.js';
import { classifyInput } from '../camera/input.js';
import { openCamera } from '../camera/open.js';
import { ObjectDetector } from '../detect/detector.js';
import { MotionDetector } from '../motion/index.js';
import { CameraPipeline } from '../pipeline/pipeline.js';
import { analysisSize, probeVideoSize } from '../pipeline/probe.js';
import type { EventMessage } from '../track/messages.js';
import { parseModelType, parsePositiveInt, parseUnit } from './detect.js';

/**
 * `vigil-agent analyze <input>`: runs the whole vision pipeline (motion → detect → track → thumbnails) over a file,
 * a lavfi scene or a camera URL until it ends (Ctrl-C stops a live camera), printing each event message and a
 * final summary. Without `--model` it reports motion events only.
 */
interface AnalyzeOptions {
  model?: string;
  type: string;
  fps: string;
  width: string;
  out?: string;
  json?: boolean;
  threshold: string;
  threads: string;
  labels?: string;
  timeout: string;
}

function parseFps(value: string): number {
  const v = Number(value);
  if (!Number.isFinite(v) || v <= 0 || v > 60)
    throw new VigilError('invalid_argument', `--fps must be a number within (0, 60], got "${value}"`);
  return v;
}

function describe(m: EventMessage): string {
  const when =
    m.media_start !== undefined
      ? ` ${m.media_start.toFixed(1)}s${m.media_end != null ? `–${m.media_end.toFixed(1)}s` : ''}`
      : '';
  return (
    `${m.type.padEnd(6)} ${m.id} ${m.label.padEnd(10)} ` +
    `score ${m.score.toFixed(2)}${when}${m.stationary ? ' stationary' : ''}${m.thumbnail ? ` ${m.thumbnail}` : ''}`
  );
}

export function registerAnalyze(program: Command): void {
  program
    .command('analyze')
    .description('Run motion, detection and tracking over a video file or camera URL and print the events')
    .argument('<input>', 'video file, rtsp:// or http(s):// URL, /dev/videoN, or lavfi:<filtergraph>')
    .option('--model <path>', 'ONNX detector model (without it: motion events only)')
    .option('--type <type>', 'model output layout: auto, yolox, yolo or ssd', 'auto')
    .option('--fps <n>', 'frames per second analysed', '5')
    .option('--width <px>', 'largest analysis width (smaller inputs keep their size)', '640')
    .option('--out <dir>', 'where thumbnails go (default: a new temporary folder)')
    .option('--threshold <score>', 'detector score threshold (0..1)', '0.3')
    .option('--threads <n>', 'onnxruntime threads for the detector', '1')
    .option('--labels <list>', 'comma-separated labels to track (default: all)')
    .option('--timeout <s>', 'give up when the input yields no frame within this many seconds', '15')
    .option('--json', 'print JSON lines')
    .action(async (input: string, opts: AnalyzeOptions) => {
      const fps = parseFps(opts.fps);
      const maxWidth = parsePositiveInt('--width', opts.width, 7680);
      const timeoutS = parsePositiveInt('--timeout', opts.timeout, 3600);
      const threshold = parseUnit('--threshold', opts.threshold);
      const threads = parsePositiveInt('--threads', opts.threads);
      const type = parseModelType(opts.type);
      // Logs go to stderr and only on request (VIGIL_LOG_LEVEL): stdout carries the events, stderr the one-line error.
      const logger = createLogger({
        component: 'analyze',
        level: (process.env.VIGIL_LOG_LEVEL as 'info' | undefined) ?? 'silent',
        destination: pino.destination(2),
      });
      const kind = classifyInput(input);
      const live = kind === 'rtsp' || kind === 'http' || kind === 'v4l2';

      // Load the model first: a bad model fails fast, before any ffmpeg starts.
      const detector = opts.model
        ? await ObjectDetector.create({ modelPath: opts.model, type, scoreThreshold: threshold, threads, logger })
        : undefined;
      const size = analysisSize(live ? undefined : await probeVideoSize(input), maxWidth);
      const out = opts.out ? resolve(opts.out) : await mkdtemp(join(tmpdir(), 'vigil-analyze-'));
      await mkdir(out, { recursive: true });
      const motion = await MotionDetector.create({ ...size, threads: 1, logger });
      const print = (obj: unknown): void =>
        void process.stdout.write((typeof obj === 'string' ? obj : JSON.stringify(obj)) + '\n');
      const pipeline = new CameraPipeline({
        camera: 'analyze',
        ...size,
        motion,
        detector,
        labels: opts.labels
          ? opts.labels
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : undefined,
        thumbnailDir: out,
        mediaTimes: !live,
        logger,
        onEvent: (m) => {
          print(opts.json ? m : describe(m));
        },
      });
      let camera: Awaited<ReturnType<typeof openCamera>>['camera'] | undefined;
      const stop = () => void camera?.stop();
      process.once('SIGINT', stop);
      try {
        const opened = await openCamera(
          { name: 'analyze', input, detect: { ...size, fps }, realtime: false },
          { logger, timeoutMs: timeoutS * 1000 },
        );
        camera = opened.camera;
        await pipeline.process(opened.first);
        let t0 = performance.now();
        for await (const frame of camera) {
          await pipeline.process(frame, performance.now() - t0);
          t0 = performance.now();
        }
        if (camera.error) throw camera.error;
        await pipeline.finish();
        const s = pipeline.stats();
        const cam = camera.stats();
        const summary = {
          type: 'summary',
          input,
          width: size.width,
          height: size.height,
          fps,
          frames: s.frames,
          frames_dropped: cam.framesDropped,
          motion_frames: s.motion_frames,
          detect_frames: s.detect_frames,
          detector_runs: s.detector_runs,
          events: s.events,
          messages: s.messages,
          ms_per_frame: s.ms_per_frame,
          detector_ms: s.detector_ms,
          detector_overhead_pct: s.detector_overhead_pct,
          picture_bytes_peak: s.picture_bytes_peak,
          live_tracks_peak: s.live_tracks_peak,
          thumbnails: out,
          mode: detector ? 'objects' : 'motion',
        };
        print(
          opts.json
            ? summary
            : `summary: ${s.frames} frames, ${s.motion_frames} with motion, ${s.detector_runs} detector ` +
                `runs, ${s.events} events; ms/frame ${JSON.stringify(s.ms_per_frame)}; thumbnails in ${out}`,
        );
      } finally {
        process.off('SIGINT', stop);
        await camera?.stop();
        await motion.close();
        await detector?.close();
      }
    });
}
