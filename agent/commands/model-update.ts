import { rm } from 'node:fs/promises';
import {
  validateModelUpdateArgs,
  type CommandResultCode,
  type ModelUpdateArgs,
} from '../../firmware-protocol/messages.js';
import type { Logger } from '../../shared/log/index.js';
import type { Frame } from '../camera/frame.js';
import type { DetectorConfig } from '../detect/config.js';
import type { ObjectDetector } from '../detect/detector.js';
import type { DetectorSlot } from '../detect/detector-slot.js';
import { describeError, isVigilError } from '../errors.js';
import { downloadModel } from '../models/download.js';
import { loadRegistryModel } from '../models/load.js';
import { pruneRegistry, registryModelFile, writeActiveModel } from '../models/registry.js';
import { httpsAgent, type ClientTls } from '../uplink/https-client.js';
import type { ModelUpdateReport } from '../models/report.js';
import type { CommandContext, CommandHandler, CommandOutcome } from './types.js';

/**
 * The `model_update` command: download a registry model, check it, warm it up on a real frame and swap it in
 * between frames; any failure leaves the running model as it was.
 *
 *   1. args checked (ModelUpdateArgs) → refused `command_invalid`; motion-only box → failed `not_supported`;
 *      the model already running (same id and SHA-256) → done at once (`warmup_ms` 0).
 *   2. download (models/download.ts): the url resolved against the collector HTTPS endpoint the box was paired with,
 *      streamed into `<data_dir>/models/registry/<model_id>.onnx` (temp file, size cap, SHA-256, fsync, rename)
 *      → `model_download_failed` / `model_hash_mismatch`. A file already there with the right hash is reused.
 *   3. load with onnxruntime (the config's threads and thresholds, the announced format and labels; the runtime's
 *      own first run on a blank input included) → `model_load_failed`.
 *   4. warm-up: one detection on the newest frame of any camera (waiting up to `frameWaitMs` when none has one
 *      yet), which must not fail and must give finite boxes and scores → `model_warmup_failed` (no frame at all is
 *      a warm-up failure too: a model never seen working on this box's pictures is not swapped in).
 *   5. `models/active.json` written (so a restart keeps the new model), then the detector slot swaps: the next
 *      frame of every camera runs on the new model, calls in flight finish on the old one, which is then closed.
 *      Older registry files are removed. Result `{model_id, sha256, warmup_ms}`.
 *
 * Updates run one at a time (a second command waits for the first).
 */
export interface ModelUpdateDeps {
  /** The agent's data directory (`data_dir`). */
  dataDir: string;
  /** The running detector slot; undefined in motion-only mode. Read again at swap time (a reload may replace it). */
  slot: () => DetectorSlot | undefined;
  /** The config's `model` section: a registry model runs with its threads and thresholds. */
  modelConfig: () => DetectorConfig | undefined;
  /** The collector HTTPS endpoint the box was paired with (credentials `endpoints.https`). */
  baseUrl: string;
  /** The box's TLS client configuration (uplink.ca_file, client certificate) for the download. */
  tls?: ClientTls;
  /** The newest frame of any camera; undefined while no camera has one. */
  latestFrame: () => Frame | undefined;
  /** How long to wait for a first frame when no camera has one (default 10 s). */
  frameWaitMs?: number;
  /** Download headers / between-chunks timeout, ms (default 60 s). */
  downloadTimeoutMs?: number;
  /** Told how every update ended (the status document shows the last one). */
  onFinished?: (report: ModelUpdateReport) => void;
  logger: Logger;
}

/** A step failed: the result code and message the command ends with. */
class StepFailed extends Error {
  constructor(
    readonly code: CommandResultCode,
    message: string,
  ) {
    super(message);
  }
}

const FRAME_POLL_MS = 100;

export function modelUpdateHandler(deps: ModelUpdateDeps): CommandHandler {
  let chain: Promise<unknown> = Promise.resolve();
  return (ctx) => {
    const run = chain.then(() => update(deps, ctx));
    chain = run.catch(() => undefined);
    return run;
  };
}

async function update(deps: ModelUpdateDeps, ctx: CommandContext): Promise<CommandOutcome> {
  // The executor refused bad arguments already (command_invalid); this only narrows their type.
  const args = validateModelUpdateArgs.parse(ctx.command.args, 'model_update args');
  const log = ctx.log.child({ model_id: args.model_id, model_name: args.name });
  const t0 = performance.now();
  let outcome: CommandOutcome;
  try {
    outcome = await install(deps, args, log);
  } catch (err) {
    const code: CommandResultCode = err instanceof StepFailed ? err.code : 'internal_error';
    outcome = { status: 'failed', code, message: (err instanceof Error ? err.message : String(err)).slice(0, 512) };
  }
  if (outcome.status === 'done') log.info({ ms: Math.round(performance.now() - t0) }, 'model update done');
  else log.warn({ code: outcome.code, err: outcome.message }, 'model update failed; the previous model stays');
  return finish(deps, ctx, args.model_id, outcome);
}

function finish(deps: ModelUpdateDeps, ctx: CommandContext, modelId: string, outcome: CommandOutcome): CommandOutcome {
  deps.onFinished?.({
    command_id: ctx.command.id,
    model_id: modelId,
    at: new Date().toISOString(),
    status: outcome.status,
    code: outcome.status === 'done' ? null : outcome.code,
    message: outcome.status === 'done' ? null : outcome.message,
  });
  return outcome;
}

async function install(deps: ModelUpdateDeps, args: ModelUpdateArgs, log: Logger): Promise<CommandOutcome> {
  const slot = deps.slot();
  const config = deps.modelConfig();
  if (!slot || !config)
    throw new StepFailed('not_supported', 'the box runs in motion-only mode (no `model` configured)');
  if (slot.model.id === args.model_id && slot.model.sha256 === args.sha256) {
    log.info('model update: this model already runs');
    return { status: 'done', result: { model_id: args.model_id, sha256: args.sha256, warmup_ms: 0 } };
  }
  const dest = registryModelFile(deps.dataDir, args.model_id);
  const url = resolveModelUrl(args.url, deps.baseUrl);
  const timeoutMs = deps.downloadTimeoutMs ?? 60_000;
  const dispatcher = httpsAgent({ tls: deps.tls, timeoutMs });
  let got: Awaited<ReturnType<typeof downloadModel>>;
  try {
    got = await downloadModel({ url, size: args.size, sha256: args.sha256, dest, dispatcher, timeoutMs });
  } catch (err) {
    const code = isVigilError(err, 'model_hash_mismatch') ? 'model_hash_mismatch' : 'model_download_failed';
    throw new StepFailed(code, describeError(err));
  } finally {
    await dispatcher.close().catch(() => undefined);
  }
  log.info({ bytes: got.bytes, ms: Math.round(got.ms), cached: got.cached }, 'model update: file in the registry');
  // The file is not kept when the model does not make it (unless it is the running one's).
  const discard = async (): Promise<void> => {
    if (deps.slot()?.model.path !== dest) await rm(dest, { force: true });
  };
  let detector: ObjectDetector;
  try {
    detector = await loadRegistryModel(config, deps.dataDir, args, log);
  } catch (err) {
    await discard();
    throw new StepFailed('model_load_failed', describeError(err));
  }
  let warmupMs: number;
  try {
    warmupMs = await warmUp(detector, deps);
  } catch (err) {
    await detector.close().catch(() => undefined);
    await discard();
    throw err instanceof StepFailed ? err : new StepFailed('model_warmup_failed', describeError(err));
  }
  const target = deps.slot();
  if (!target) {
    await detector.close().catch(() => undefined);
    throw new StepFailed('not_supported', 'the box switched to motion-only mode during the update');
  }
  try {
    writeActiveModel(deps.dataDir, {
      v: 1,
      model_id: args.model_id,
      name: args.name,
      format: args.format,
      ...(args.labels ? { labels: args.labels } : {}),
      size: args.size,
      sha256: args.sha256,
      activated_at: new Date().toISOString(),
    });
  } catch (err) {
    await detector.close().catch(() => undefined);
    throw new StepFailed('internal_error', `cannot record the new model: ${describeError(err)}`);
  }
  await target.swap(detector, { id: args.model_id, name: args.name });
  const removed = pruneRegistry(deps.dataDir, [args.model_id]);
  log.info({ warmup_ms: round(warmupMs), removed }, 'model update: swapped in');
  return { status: 'done', result: { model_id: args.model_id, sha256: args.sha256, warmup_ms: round(warmupMs) } };
}

/** One detection on a real frame; returns its duration in ms. */
async function warmUp(detector: ObjectDetector, deps: ModelUpdateDeps): Promise<number> {
  const frame = await waitForFrame(deps.latestFrame, deps.frameWaitMs ?? 10_000);
  if (!frame) throw new StepFailed('model_warmup_failed', 'no camera has a frame to warm the model up on (no_frame)');
  const t0 = performance.now();
  const r = await detector.detectFrame(frame);
  const ms = performance.now() - t0;
  const bad = r.detections.find((d) => !Number.isFinite(d.score) || d.box.some((v) => !Number.isFinite(v)));
  if (bad) throw new StepFailed('model_warmup_failed', `the model gave a non-finite detection (${bad.label})`);
  return ms;
}

async function waitForFrame(latest: () => Frame | undefined, waitMs: number): Promise<Frame | undefined> {
  const until = performance.now() + waitMs;
  for (;;) {
    const frame = latest();
    if (frame || performance.now() >= until) return frame;
    await new Promise((resolve) => setTimeout(resolve, FRAME_POLL_MS));
  }
}

/**
 * The model URL: absolute, or a path under the collector endpoint (its path prefix kept, as the HTTPS transport
 * does: `https://host/vigil` + `/v1/models/…`); http(s) only.
 */
export function resolveModelUrl(url: string, baseUrl: string): URL {
  let u: URL;
  try {
    const base = new URL(baseUrl);
    const prefix = base.pathname.replace(/\/+$/, '');
    u = url.startsWith('/') && !url.startsWith('//') ? new URL(`${base.origin}${prefix}${url}`) : new URL(url, base);
  } catch {
    throw new StepFailed('model_download_failed', `not a usable model URL: ${url.slice(0, 80)}`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    throw new StepFailed('model_download_failed', `model URL scheme ${u.protocol} is not http(s)`);
  return u;
}

const round = (ms: number): number => Math.round(ms * 10) / 10;
