import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assetPath } from '../../shared/paths/index.js';
import { MemoryNonceCache, type DeviceCredentials } from '../../shared/signing/index.js';
import {
  validateAck,
  validateModelUpdateArgs,
  type Command,
  type CommandResult,
  type ModelUpdateArgs,
} from '../../firmware-protocol/messages.js';
import { testBackends } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { commandResult, polledCommands } from './support/commands.js';

/**
 * A rollout through the collector's real command channel (cloud/commands, wired by the server): two fake boxes
 * with paired keys take their model_update command from the signed long-poll (verified as a box verifies it),
 * download the model from its signed URL, answer through the real results route and send heartbeats through the
 * real ingest route; the rollout status follows: pending → updating → active, and failed with the box's code.
 */
const YOLOX = readFileSync(assetPath('models', 'yolox_nano.onnx'));
const SHA = createHash('sha256').update(YOLOX).digest('hex');
const backends = await testBackends();

interface BoxStatus {
  device_id: string;
  command_id: string | null;
  state: string;
  code: string | null;
  message: string | null;
}

describe.each(backends)('model rollout through the command channel on $name', (backend) => {
  let t: TestCloud;
  let a: DeviceCredentials;
  let b: DeviceCredentials;
  let modelId: string;
  const nonces = new MemoryNonceCache();

  beforeAll(async () => {
    t = await startTestCloud(backend);
    a = await t.pairDevice('a');
    b = await t.pairDevice('b');
    const created = (await (
      await post('/v1/models', { name: 'yolox nano', format: 'yolox', size: YOLOX.length, sha256: SHA })
    ).json()) as { id: string; upload_url: string };
    modelId = created.id;
    expect((await fetch(created.upload_url, { method: 'PUT', body: YOLOX })).status).toBe(200);
    expect((await post(`/v1/models/${modelId}/finalize`, {})).status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
  });

  function post(path: string, body: unknown): Promise<Response> {
    return t.api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }
  async function boxes(): Promise<Map<string, BoxStatus>> {
    const body = (await (await t.api(`/v1/models/${modelId}/rollout`)).json()) as { devices: BoxStatus[] };
    return new Map(body.devices.map((d) => [d.device_id, d]));
  }
  /** Reads the status until `box` is in `state` (a command's end reaches the rollout through onFinished). */
  async function until(box: DeviceCredentials, state: string): Promise<BoxStatus> {
    let last: BoxStatus | undefined;
    for (let i = 0; i < 50; i++) {
      last = (await boxes()).get(box.deviceId);
      if (last?.state === state) return last;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${box.deviceId} stayed ${JSON.stringify(last)}, not ${state}`);
  }
  const poll = (creds: DeviceCredentials): Promise<Command[]> => polledCommands(t.url, creds, 0, nonces);
  async function answer(creds: DeviceCredentials, c: Command, o: Partial<CommandResult>): Promise<void> {
    const r = commandResult(c, o);
    const path = `/v1/devices/${creds.deviceId}/results`;
    const res = await t.signedFetch(creds, 'POST', path, Buffer.from(JSON.stringify(r)));
    expect(res.status).toBe(200);
    expect(validateAck.parse(await res.json()).acks[0]).toMatchObject({
      id: c.id,
      kind: 'result',
      status: 'accepted',
    });
  }
  async function heartbeat(creds: DeviceCredentials, model: { id: string | null; sha256: string }): Promise<void> {
    const hb = {
      v: 1,
      device_id: creds.deviceId,
      sent_at: new Date().toISOString(),
      uptime_s: 40,
      version: '0.1.0',
      outbox: { depth: 0, oldest_pending_age_s: null, dropped: 0, in_flight: 0 },
      cameras: [],
      model,
    };
    const path = `/v1/devices/${creds.deviceId}/heartbeat`;
    expect((await t.signedFetch(creds, 'POST', path, Buffer.from(JSON.stringify(hb)))).status).toBe(200);
  }

  it('issues model_update to each box; results and heartbeats make them active or failed', async () => {
    const res = await post(`/v1/models/${modelId}/rollout`, { devices: [a.deviceId, b.deviceId] });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { devices: BoxStatus[] }).devices.map((d) => d.state)).toEqual([
      'pending',
      'pending',
    ]);

    // a takes its command from the long-poll (delivered → updating), downloads the exact bytes, swaps, answers.
    const [ca] = await poll(a);
    expect(ca).toMatchObject({ kind: 'model_update', device_id: a.deviceId });
    expect(validateModelUpdateArgs.check(ca!.args)).toBe(true);
    const args = ca!.args as ModelUpdateArgs;
    expect(args).toMatchObject({ model_id: modelId, sha256: SHA, size: YOLOX.length, format: 'yolox' });
    const file = await fetch(new URL(args.url, t.url));
    expect(Buffer.from(await file.arrayBuffer()).equals(YOLOX)).toBe(true);
    expect((await until(a, 'updating')).command_id).toBe(ca!.id);
    await answer(a, ca!, { result: { model_id: modelId, sha256: SHA, warmup_ms: 75 } });
    // Done, but active only once a heartbeat names the model.
    expect((await boxes()).get(a.deviceId)?.state).toBe('updating');
    await heartbeat(a, { id: modelId, sha256: SHA });
    await until(a, 'active');

    // b cannot load it and keeps its model: failed, with the box's code and message.
    const [cb] = await poll(b);
    await answer(b, cb!, { status: 'failed', code: 'model_load_failed', message: 'onnxruntime: out of memory' });
    const failed = await until(b, 'failed');
    expect(failed).toMatchObject({ code: 'model_load_failed', message: 'onnxruntime: out of memory' });

    // The command channel's own view agrees.
    const view = (await (await t.api(`/v1/devices/${a.deviceId}/commands/${ca!.id}`)).json()) as { state: string };
    expect(view.state).toBe('done');
  });
});
