/**
 * model_update in the running daemon (in this process: a looping file camera on vtest.avi with the real YOLOX-nano,
 * uplink over HTTP to the fake collector, the local status endpoint): the update swaps the model while the camera
 * keeps running (no restart, frames keep being processed), heartbeats and the status document report the new id and
 * SHA-256, a failed update leaves it running, a restart keeps it, and a start whose persisted model no longer loads
 * falls back to the config model by itself.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateHeartbeat } from '../../firmware-protocol/messages.js';
import { silentLogger } from '../../shared/log/index.js';
import { loadAgentConfig } from '../config.js';
import { credentialsPath, writeCredentials } from '../credentials/store.js';
import { Daemon } from '../daemon/index.js';
import { registryModelFile } from '../models/registry.js';
import { fetchDaemonStatus } from '../status/client.js';
import type { DaemonStatus } from '../status/schema.js';
import { waitFor } from './e2e-run-support.js';
import { testDevice } from './support-uplink/events.js';
import { FakeCollector } from './support-uplink/fake-collector.js';
import {
  argsFor,
  asset,
  corruptModel,
  ModelServer,
  modelUpdateContext,
  newModelId,
  sha256,
  YOLOX,
  yoloxVariant,
} from './support-models/models.js';

let work: string;
let collector: FakeCollector;
let server: ModelServer;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'vigil-model-daemon-'));
  collector = new FakeCollector(testDevice());
  const url = await collector.listenHttp();
  server = new ModelServer();
  await server.start();
  const c = collector.device;
  writeCredentials(credentialsPath(join(work, 'data')), {
    v: 1,
    device_id: c.deviceId,
    key_id: c.keyId,
    secret_b64: c.secret.toString('base64'),
    cloud: url,
    endpoints: { https: url },
    paired_at: new Date().toISOString(),
  });
  writeFileSync(
    join(work, 'agent.yaml'),
    [
      `data_dir: ${join(work, 'data')}`,
      `status: { listen: ${join(work, 'status.sock')} }`,
      'uplink: { heartbeat_interval: 1s, http_timeout: 2s }',
      `model: { path: ${YOLOX()} }`,
      'cameras:',
      '  - name: yard',
      `    input: ${asset('media', 'vtest.avi')}`,
      '    loop: true',
      '    realtime: true',
      '    detect: { width: 384, height: 288, fps: 4 }',
      '    restart_backoff_s: { initial: 0.2, max: 1 }',
      '',
    ].join('\n'),
  );
});
afterAll(async () => {
  await server?.close();
  await collector?.close();
  rmSync(work, { recursive: true, force: true });
});

const status = (): Promise<DaemonStatus> => fetchDaemonStatus({ kind: 'unix', path: join(work, 'status.sock') });

function startDaemon(): Daemon {
  return new Daemon({
    loadConfig: () => loadAgentConfig(join(work, 'agent.yaml')),
    logger: silentLogger(),
    version: '0.0.0-model-update',
  });
}

/**
 * A heartbeat built after now (the second to arrive from now: the first may have been on its way), checked against
 * the protocol schema.
 */
async function nextHeartbeat(): Promise<Record<string, unknown>> {
  const seen = collector.received.heartbeats.length;
  const hb = await waitFor('a heartbeat', () => collector.received.heartbeats[seen + 1], 15_000, 100);
  expect(validateHeartbeat.check(hb)).toBe(true);
  return hb;
}

/** The camera processed `n` more frames than it had at `from`. */
const processedPast = (from: number, n: number): Promise<DaemonStatus> =>
  waitFor(
    `${n} frames processed past ${from}`,
    async () => {
      const s = await status();
      return (s.cameras[0]?.frames_processed ?? 0) >= from + n ? s : undefined;
    },
    60_000,
    200,
  );

describe('model_update in the daemon', () => {
  it('swaps without restarting the camera, reports the model, survives a failed update and a restart, and falls ' +
    'back to the config model when the persisted one no longer loads', {
    timeout: 180_000,
  }, async () => {
    const yoloxSha = sha256(readFileSync(YOLOX()));
    const id = newModelId();
    const bytes = yoloxVariant(id);
    // Served from elsewhere than the collector: an absolute URL.
    const args = argsFor(id, bytes, server.base + server.serve(id, { body: bytes }));

    let daemon = startDaemon();
    await daemon.start();
    try {
      const s0 = await processedPast(0, 2);
      expect(s0.active_model).toMatchObject({ id: null, sha256: yoloxSha, path: YOLOX(), fallback: null });
      expect((await nextHeartbeat()).model).toEqual({ id: null, sha256: yoloxSha });

      const out = await daemon.modelUpdateHandler(modelUpdateContext(args, collector.device.deviceId));
      expect(out).toMatchObject({ status: 'done', result: { model_id: id, sha256: sha256(bytes) } });

      // Same camera run: no restart, no new pass, and frames go on through the new model.
      const s1 = await status();
      const cam = s1.cameras[0]!;
      // The runner's counts did not start over (a restarted camera would begin again from 0).
      expect(cam.frames).toBeGreaterThanOrEqual(s0.cameras[0]!.frames);
      expect(cam.frames_processed).toBeGreaterThanOrEqual(s0.cameras[0]!.frames_processed ?? 0);
      expect(s1.active_model).toMatchObject({ id, name: args.name, sha256: sha256(bytes), fallback: null });
      expect(s1.active_model?.last_update).toMatchObject({ model_id: id, status: 'done' });
      expect(s1.model).toBe(registryModelFile(join(work, 'data'), id));
      const s2 = await processedPast(cam.frames_processed ?? 0, 4);
      expect(s2.cameras[0]).toMatchObject({ phase: 'running', restarts: cam.restarts, passes: cam.passes });
      expect(s2.cameras[0]!.restarts).toBe(s0.cameras[0]!.restarts);
      expect((await nextHeartbeat()).model).toEqual({ id, sha256: sha256(bytes) });

      // A failed update (wrong hash) leaves the new model running and says why.
      const other = newModelId();
      const bad = argsFor(other, bytes, server.base + server.serve(other, { body: bytes }), {
        sha256: yoloxSha,
      });
      const failed = await daemon.modelUpdateHandler(modelUpdateContext(bad, collector.device.deviceId));
      expect(failed).toMatchObject({ status: 'failed', code: 'model_hash_mismatch' });
      const s3 = await status();
      expect(s3.active_model).toMatchObject({ id, sha256: sha256(bytes) });
      expect(s3.active_model?.last_update).toMatchObject({ model_id: other, code: 'model_hash_mismatch' });
      expect((await nextHeartbeat()).model).toEqual({ id, sha256: sha256(bytes) });

      // A reload that changes the model section (threads) keeps the registry model, under the new settings.
      const file = join(work, 'agent.yaml');
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace(/^model: .*$/m, `model: { path: ${YOLOX()}, threads: 2 }`),
      );
      expect(await daemon.reload()).toEqual({ ok: true, restarted: ['yard'] });
      expect((await status()).active_model).toMatchObject({ id, sha256: sha256(bytes), fallback: null });
    } finally {
      await daemon.stop();
    }

    // A restart runs the registry model.
    daemon = startDaemon();
    await daemon.start();
    try {
      const s = await processedPast(0, 2);
      expect(s.active_model).toMatchObject({ id, sha256: sha256(bytes), fallback: null });
      expect((await nextHeartbeat()).model).toEqual({ id, sha256: sha256(bytes) });
    } finally {
      await daemon.stop();
    }

    // The registry file is damaged: the next start falls back to the config model by itself.
    writeFileSync(registryModelFile(join(work, 'data'), id), corruptModel());
    daemon = startDaemon();
    await daemon.start();
    try {
      const s = await processedPast(0, 2);
      expect(s.active_model).toMatchObject({ id: null, sha256: yoloxSha, path: YOLOX() });
      expect(s.active_model?.fallback).toContain(id);
      expect(s.mode).toBe('objects');
      expect((await nextHeartbeat()).model).toEqual({ id: null, sha256: yoloxSha });
    } finally {
      await daemon.stop();
    }
  });
});
