/**
 * Commands from the cloud to the box, end to end with real processes (issue 17): `vigil-cloud serve` provisioning
 * broker logins on a private Mosquitto that runs the shipped config (dynamic security, so each box may subscribe to
 * its own commands topic only), two boxes on MQTT running YOLOX on vtest.avi, one box on HTTPS only (long-poll),
 * the app API and the `vigil-cloud command` / `model` CLI.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signMqttMessage } from '../../shared/signing/index.js';
import { testAsset } from '../../shared/testing/index.js';
import { commandsTopic } from '../../firmware-protocol/topics.js';
import { DynsecBroker } from '../../cloud/test/support-broker/dynsec-broker.js';
import { syntheticSceneInput } from '../camera/synthetic.js';
import type { DaemonStatus } from '../status/schema.js';
import * as e2e from './e2e-run-support.js';
import { failsOnRealFrameModel, yoloxVariant } from './support-models/models.js';

const model = testAsset('models', 'yolox_nano.onnx');
const clip = testAsset('media', 'vtest.avi');

interface CommandView {
  id: string;
  state: 'queued' | 'delivered' | 'done' | 'failed' | 'expired';
  code?: string | null;
  error?: { code: string; reason: string | null } | null;
  created_at?: string;
  finished_at?: string | null;
  result?: { status: string; code?: string; result?: Record<string, unknown> } | null;
}

let tmp: string;
let broker: DynsecBroker;
let c: e2e.CollectorProc;
let admin: string;
const boxes: Record<string, { dataDir: string; config: string; deviceId: string; proc?: e2e.Proc }> = {};

function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(c.url + path, {
    ...init,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
}

async function send(deviceId: string, kind: string, args: Record<string, unknown> = {}, ttl?: string) {
  const res = await api(`/v1/devices/${deviceId}/commands`, {
    method: 'POST',
    body: JSON.stringify({ kind, args, ...(ttl ? { ttl } : {}) }),
  });
  expect(res.status, await res.clone().text()).toBe(202);
  return (await res.json()) as CommandView;
}

async function addModel(file: string, name: string): Promise<{ id: string; sha256: string }> {
  const r = await e2e.cloudCli(
    ['model', 'add', file, '--name', name, '--format', 'yolox', '--url', c.url, '--token', admin, '--json'],
    60_000,
  );
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { id: string; sha256: string };
}

async function rollout(modelId: string, devices: string[]): Promise<void> {
  const args = ['model', 'rollout', modelId, ...devices.flatMap((d) => ['--device', d])];
  const r = await e2e.cloudCli([...args, '--url', c.url, '--token', admin, '--json']);
  expect(r.code, r.stderr).toBe(0);
}

interface RolloutView {
  devices: Array<{ device_id: string; state: string; code: string | null }>;
}

/** Waits until every listed box is in `state` in the model's rollout status; returns it, boxes sorted by id. */
function rolloutSettles(modelId: string, state: string, devices: string[]): Promise<RolloutView> {
  return e2e.waitFor(
    `rollout of ${modelId} to be ${state} on every box`,
    async () => {
      const v = (await (await api(`/v1/models/${modelId}/rollout`)).json()) as RolloutView;
      const mine = v.devices.filter((d) => devices.includes(d.device_id));
      if (mine.length !== devices.length || !mine.every((d) => d.state === state)) return undefined;
      return { devices: mine.sort((a, b) => a.device_id.localeCompare(b.device_id)) };
    },
    90_000,
    500,
  );
}

function findFile(dir: string, name: string): string {
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (entry.isFile() && entry.name === name) return join(entry.parentPath, entry.name);
  throw new Error(`${name} not found under ${dir}`);
}

async function command(deviceId: string, id: string): Promise<CommandView> {
  const res = await api(`/v1/devices/${deviceId}/commands/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as CommandView;
}

function ended(deviceId: string, id: string, timeoutMs = 20_000): Promise<CommandView> {
  return e2e.waitFor(
    `command ${id} to end`,
    async () => {
      const v = await command(deviceId, id);
      return ['done', 'failed', 'expired'].includes(v.state) ? v : undefined;
    },
    timeoutMs,
    100,
  );
}

/**
 * A broker login allowed to publish on every box's commands topic, made with mosquitto_ctrl as the broker admin:
 * someone on the broker who does not have the box's key.
 */
async function commandsPublisher() {
  const ctl = (...args: string[]): void =>
    void execFileSync(
      'mosquitto_ctrl',
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(broker.port),
        '-u',
        broker.admin.username,
        '-P',
        broker.admin.password,
        'dynsec',
        ...args,
      ],
      { stdio: 'pipe' },
    );
  ctl('createRole', 'e2e-publisher');
  ctl('addRoleACL', 'e2e-publisher', 'publishClientSend', 'vigil/v1/+/commands', 'allow');
  ctl('createClient', 'e2e-publisher', '-p', 'e2e-publisher-password');
  ctl('addClientRole', 'e2e-publisher', 'e2e-publisher');
  return broker.connect({ username: 'e2e-publisher', password: 'e2e-publisher-password', clientId: 'e2e-pub' });
}

const boxYaml = (name: string, extra: string): string =>
  `status:\n  listen: ${join(tmp, name, 'status.sock')}\n` + `uplink:\n  heartbeat_interval: 1s\n${extra}`;

beforeAll(async () => {
  e2e.requireBuild();
  if (!model || !clip) return;
  tmp = mkdtempSync(join(tmpdir(), 'vigil-commands-e2e-'));
  broker = await DynsecBroker.start();
  const cloudDir = join(tmp, 'cloud');
  const cloudYaml = join(tmp, 'cloud.yaml');
  writeFileSync(
    cloudYaml,
    [
      'mqtt:',
      `  url: ${broker.url}`,
      '  provisioner: mosquitto-dynsec',
      `  admin_username: ${broker.admin.username}`,
      `  admin_password: ${broker.admin.password}`,
      '  reconnect_ms: 200',
      'pairing:',
      `  mqtt_url: ${broker.url}`,
      'commands:',
      '  sweep_interval: 1s',
      '',
    ].join('\n'),
  );
  c = await e2e.startCollector(cloudDir, ['--config', cloudYaml]);
  admin = await c.newToken('admin');
  const vision =
    `model:\n  path: ${model}\n` +
    `cameras:\n  - name: street\n    input: ${clip}\n    detect: { width: 480, height: 360, fps: 2 }\n` +
    '    realtime: true\n    loop: true\n';
  for (const name of ['A', 'B']) {
    boxes[name] = await e2e.pairBox(c, join(tmp, name), boxYaml(name, '  transport: mqtt\n') + vision);
  }
  const scene = JSON.stringify(
    syntheticSceneInput({ width: 320, height: 180, fps: 5, durationS: 4, startS: 0.5, endS: 3 }),
  );
  boxes.H = await e2e.pairBox(
    c,
    join(tmp, 'H'),
    boxYaml('H', '  transport: https\n') +
      `cameras:\n  - name: yard\n    input: ${scene}\n    detect: { width: 320, height: 180, fps: 5 }\n` +
      '    realtime: true\n    loop: true\n',
  );
  for (const b of Object.values(boxes)) b.proc = e2e.startAgent(b.config);
  for (const b of Object.values(boxes))
    await e2e.waitFor(
      `box ${b.deviceId} connected with a frame`,
      async () => {
        const s = await e2e.agentStatus<DaemonStatus>(b.config);
        return s.uplink.state === 'connected' && s.cameras[0]?.frames && s.cameras[0].frames > 0 ? s : undefined;
      },
      60_000,
      300,
    );
}, 180_000);

afterAll(async () => {
  for (const b of Object.values(boxes)) b.proc?.child.kill('SIGTERM');
  for (const b of Object.values(boxes)) if (b.proc) await e2e.exitOf(b.proc, 30_000).catch(() => undefined);
  await c?.stop();
  await broker?.close();
  e2e.killLeftovers();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!model || !clip)('commands to a running box (MQTT with dynamic security, and HTTPS only)', () => {
  for (const which of ['A', 'H'] as const) {
    const transport = which === 'A' ? 'MQTT' : 'HTTPS long-poll';
    it(`${transport}: a snapshot is a JPEG of the current frame within 3 s; status is the daemon's`, async () => {
      const box = boxes[which]!;
      const camera = which === 'A' ? 'street' : 'yard';
      const asked = Date.now();
      const snap = await send(box.deviceId, 'snapshot', { camera });
      const done = await ended(box.deviceId, snap.id);
      expect(done.state, JSON.stringify(done)).toBe('done');
      expect(Date.now() - asked).toBeLessThan(3_000);
      const res = await api(`/v1/devices/${box.deviceId}/snapshots/${snap.id}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('image/jpeg');
      const jpeg = Buffer.from(await res.arrayBuffer());
      const meta = await sharp(jpeg).metadata();
      expect(meta.format).toBe('jpeg');
      expect(meta.width).toBe(which === 'A' ? 480 : 320);
      const captured = Date.parse(String(done.result?.result?.captured_at));
      expect(Math.abs(captured - asked)).toBeLessThan(2_000);

      const st = await send(box.deviceId, 'status');
      const status = await ended(box.deviceId, st.id);
      expect(status.state).toBe('done');
      const doc = status.result?.result as unknown as DaemonStatus;
      expect(doc.device_id).toBe(box.deviceId);
      expect(doc.cameras.map((x) => x.name)).toEqual([camera]);
    });
  }

  it('MQTT: a command delivered twice runs once; forged and expired ones never run', {
    timeout: 90_000,
  }, async () => {
    const box = boxes.A!;
    const counters = async () =>
      (await e2e.agentStatus<DaemonStatus & { commands: Record<string, number> }>(box.config)).commands;
    const observer = await broker.observer();
    const seen: Buffer[] = [];
    await observer.subscribeAsync(commandsTopic(box.deviceId), { qos: 1 });
    observer.on('message', (_t, payload) => seen.push(Buffer.from(payload)));
    const first = await send(box.deviceId, 'status');
    expect((await ended(box.deviceId, first.id)).state).toBe('done');
    await e2e.waitFor('the command seen on the topic', () => seen.length > 0, 5_000, 50);
    const before = await counters();

    // Someone with publish rights on the broker but without the box's key: the same envelope again, and a command
    // signed with another key. Neither runs.
    const publisher = await commandsPublisher();
    await publisher.publishAsync(commandsTopic(box.deviceId), seen[0]!, { qos: 1 });
    const body = Buffer.from(
      JSON.stringify({
        v: 1,
        id: 'cmd_01JGZ6A1B2C3D4E5F6G7H8J9KM',
        device_id: box.deviceId,
        kind: 'reload_config',
        args: {},
        issued_at: new Date().toISOString(),
        expires_at: new Date(Date.now() + 60_000).toISOString(),
      }),
    );
    const otherKey = Buffer.alloc(32, 7);
    const forged = signMqttMessage(
      { deviceId: box.deviceId, keyId: 'k1', secret: otherKey },
      commandsTopic(box.deviceId),
      body,
    );
    await publisher.publishAsync(commandsTopic(box.deviceId), JSON.stringify(forged), { qos: 1 });
    await publisher.endAsync();
    const after = await e2e.waitFor(
      'the box to count the forged and the repeated command',
      async () => {
        const s = await counters();
        return s.refused_signature > before.refused_signature! && s.duplicates > before.duplicates! ? s : undefined;
      },
      10_000,
      200,
    );
    expect(after.executed).toBe(before.executed);
    expect(after.refused_signature).toBe(before.refused_signature! + 1);
    expect(box.proc!.out()).toMatch(/"msg":"command refused \(signature_mismatch\): not run, no result"/);
    await observer.endAsync();

    // Expired: issued while the box is off, held by the broker in its persistent session past its expiry.
    box.proc!.child.kill('SIGTERM');
    expect(await e2e.exitOf(box.proc!, 30_000)).toBe(0);
    const late = await send(box.deviceId, 'status', {}, '2s');
    const expired = await ended(box.deviceId, late.id, 15_000);
    expect(expired.state).toBe('expired');
    expect(expired.error?.code).toBe('device_offline');
    box.proc = e2e.startAgent(box.config);
    const refusedLate = await e2e.waitFor(
      'the box to refuse the expired command',
      async () => {
        const s = await counters().catch(() => undefined);
        return s && s.refused >= 1 ? s : undefined;
      },
      60_000,
      300,
    );
    expect(refusedLate.executed).toBe(0);
    expect(box.proc.out()).toContain('command_expired');
    expect((await command(box.deviceId, late.id)).state).toBe('expired');
  });

  it('a box offline past the expiry ends expired/device_offline; one sent before the expiry runs on reconnect', {
    timeout: 90_000,
  }, async () => {
    const box = boxes.H!;
    box.proc!.child.kill('SIGTERM');
    expect(await e2e.exitOf(box.proc!, 30_000)).toBe(0);
    const late = await send(box.deviceId, 'status', {}, '2s');
    const waiting = await send(box.deviceId, 'status', {}, '2m');
    const expired = await ended(box.deviceId, late.id, 15_000);
    expect(expired.state).toBe('expired');
    expect(expired.error?.code).toBe('device_offline');
    expect((await command(box.deviceId, waiting.id)).state).toMatch(/queued|delivered/);
    box.proc = e2e.startAgent(box.config);
    const ran = await ended(box.deviceId, waiting.id, 60_000);
    expect(ran.state).toBe('done');
    // The expired one never ran on the box.
    const s = await e2e.agentStatus<DaemonStatus & { commands: Record<string, number> }>(box.config);
    expect(s.commands.executed).toBe(1);
  });

  it('model rollout to two boxes: both report the new model; a corrupt file leaves them on it', {
    timeout: 300_000,
  }, async () => {
    const A = boxes.A!;
    const B = boxes.B!;
    const added = await addModel(model!, 'yolox-nano-fleet');
    expect(added.sha256).toBe(createHash('sha256').update(readFileSync(model!)).digest('hex'));
    await rollout(added.id, [A.deviceId, B.deviceId]);
    const running = (box: typeof A) => async () =>
      (await e2e.agentStatus<DaemonStatus>(box.config)).active_model?.id ?? null;
    for (const box of [A, B])
      await e2e.waitFor(
        `box ${box.deviceId} to run ${added.id}`,
        async () => (await running(box)()) === added.id,
        90_000,
        500,
      );
    await rolloutSettles(added.id, 'active', [A.deviceId, B.deviceId]);

    // A file that fails on real frames (it passes the collector's input/output check and onnxruntime's first run).
    const failing = join(tmp, 'fails-on-real-frames.onnx');
    writeFileSync(failing, failsOnRealFrameModel());
    const bad = await addModel(failing, 'fails-on-frames');
    await rollout(bad.id, [A.deviceId, B.deviceId]);
    const warm = await rolloutSettles(bad.id, 'failed', [A.deviceId, B.deviceId]);
    expect(warm.devices.map((d) => d.code)).toEqual(['model_warmup_failed', 'model_warmup_failed']);

    // The stored file damaged after it was checked: the boxes refuse the download by its hash.
    const variant = join(tmp, 'yolox-variant.onnx');
    writeFileSync(variant, yoloxVariant('damaged after upload'));
    const damaged = await addModel(variant, 'yolox-damaged');
    const file = findFile(join(tmp, 'cloud'), `model-${damaged.sha256.slice(0, 16)}.onnx`);
    const bytes = readFileSync(file);
    bytes[bytes.length - 100]! ^= 0xff;
    writeFileSync(file, bytes);
    await rollout(damaged.id, [A.deviceId, B.deviceId]);
    const hash = await rolloutSettles(damaged.id, 'failed', [A.deviceId, B.deviceId]);
    expect(hash.devices.map((d) => d.code)).toEqual(['model_hash_mismatch', 'model_hash_mismatch']);
    // Every box still runs the model of the first rollout, and says so in its heartbeats.
    for (const box of [A, B]) expect(await running(box)()).toBe(added.id);
    const view = await api(`/v1/devices/${A.deviceId}`);
    expect(((await view.json()) as { model?: { id: string | null } }).model?.id).toBe(added.id);
  });
});
