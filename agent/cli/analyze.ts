import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import type { Command } from 'commander';
import { pino } from 'pino';
import { VigilError } from '../errors.js';
import { createLogger } from '../../shared/log/index.js';
import { vigilVersion } from '../../shared/cli/index.js';
import { classifyInput } from '../camera/input.js';
import { openCamera } from '../camera/open.js';
import {
  DEFAULT_LABELS,
  findCamera,
  loadAgentConfig,
  pipelineOptionsForCamera,
  ReviewConfigSchema,
  type AgentCameraConfig,
  type AgentConfig,
  type CameraPipelineOptions,
} from '../config.js';
import { detectorOptionsFrom } from '../detect/config.js';
import { ObjectDetector, type DetectorOptions } from '../detect/detector.js';
import { LocalIntegration } from '../local/index.js';
import { discoveryCameras } from '../daemon/local-cameras.js';
import { MotionDetector } from '../motion/index.js';
import { CameraPipeline } from '../pipeline/pipeline.js';
import { analysisSize, probeVideoSize } from '../pipeline/probe.js';
import { REVIEW_GROUPING_DEFAULTS, type ReviewMessage, type ReviewRules } from '../review/index.js';
import type { EventMessage } from '../track/messages.js';
import { parseModelType, parsePositiveInt, parseUnit } from './detect.js';

/**
 * `vigil-agent analyze <input>`: runs the whole vision pipeline (motion → detect → filter → track and zones →
 * thumbnails → review items) over a file, a lavfi scene or a camera URL until it ends (Ctrl-C stops a live camera),
 * printing each event message, each review message (`kind: review`) and a final summary that counts the alerts and
 * detections. Without `--model` (or a model in `--config`) it reports motion events only.
 *
 * With `--config FILE --camera NAME` the input is analysed as that camera would see it on the box: its detect size
 * and rate, labels, motion masks, object masks, filters, zones and review settings, and the config's model
 * (`--model` replaces the model file). Flags given on the command line win over the config. Without `--config`:
 * the default labels, no zones, masks or filters, the default review settings.
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
  config?: string;
  camera?: string;
}

/** What one analysis runs with: from the flags, or from a camera's config with the flags given on top. */
interface AnalyzeSettings {
  /** The camera name events carry: the configured camera's, else `analyze`. */
  camera: string;
  /** The config camera, when `--config` was given. */
  configured: AgentCameraConfig | undefined;
  /** Labels tracked; undefined = every label the model knows. */
  labels: readonly string[] | undefined;
  /** Where the label set came from, for the summary. */
  labelsFrom: 'default' | '--labels' | 'config';
  /** The configured camera's object filter, tracker gates and zones. */
  pipeline: Omit<CameraPipelineOptions, 'camera' | 'labels' | 'review'> | undefined;
  masks: AgentCameraConfig['masks'];
  /** Review rules and grouping (`review.merge_gap`), as the daemon's pipeline gets them. */
  review: CameraPipelineOptions['review'];
  detector: Omit<DetectorOptions, 'logger'> | undefined;
  fps: number;
  /** The frame size when it is fixed (a configured camera's detect size, unless --width was given). */
  size: { width: number; height: number } | undefined;
  maxWidth: number;
}

function parseFps(value: string, allowZero = false): number {
  const v = Number(value);
  if (!Number.isFinite(v) || v < 0 || (v === 0 && !allowZero) || v > 60)
    throw new VigilError('invalid_argument', `--fps must be a number within (0, 60], got "${value}"`);
  return v;
}

/** `--labels a,b` as a list; `all` (alone) means every label the model knows. */
function parseLabels(value: string): readonly string[] | undefined {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0) throw new VigilError('invalid_argument', '--labels needs at least one label, or all');
  return list.length === 1 && list[0] === 'all' ? undefined : list;
}

/** The flags and the config made into one set of settings. `given(flag)`: the flag was typed, not defaulted. */
function settingsFrom(
  opts: AnalyzeOptions,
  given: (flag: keyof AnalyzeOptions) => boolean,
  loaded: { config: AgentConfig; camera: AgentCameraConfig } | undefined,
): AnalyzeSettings {
  const cliDetector = (modelPath: string): Omit<DetectorOptions, 'logger'> => ({
    modelPath,
    type: parseModelType(opts.type),
    scoreThreshold: parseUnit('--threshold', opts.threshold),
    threads: parsePositiveInt('--threads', opts.threads),
  });
  const maxWidth = parsePositiveInt('--width', opts.width, 7680);
  const labelsFlag = opts.labels !== undefined ? parseLabels(opts.labels) : undefined;
  if (!loaded) {
    if (opts.camera !== undefined)
      throw new VigilError('invalid_argument', '--camera needs --config FILE (the camera is looked up there)');
    return {
      camera: 'analyze',
      configured: undefined,
      labels: opts.labels !== undefined ? labelsFlag : DEFAULT_LABELS,
      labelsFrom: opts.labels !== undefined ? '--labels' : 'default',
      pipeline: undefined,
      masks: [],
      review: { rules: Value.Default(ReviewConfigSchema, {}) as ReviewRules, grouping: REVIEW_GROUPING_DEFAULTS },
      detector: opts.model ? cliDetector(opts.model) : undefined,
      fps: parseFps(opts.fps),
      size: undefined,
      maxWidth,
    };
  }
  const { config, camera } = loaded;
  const { camera: name, labels, review, ...pipeline } = pipelineOptionsForCamera(camera);
  let detector: Omit<DetectorOptions, 'logger'> | undefined;
  if (config.model) {
    const fromConfig = detectorOptionsFrom({ ...config.model, ...(opts.model ? { path: opts.model } : {}) });
    detector = {
      ...fromConfig,
      ...(given('type') ? { type: parseModelType(opts.type) } : {}),
      ...(given('threshold') ? { scoreThreshold: parseUnit('--threshold', opts.threshold) } : {}),
      ...(given('threads') ? { threads: parsePositiveInt('--threads', opts.threads) } : {}),
    };
  } else if (opts.model) detector = cliDetector(opts.model);
  else
    throw new VigilError(
      'invalid_argument',
      `camera ${name}: no model to detect with: the config has no model.path and no --model was given`,
    );
  return {
    camera: name,
    configured: camera,
    labels: opts.labels !== undefined ? labelsFlag : labels,
    labelsFrom: opts.labels !== undefined ? '--labels' : 'config',
    pipeline,
    masks: camera.masks,
    review,
    detector,
    fps: given('fps') ? parseFps(opts.fps) : camera.detect.fps,
    size: given('width') ? undefined : { width: camera.detect.width, height: camera.detect.height },
    maxWidth,
  };
}

/**
 * With `--config` whose file has a `local_mqtt` section: the local integration as the daemon runs it, for the one
 * camera (discovery, counts, events, reviews, snapshots on the LAN broker), so an integrator can try it on a clip.
 */
function localFor(
  loaded: { config: AgentConfig; camera: AgentCameraConfig } | undefined,
  objects: boolean,
  version: string,
  logger: pino.Logger,
): LocalIntegration | undefined {
  const c = loaded?.config.local_mqtt;
  if (!loaded || !c) return undefined;
  return new LocalIntegration({
    config: c,
    version,
    cameras: discoveryCameras([{ ...loaded.camera, enabled: true }], objects),
    logger,
  });
}

/** `--config FILE --camera NAME`: the loaded config and that camera (config_invalid / unknown_camera otherwise). */
function loadCamera(opts: AnalyzeOptions): { config: AgentConfig; camera: AgentCameraConfig } | undefined {
  if (opts.config === undefined) return undefined;
  const { config } = loadAgentConfig(opts.config);
  if (opts.camera === undefined) {
    const names = config.cameras.map((c) => c.name);
    throw new VigilError(
      'invalid_argument',
      `--config needs --camera NAME: the camera whose settings to use (configured: ${names.join(', ') || 'none'})`,
    );
  }
  return { config, camera: findCamera(config, opts.camera) };
}

function describe(m: EventMessage): string {
  const when =
    m.media_start !== undefined
      ? ` ${m.media_start.toFixed(1)}s${m.media_end != null ? `–${m.media_end.toFixed(1)}s` : ''}`
      : '';
  const zones = m.zones.length > 0 ? ` zones ${m.zones.join(',')}` : '';
  return (
    `${m.type.padEnd(6)} ${m.id} ${m.label.padEnd(10)} ` +
    `score ${m.score.toFixed(2)}${when}${m.stationary ? ' stationary' : ''}${zones}` +
    `${m.thumbnail ? ` ${m.thumbnail}` : ''}`
  );
}

function describeReview(r: ReviewMessage): string {
  const when =
    r.media_start !== undefined
      ? ` ${r.media_start.toFixed(1)}s${r.media_end != null ? `–${r.media_end.toFixed(1)}s` : ''}`
      : '';
  const zones = r.zones.length > 0 ? ` zones ${r.zones.join(',')}` : '';
  return (
    `review ${r.type.padEnd(6)} ${r.id} ${r.severity.padEnd(9)} ${r.labels.join(',')}${when}${zones} ` +
    `objects ${r.objects.length}`
  );
}

export function registerAnalyze(program: Command): void {
  program
    .command('analyze')
    .description('Run motion, detection and tracking over a video file or camera URL and print the events')
    .argument('<input>', 'video file, rtsp:// or http(s):// URL, /dev/videoN, or lavfi:<filtergraph>')
    .option('--config <file>', 'agent config: analyse as the camera named by --camera would (its settings, model)')
    .option('--camera <name>', 'with --config: the camera whose labels, masks, filters, zones and review apply')
    .option('--model <path>', "ONNX detector model (default: the config's model; without any: motion events only)")
    .option('--type <type>', 'model output layout: auto, yolox, yolo or ssd', 'auto')
    .option('--fps <n>', "frames per second analysed (with --config: the camera's detect.fps)", '5')
    .option(
      '--width <px>',
      "largest analysis width, keeping the aspect (with --config: the camera's detect size)",
      '640',
    )
    .option('--out <dir>', 'write thumbnail and snapshot JPEGs there, named in the event lines (default: none)')
    .option('--threshold <score>', 'detector score threshold (0..1)', '0.3')
    .option('--threads <n>', 'onnxruntime threads for the detector', '1')
    .option(
      '--labels <list>',
      `comma-separated labels to track, or all (default: the camera's; without --config: ${DEFAULT_LABELS.join(',')})`,
    )
    .option('--timeout <s>', 'give up when the input yields no frame within this many seconds', '15')
    .option('--json', 'print JSON lines')
    .action(async (input: string, opts: AnalyzeOptions, cmd: Command) => {
      const given = (flag: keyof AnalyzeOptions): boolean => cmd.getOptionValueSource(flag) === 'cli';
      const loaded = loadCamera(opts);
      const s = settingsFrom(opts, given, loaded);
      const timeoutS = parsePositiveInt('--timeout', opts.timeout, 3600);
      // Logs go to stderr and only on request (VIGIL_LOG_LEVEL): stdout carries the events, stderr the one-line error.
      const logger = createLogger({
        component: 'analyze',
        level: (process.env.VIGIL_LOG_LEVEL as 'info' | undefined) ?? 'silent',
        destination: pino.destination(2),
      });
      const kind = classifyInput(input);
      const live = kind === 'rtsp' || kind === 'http' || kind === 'v4l2';

      // Load the model first: a bad model fails fast, before any ffmpeg starts.
      const detector = s.detector ? await ObjectDetector.create({ ...s.detector, logger }) : undefined;
      const native = live ? undefined : await probeVideoSize(input);
      const size = s.size ?? analysisSize(native, s.maxWidth);
      // Thumbnail and snapshot files only with --out; without it thumbnails are encoded in memory only.
      const out = opts.out ? resolve(opts.out) : undefined;
      if (out) await mkdir(out, { recursive: true });
      const motion = await MotionDetector.create({ ...size, masks: s.masks, threads: 1, logger });
      const local = localFor(loaded, detector !== undefined, vigilVersion(), logger);
      local?.start();
      const print = (obj: unknown): void =>
        void process.stdout.write((typeof obj === 'string' ? obj : JSON.stringify(obj)) + '\n');
      const labelsText = s.labels ? s.labels.join(',') : 'all';
      if (!opts.json && detector) print(`labels: ${labelsText} (${s.labelsFrom})`);
      const pipeline = new CameraPipeline({
        ...(s.pipeline ?? {}),
        camera: s.camera,
        ...size,
        motion,
        detector,
        labels: s.labels,
        thumbnailDir: out,
        // As on the box without --out: the thumbnail is encoded (in memory), the snapshot only goes to files.
        ...(out ? {} : { thumbnails: { snapshotMaxSize: 0 } }),
        mediaTimes: !live,
        logger,
        onEvent: (m, pictures) => {
          print(opts.json ? m : describe(m));
          local?.onEvent(m, pictures);
        },
        // Review items of the camera's review settings, printed after the event lines of the same frame.
        review: s.review,
        onReview: (r) => {
          print(opts.json ? r : describeReview(r));
          local?.onReview(r);
        },
      });
      let camera: Awaited<ReturnType<typeof openCamera>>['camera'] | undefined;
      const stop = () => void camera?.stop();
      process.once('SIGINT', stop);
      try {
        const opened = await openCamera(
          { name: s.camera, input, detect: { ...size, fps: s.fps }, realtime: false },
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
        const st = pipeline.stats();
        const cam = camera.stats();
        const summary = {
          type: 'summary',
          input,
          camera: s.camera,
          ...(opts.config ? { config: resolve(opts.config) } : {}),
          labels: detector ? (s.labels ?? 'all') : ['motion'],
          width: size.width,
          height: size.height,
          fps: s.fps,
          frames: st.frames,
          frames_dropped: cam.framesDropped,
          motion_frames: st.motion_frames,
          detect_frames: st.detect_frames,
          detector_runs: st.detector_runs,
          detections_filtered: st.detections_filtered,
          events: st.events,
          messages: st.messages,
          alerts: st.review_items.alert,
          detections: st.review_items.detection,
          ms_per_frame: st.ms_per_frame,
          detector_ms: st.detector_ms,
          detector_overhead_pct: st.detector_overhead_pct,
          picture_bytes_peak: st.picture_bytes_peak,
          live_tracks_peak: st.live_tracks_peak,
          thumbnails: out ?? null,
          mode: detector ? 'objects' : 'motion',
          ...(local ? { local_mqtt: await drained(local) } : {}),
        };
        print(
          opts.json
            ? summary
            : `summary: ${st.frames} frames, ${st.motion_frames} with motion, ${st.detector_runs} detector ` +
                `runs, ${st.detections_filtered} detections filtered, ${st.events} events, ` +
                `${st.review_items.alert} alerts, ${st.review_items.detection} detections; ` +
                `ms/frame ${JSON.stringify(st.ms_per_frame)}${out ? `; thumbnails in ${out}` : ''}`,
        );
      } finally {
        process.off('SIGINT', stop);
        await camera?.stop();
        await local?.stop();
        await motion.close();
        await detector?.close();
      }
    });
}

/** Waits (up to 10 s) for the local queue to reach the broker, then says what went: the summary's `local_mqtt`. */
async function drained(
  local: LocalIntegration,
): Promise<{ url: string; state: string; published: number; dropped: number }> {
  const end = Date.now() + 10_000;
  while (Date.now() < end) {
    const st = local.status();
    if (st.queued === 0 && (st.state === 'connected' || st.state === 'error')) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const st = local.status();
  return { url: st.url, state: st.state, published: st.published, dropped: st.dropped };
}
