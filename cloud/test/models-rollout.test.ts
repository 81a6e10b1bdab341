import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock/index.js';
import { ulid } from '../../shared/ids/index.js';
import { assetPath } from '../../shared/paths/index.js';
import {
  validateCommandResult,
  validateModelUpdateArgs,
  type CommandResult,
  type ModelUpdateArgs,
} from '../../firmware-protocol/messages/command.js';
import type { CommandRecord, CommandService, IssueCommand } from '../commands/types.js';
import { VigilError } from '../errors.js';
import { rolloutBucket } from '../models/index.js';
import { testBackends } from './support/backends.js';
import { pairTestBox, type TestBox } from './support/box.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';

/**
 * Rollouts of a finalized model: the model_update commands issued through the CommandService interface (a fake
 * channel here, which only records commands and lets the test end them as a box's results would), the signed
 * download URL they carry (serves the exact bytes), per-box status from the commands' ends and from the `model` of
 * heartbeats sent through the real ingest route with each paired box's key, and the stable choice of `percent`.
 */
const YOLOX = readFileSync(assetPath('models', 'yolox_nano.onnx'));
const SHA = createHash('sha256').update(YOLOX).digest('hex');
const backends = await testBackends();

/** The command channel as cloud/commands/types.ts defines it; commands end when the test says so. */
class FakeCommands implements CommandService {
  readonly records = new Map<string, CommandRecord>();
  private readonly listeners: Array<(r: CommandRecord) => void | Promise<void>> = [];
  refuse: string | undefined;

  constructor(private readonly clock: ManualClock) {}

  async issue(input: IssueCommand): Promise<CommandRecord> {
    if (input.deviceId === this.refuse) throw new VigilError('rate_limited', `too many commands for ${input.deviceId}`);
    const now = this.clock.now();
    const record: CommandRecord = {
      id: `cmd_${ulid(now)}`,
      tenantId: input.tenantId,
      deviceId: input.deviceId,
      kind: input.kind,
      args: input.args,
      state: 'queued',
      createdAt: now,
      expiresAt: now + (input.ttlMs ?? 300_000),
      deliveredAt: null,
      finishedAt: null,
      result: null,
      code: null,
      message: null,
    };
    this.records.set(record.id, record);
    return record;
  }

  async get(tenantId: string, deviceId: string, id: string): Promise<CommandRecord | undefined> {
    const r = this.records.get(id);
    return r && r.tenantId === tenantId && r.deviceId === deviceId ? r : undefined;
  }

  onFinished(listener: (record: CommandRecord) => void | Promise<void>): void {
    this.listeners.push(listener);
  }

  of(deviceId: string): CommandRecord {
    const found = [...this.records.values()].filter((r) => r.deviceId === deviceId).at(-1);
    if (!found) throw new Error(`no command for ${deviceId}`);
    return found;
  }

  deliver(id: string): void {
    const r = this.records.get(id)!;
    this.records.set(id, { ...r, state: 'delivered', deliveredAt: this.clock.now() });
  }

  /** Ends a command with the box's result (done/failed/refused), or expires it. */
  async end(id: string, result: CommandResult | 'expired'): Promise<void> {
    const r = this.records.get(id)!;
    const now = this.clock.now();
    const ended: CommandRecord =
      result === 'expired'
        ? { ...r, state: 'expired', finishedAt: now, code: 'device_offline', message: 'the box did not answer' }
        : {
            ...r,
            state: result.status === 'done' ? 'done' : 'failed',
            finishedAt: now,
            result,
            code: result.code ?? null,
            message: result.message ?? null,
          };
    this.records.set(id, ended);
    for (const l of this.listeners) await l(ended);
  }
}

interface BoxStatus {
  device_id: string;
  rollout_id: string;
  command_id: string | null;
  state: string;
  code: string | null;
  message: string | null;
  reported: { model_id: string | null; sha256: string | null } | null;
}

describe.each(backends)('model rollout on $name', (backend) => {
  let t: TestCloud;
  let commands: FakeCommands;
  let modelId: string;
  const boxes: TestBox[] = [];
  const clock = new ManualClock(Date.now());

  beforeAll(async () => {
    t = await startTestCloud(backend, { clock });
    commands = new FakeCommands(clock);
    t.cloud.models.useCommands(commands);
    for (let i = 0; i < 12; i++) boxes.push(await pairTestBox(t, `box-${i}`));
    const created = (await (
      await t.api('/v1/models', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'yolox nano', format: 'yolox', size: YOLOX.length, sha256: SHA }),
      })
    ).json()) as { id: string; upload_url: string };
    modelId = created.id;
    const put = await fetch(created.upload_url, { method: 'PUT', body: YOLOX });
    expect(put.status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
  });

  const post = (path: string, body: unknown): Promise<Response> =>
    t.api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const status = async (): Promise<Map<string, BoxStatus>> => {
    const res = await t.api(`/v1/models/${modelId}/rollout`, { token: t.tokens.reader });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { devices: BoxStatus[] };
    return new Map(body.devices.map((d) => [d.device_id, d]));
  };
  /** A heartbeat through the real ingest route, signed with the box's key, reporting `model`. */
  async function heartbeat(
    box: TestBox,
    model: { id: string | null; sha256: string } | null,
    sentAt = clock.now(),
  ): Promise<void> {
    const hb = {
      v: 1,
      device_id: box.deviceId,
      sent_at: new Date(sentAt).toISOString(),
      uptime_s: 30,
      version: '0.1.0',
      outbox: { depth: 0, oldest_pending_age_s: null, dropped: 0, in_flight: 0 },
      cameras: [{ name: 'front', state: 'running', fps: 5, last_frame_age_s: 0.2, restarts: 0 }],
      model,
    };
    const path = `/v1/devices/${box.deviceId}/heartbeat`;
    const res = await t.signedFetch(box.creds, 'POST', path, Buffer.from(JSON.stringify(hb)));
    expect(res.status, await res.clone().text()).toBe(200);
  }
  const result = (c: CommandRecord, o: Partial<CommandResult>): CommandResult => {
    const r: CommandResult = {
      v: 1,
      kind: 'command_result',
      command_id: c.id,
      device_id: c.deviceId,
      command_kind: 'model_update',
      status: 'done',
      finished_at: new Date(clock.now()).toISOString(),
      ...o,
    };
    expect(validateCommandResult.check(r)).toBe(true);
    return r;
  };

  it('refuses a rollout before finalize, then issues model_update commands; their URL serves the bytes', async () => {
    const early = await post(`/v1/models/${modelId}/rollout`, { devices: [boxes[0]!.deviceId] });
    expect(early.status).toBe(409);
    expect(((await early.json()) as { error: { code: string } }).error.code).toBe('model_not_ready');
    expect((await post(`/v1/models/${modelId}/finalize`, {})).status).toBe(200);

    const unknown = await post(`/v1/models/${modelId}/rollout`, { devices: ['dev_nope'] });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('device_unknown');
    expect((await post(`/v1/models/${modelId}/rollout`, { all: true, devices: ['x'] })).status).toBe(400);
    expect((await post(`/v1/models/${modelId}/rollout`, { percent: 50 })).status).toBe(400);

    const target = boxes.slice(0, 4).map((b) => b.deviceId);
    const res = await post(`/v1/models/${modelId}/rollout`, { devices: target });
    expect(res.status).toBe(202);
    const rollout = (await res.json()) as { id: string; devices: BoxStatus[] };
    expect(rollout.id).toMatch(/^rol_/);
    expect(rollout.devices.map((d) => d.device_id).sort()).toEqual([...target].sort());
    expect(rollout.devices.every((d) => d.state === 'pending' && d.command_id?.startsWith('cmd_'))).toBe(true);

    for (const deviceId of target) {
      const c = commands.of(deviceId);
      expect(c.kind).toBe('model_update');
      expect(c.tenantId).toBe('default');
      // models.command_ttl (24 h): a model_update waits longer for an offline box than commands.ttl.
      expect(c.expiresAt - c.createdAt).toBe(24 * 3_600_000);
      expect(validateModelUpdateArgs.check(c.args)).toBe(true);
      const args = c.args as unknown as ModelUpdateArgs;
      expect(args).toMatchObject({ model_id: modelId, name: 'yolox nano', format: 'yolox', size: YOLOX.length });
      expect(args.sha256).toBe(SHA);
      // Relative to the collector endpoint the box was paired with; no token needed.
      expect(args.url).toMatch(new RegExp(`^/v1/models/${modelId}/file\\?exp=\\d+&sig=[A-Za-z0-9_-]{43}$`));
      const file = await fetch(new URL(args.url, t.url));
      expect(file.status).toBe(200);
      expect(file.headers.get('content-length')).toBe(String(YOLOX.length));
      expect(Buffer.from(await file.arrayBuffer()).equals(YOLOX)).toBe(true);
    }
    const url = (commands.of(target[0]!).args as unknown as ModelUpdateArgs).url;
    const forged = url.replace(/sig=./, (m) => (m.endsWith('A') ? 'sig=B' : 'sig=A'));
    expect((await fetch(new URL(forged, t.url))).status).toBe(403);
  });

  it('follows each box: pending, updating, active from heartbeats, failed with the box code, expired', async () => {
    const [a, b, c, d] = boxes as [TestBox, TestBox, TestBox, TestBox];
    const ca = commands.of(a.deviceId);
    commands.deliver(ca.id);
    let s = await status();
    expect(s.get(a.deviceId)?.state).toBe('updating');
    expect(s.get(b.deviceId)?.state).toBe('pending');

    // a: done, then its heartbeat reports the model → active.
    clock.advance(2000);
    await commands.end(ca.id, result(ca, { result: { model_id: modelId, sha256: SHA, warmup_ms: 80 } }));
    expect((await status()).get(a.deviceId)?.state).toBe('updating');
    clock.advance(1000);
    await heartbeat(a, { id: modelId, sha256: SHA });
    s = await status();
    expect(s.get(a.deviceId)).toMatchObject({ state: 'active', reported: { model_id: modelId, sha256: SHA } });
    // The device view shows it too.
    const device = (await (await t.api(`/v1/devices/${a.deviceId}`)).json()) as { model: unknown };
    expect(device.model).toEqual({ id: modelId, sha256: SHA });

    // b: the box failed the warm-up and kept its previous model.
    const cb = commands.of(b.deviceId);
    await commands.end(cb.id, result(cb, { status: 'failed', code: 'model_warmup_failed', message: 'no frame' }));
    await heartbeat(b, { id: null, sha256: 'a'.repeat(64) });
    s = await status();
    expect(s.get(b.deviceId)).toMatchObject({
      state: 'failed',
      code: 'model_warmup_failed',
      message: 'no frame',
      reported: { model_id: null, sha256: 'a'.repeat(64) },
    });

    // c: offline until the command expired.
    await commands.end(commands.of(c.deviceId).id, 'expired');
    expect((await status()).get(c.deviceId)).toMatchObject({ state: 'expired', code: 'device_offline' });

    // d: said done, but a later heartbeat names another model (it fell back on restart).
    const cd = commands.of(d.deviceId);
    await commands.end(cd.id, result(cd, { result: { model_id: modelId, sha256: SHA, warmup_ms: 90 } }));
    clock.advance(30_000);
    await heartbeat(d, { id: null, sha256: 'b'.repeat(64) });
    expect((await status()).get(d.deviceId)).toMatchObject({ state: 'failed', code: 'model_not_active' });

    // An older heartbeat arriving late does not undo a's report.
    await heartbeat(a, null, clock.now() - 60_000);
    expect((await status()).get(a.deviceId)?.state).toBe('active');
    const counts = ((await (await t.api(`/v1/models/${modelId}/rollout`)).json()) as { counts: unknown }).counts;
    expect(counts).toEqual({ pending: 0, updating: 0, active: 1, failed: 2, expired: 1 });
  });

  it('records a box whose command could not be issued as failed with the reason', async () => {
    const box = boxes[5]!;
    commands.refuse = box.deviceId;
    const res = await post(`/v1/models/${modelId}/rollout`, { devices: [box.deviceId] });
    commands.refuse = undefined;
    expect(res.status).toBe(202);
    const [only] = ((await res.json()) as { devices: BoxStatus[] }).devices;
    expect(only).toMatchObject({ device_id: box.deviceId, state: 'failed', code: 'rate_limited', command_id: null });
  });

  it('picks a stable subset for a percentage: the same boxes every time, a superset for a larger one', async () => {
    const all = boxes.map((b) => b.deviceId);
    const chosen = async (percent: number): Promise<string[]> => {
      const res = await post(`/v1/models/${modelId}/rollout`, { all: true, percent });
      expect(res.status).toBe(202);
      return ((await res.json()) as { devices: BoxStatus[] }).devices.map((d) => d.device_id).sort();
    };
    const half = await chosen(50);
    expect(await chosen(50)).toEqual(half);
    expect(half).toEqual(all.filter((id) => rolloutBucket(modelId, id) < 5000).sort());
    // Twelve boxes: some but not all (a hash split that put all twelve on one side would be 1 in 2048).
    expect(half.length).toBeGreaterThan(0);
    expect(half.length).toBeLessThan(all.length);
    const most = await chosen(90);
    expect(most).toEqual(expect.arrayContaining(half));
    expect(await chosen(100)).toEqual([...all].sort());
    // The same percentage of an explicit list chooses the same boxes of it.
    const res = await post(`/v1/models/${modelId}/rollout`, { devices: all.slice(0, 6), percent: 50 });
    const listed = ((await res.json()) as { devices: BoxStatus[] }).devices.map((d) => d.device_id).sort();
    expect(listed).toEqual(half.filter((id) => all.slice(0, 6).includes(id)));
  });

  it('stops serving a download URL after models.download_url_ttl (7 days)', async () => {
    const url = (commands.of(boxes[0]!.deviceId).args as unknown as ModelUpdateArgs).url;
    expect((await fetch(new URL(url, t.url))).status).toBe(200);
    clock.advance(7 * 24 * 3_600_000 + 1000);
    const late = await fetch(new URL(url, t.url));
    expect(late.status).toBe(403);
    expect(((await late.json()) as { error: { code: string } }).error.code).toBe('download_url_expired');
  });
});
