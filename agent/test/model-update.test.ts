/**
 * The model_update handler against a local HTTP server, with the real YOLOX-nano: a good model is downloaded into
 * the registry, warmed up on a real frame, swapped into the detector slot and persisted (heartbeat and status then
 * report its id and SHA-256); a wrong hash, a corrupt ONNX file, a model that fails on a real frame, no frame at all,
 * a motion-only box and bad args each end with their code and leave the running model as it was.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log/index.js';
import type { Frame } from '../camera/frame.js';
import { modelUpdateHandler, resolveModelUrl, type ModelUpdateDeps } from '../commands/model-update.js';
import type { CommandOutcome } from '../commands/types.js';
import { DetectorConfigSchema, type DetectorConfig } from '../detect/config.js';
import type { DetectorSlot } from '../detect/detector-slot.js';
import { loadDetector, registryDetectorOptions } from '../models/load.js';
import { activeModelFile, readActiveModel, registryDir, registryModelFile } from '../models/registry.js';
import { activeModelStatus, heartbeatModel, type ModelUpdateReport } from '../models/report.js';
import {
  argsFor,
  corruptModel,
  failsOnRealFrameModel,
  frameFromImage,
  ModelServer,
  modelUpdateContext,
  newModelId,
  sha256,
  YOLOX,
  yoloxVariant,
} from './support-models/models.js';

let server: ModelServer;
let dog: Frame;
let work: string;
let dataDir: string;
let config: DetectorConfig;
let slot: DetectorSlot;
let reports: ModelUpdateReport[];
const yoloxSha = (): string => sha256(readFileSync(YOLOX()));

beforeAll(async () => {
  server = new ModelServer();
  await server.start();
  dog = await frameFromImage('dog.jpg');
  work = mkdtempSync(join(tmpdir(), 'vigil-model-update-'));
});
afterAll(async () => {
  await server.close();
  rmSync(work, { recursive: true, force: true });
});
beforeEach(async () => {
  dataDir = mkdtempSync(join(work, 'data-'));
  config = Value.Default(DetectorConfigSchema, { path: YOLOX() }) as DetectorConfig;
  slot = (await loadDetector({ config, dataDir, logger: silent })).slot;
  reports = [];
});
afterEach(async () => {
  await slot.close();
});

const silent = silentLogger();

function handler(over: Partial<ModelUpdateDeps> = {}) {
  return modelUpdateHandler({
    dataDir,
    slot: () => slot,
    modelConfig: () => config,
    // The server stands for the collector, with a path prefix that relative URLs keep.
    baseUrl: `${server.base}/`,
    latestFrame: () => dog,
    frameWaitMs: 300,
    onFinished: (r) => reports.push(r),
    logger: silent,
    ...over,
  });
}

function failedWith(o: CommandOutcome, code: string): string {
  expect(o.status).toBe('failed');
  if (o.status === 'done') throw new Error('done');
  expect(o.code).toBe(code);
  return o.message;
}

/** The slot still runs the config's YOLOX: id null, its hash, and it still finds the dog. */
async function stillOnConfigModel(): Promise<void> {
  expect(heartbeatModel(slot)).toEqual({ id: null, sha256: yoloxSha() });
  expect(existsSync(activeModelFile(dataDir))).toBe(false);
  const r = await slot.detectFrame(dog);
  expect(r.detections.some((d) => d.label === 'dog' && d.score > 0.5)).toBe(true);
}

const registryFiles = (): string[] => (existsSync(registryDir(dataDir)) ? readdirSync(registryDir(dataDir)) : []);

describe('model_update: a good model', () => {
  it('is downloaded, warmed up, swapped in between frames and persisted; heartbeat and status report it', {
    timeout: 60_000,
  }, async () => {
    const id = newModelId();
    const bytes = yoloxVariant(id);
    const args = argsFor(id, bytes, server.serve(id, { body: bytes }));
    const before = slot.detector;
    expect(heartbeatModel(slot)).toEqual({ id: null, sha256: yoloxSha() });

    const out = await handler()(modelUpdateContext(args));

    expect(out.status).toBe('done');
    if (out.status !== 'done') throw new Error(out.message);
    expect(out.result.model_id).toBe(id);
    expect(out.result.sha256).toBe(sha256(bytes));
    expect(out.result.warmup_ms).toBeGreaterThan(0);
    // The relative URL was fetched from the collector endpoint, with its signature.
    expect(server.requests).toContain(args.url);
    // Heartbeat and status document now name the new model.
    expect(heartbeatModel(slot)).toEqual({ id, sha256: sha256(bytes) });
    expect(sha256(bytes)).not.toBe(yoloxSha());
    const st = activeModelStatus(slot, null, reports.at(-1) ?? null);
    expect(st).toMatchObject({ id, name: args.name, sha256: sha256(bytes), format: 'yolox', fallback: null });
    expect(st?.path).toBe(registryModelFile(dataDir, id));
    expect(st?.last_update).toMatchObject({ model_id: id, status: 'done', code: null });
    // The registry holds exactly the new file, byte for byte; active.json records it.
    expect(registryFiles()).toEqual([`${id}.onnx`]);
    expect(sha256(readFileSync(registryModelFile(dataDir, id)))).toBe(sha256(bytes));
    expect(readActiveModel(dataDir)).toMatchObject({ model_id: id, sha256: sha256(bytes), format: 'yolox' });
    // The cameras' next frame runs on the new detector, the old session was closed.
    expect(slot.detector).not.toBe(before);
    const r = await slot.detectFrame(dog);
    expect(r.detections.some((d) => d.label === 'dog' && d.score > 0.5)).toBe(true);
    await expect(before.detectFrame(dog)).rejects.toThrow();
  });

  it('the same model again is done at once; a model already in the registry is not downloaded twice', {
    timeout: 60_000,
  }, async () => {
    const id = newModelId();
    const bytes = yoloxVariant(id);
    const args = argsFor(id, bytes, server.serve(id, { body: bytes }));
    const h = handler();
    expect((await h(modelUpdateContext(args))).status).toBe('done');
    const fetched = server.requests.length;
    const again = await h(modelUpdateContext(args));
    expect(again).toEqual({ status: 'done', result: { model_id: id, sha256: sha256(bytes), warmup_ms: 0 } });
    expect(server.requests.length).toBe(fetched);
  });
});

describe('model_update: failures leave the running model', () => {
  it('a wrong SHA-256 → model_hash_mismatch, nothing kept in the registry', { timeout: 60_000 }, async () => {
    const id = newModelId();
    const bytes = yoloxVariant(id);
    const args = argsFor(id, bytes, server.serve(id, { body: bytes }), { sha256: sha256(Buffer.from('other')) });
    const msg = failedWith(await handler()(modelUpdateContext(args)), 'model_hash_mismatch');
    expect(msg).toContain(sha256(bytes));
    expect(registryFiles()).toEqual([]);
    expect(reports).toMatchObject([{ model_id: id, status: 'failed', code: 'model_hash_mismatch' }]);
    await stillOnConfigModel();
  });

  it('more bytes than announced → model_hash_mismatch; a wrong Content-Length or an HTTP error → download failed', {
    timeout: 60_000,
  }, async () => {
    const id = newModelId();
    const bytes = yoloxVariant(id);
    const url = server.serve(id, { body: bytes, contentLength: null });
    const small = argsFor(id, bytes, url, { size: bytes.length - 100 });
    expect(failedWith(await handler()(modelUpdateContext(small)), 'model_hash_mismatch')).toMatch(/more than/);
    const id2 = newModelId();
    const url2 = server.serve(id2, { body: bytes });
    const short = argsFor(id2, bytes, url2, { size: bytes.length + 1 });
    expect(failedWith(await handler()(modelUpdateContext(short)), 'model_download_failed')).toMatch(/Content-Length/);
    const id3 = newModelId();
    const gone = argsFor(id3, bytes, server.serve(id3, { body: bytes, status: 403 }));
    expect(failedWith(await handler()(modelUpdateContext(gone)), 'model_download_failed')).toMatch(/HTTP 403/);
    expect(registryFiles()).toEqual([]);
    await stillOnConfigModel();
  });

  it('a corrupt ONNX file (right hash) → model_load_failed', { timeout: 60_000 }, async () => {
    const id = newModelId();
    const bytes = corruptModel();
    const args = argsFor(id, bytes, server.serve(id, { body: bytes }));
    expect(failedWith(await handler()(modelUpdateContext(args)), 'model_load_failed')).toMatch(/not a valid ONNX/);
    expect(registryFiles()).toEqual([]);
    await stillOnConfigModel();
  });

  it('a model that loads but fails on a real frame → model_warmup_failed', { timeout: 60_000 }, async () => {
    const id = newModelId();
    const bytes = failsOnRealFrameModel();
    const args = argsFor(id, bytes, server.serve(id, { body: bytes }));
    const msg = failedWith(await handler()(modelUpdateContext(args)), 'model_warmup_failed');
    expect(msg).toMatch(/Gather|out of data bounds/);
    expect(registryFiles()).toEqual([]);
    await stillOnConfigModel();
  });

  it('no camera frame within the wait → model_warmup_failed (no_frame)', { timeout: 60_000 }, async () => {
    const id = newModelId();
    const bytes = yoloxVariant(id);
    const args = argsFor(id, bytes, server.serve(id, { body: bytes }));
    const out = await handler({ latestFrame: () => undefined })(modelUpdateContext(args));
    expect(failedWith(out, 'model_warmup_failed')).toMatch(/no_frame/);
    await stillOnConfigModel();
  });

  it('a motion-only box → not_supported', async () => {
    const id = newModelId();
    const bytes = yoloxVariant(id);
    const args = argsFor(id, bytes, server.serve(id, { body: bytes }));
    // A motion-only box reports no model (heartbeat `model: null`, status `active_model: null`).
    expect(heartbeatModel(undefined)).toBeNull();
    expect(activeModelStatus(undefined, null, null)).toBeNull();
    const motion = handler({ slot: () => undefined, modelConfig: () => undefined });
    expect(failedWith(await motion(modelUpdateContext(args)), 'not_supported')).toMatch(/motion-only/);
    expect(server.requests.filter((r) => r.includes(id))).toEqual([]);
    await stillOnConfigModel();
  });
});

describe('model_update: the choice across restarts', () => {
  it('a restart runs the registry model; a persisted model that no longer loads falls back to the config model', {
    timeout: 60_000,
  }, async () => {
    const id = newModelId();
    const bytes = yoloxVariant(id);
    expect((await handler()(modelUpdateContext(argsFor(id, bytes, server.serve(id, { body: bytes }))))).status).toBe(
      'done',
    );
    await slot.close();
    // "Restart": the daemon's start-up load, same data dir and config.
    slot = (await loadDetector({ config, dataDir, logger: silent })).slot;
    expect(heartbeatModel(slot)).toEqual({ id, sha256: sha256(bytes) });
    expect(slot.model.path).toBe(registryModelFile(dataDir, id));
    await slot.close();
    // The registry file gets damaged: the next start falls back by itself and forgets the choice.
    rmSync(registryModelFile(dataDir, id));
    writeFileSync(registryModelFile(dataDir, id), corruptModel());
    const loaded = await loadDetector({ config, dataDir, logger: silent });
    slot = loaded.slot;
    expect(heartbeatModel(slot)).toEqual({ id: null, sha256: yoloxSha() });
    expect(loaded.fallback).toContain(id);
    expect(existsSync(activeModelFile(dataDir))).toBe(false);
    // The damaged file is not kept either.
    expect(registryFiles()).toEqual([]);
  });

  it('a garbled active.json falls back to the config model too', { timeout: 30_000 }, async () => {
    await slot.close();
    mkdirSync(join(dataDir, 'models'), { recursive: true });
    writeFileSync(activeModelFile(dataDir), '{"v":1,"model_id":"mdl_nope"');
    const loaded = await loadDetector({ config, dataDir, logger: silent });
    slot = loaded.slot;
    expect(loaded.fallback).toMatch(/active\.json/);
    expect(heartbeatModel(slot)).toEqual({ id: null, sha256: yoloxSha() });
  });
});

describe('resolveModelUrl', () => {
  it('keeps the collector path prefix for relative URLs and takes absolute ones as they are', () => {
    const rel = '/v1/models/mdl_1/file?exp=1&sig=a';
    expect(resolveModelUrl(rel, 'https://c.example/vigil/').href).toBe(`https://c.example/vigil${rel}`);
    expect(resolveModelUrl(rel, 'https://c.example').href).toBe(`https://c.example${rel}`);
    expect(resolveModelUrl('https://cdn.example/m.onnx', 'https://c.example/x').href).toBe(
      'https://cdn.example/m.onnx',
    );
    expect(() => resolveModelUrl('file:///etc/passwd', 'https://c.example')).toThrow(/not http/);
  });
});

describe('registryDetectorOptions', () => {
  it("a registry model keeps the config's runtime settings, not what describes the config's own file", () => {
    const c = Value.Default(DetectorConfigSchema, {
      path: '/models/config.onnx',
      type: 'yolo',
      threads: 3,
      score_threshold: 0.6,
      iou_threshold: 0.3,
      channel_order: 'rgb',
      input_scale: 0.5,
      labels: ['a', 'b'],
    }) as DetectorConfig;
    const o = registryDetectorOptions(c, { path: '/r/mdl.onnx', format: 'yolox', labels: ['cat'] });
    expect(o).toEqual({
      modelPath: '/r/mdl.onnx',
      type: 'yolox',
      threads: 3,
      scoreThreshold: 0.6,
      iouThreshold: 0.3,
      boxOrder: 'yxyx',
      labels: ['cat'],
    });
    expect(registryDetectorOptions(c, { path: '/r/m.onnx', format: 'ssd' }).labels).toBeUndefined();
  });
});
