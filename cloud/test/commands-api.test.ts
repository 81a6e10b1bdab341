import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testJpeg } from '../../shared/testing/index.js';
import { MemoryNonceCache, signHttpRequest, type DeviceCredentials } from '../../shared/signing/index.js';
import { validateAck, type Ack, type Command, type CommandResult } from '../../firmware-protocol/messages.js';
import { testBackends } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { commandResult, pollCommands } from './support/commands.js';

/**
 * The command channel over HTTPS, on SQLite and PostgreSQL: the app API (POST → 202 queued, GET → delivered → done
 * with the box's result, snapshots served as JPEG), the signed long-poll (a signed envelope that verifies with the
 * device key; waits when there is none and wakes when a command is issued), results acked with kind `result`
 * (accepted, then duplicate), expiry → expired / device_offline, and the errors: device_unknown, command_refused,
 * rate_limited (429 with Retry-After), a reader may not issue.
 */
const backends = await testBackends();

describe.each(backends)('commands over the HTTP API on $name', (backend) => {
  let t: TestCloud;
  let box: DeviceCredentials;
  const nonces = new MemoryNonceCache();

  beforeAll(async () => {
    t = await startTestCloud(backend, {
      overrides: { commands: { sweep_interval: '100ms', rate: { per_minute: 6, burst: 8 } } },
    });
    box = await t.pairDevice('cmd-box');
  });
  afterAll(async () => {
    await t?.close();
  });

  const send = (device: string, body: Record<string, unknown>, token?: string) =>
    t.api(`/v1/devices/${device}/commands`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      ...(token ? { token } : {}),
    });
  const view = async (id: string, device = box.deviceId) =>
    (await (await t.api(`/v1/devices/${device}/commands/${id}`)).json()) as Record<string, unknown>;

  /** The box's signed long-poll (./support/commands.ts), on this collector unless `base` names another. */
  const poll = (creds: DeviceCredentials, wait: number, base = t.url) => pollCommands(base, creds, wait, nonces);

  async function postResult(
    creds: DeviceCredentials,
    r: CommandResult,
    on: TestCloud = t,
  ): Promise<{ status: number; ack: Ack }> {
    const res = await on.signedFetch(
      creds,
      'POST',
      `/v1/devices/${creds.deviceId}/results`,
      Buffer.from(JSON.stringify(r)),
    );
    const body = await res.json();
    return { status: res.status, ack: (res.status === 200 ? validateAck.parse(body) : body) as Ack };
  }

  it('status: queued → delivered (long-poll) → done; the result is acked accepted, then duplicate', async () => {
    const res = await send(box.deviceId, { kind: 'status' });
    expect(res.status).toBe(202);
    const issued = (await res.json()) as { id: string; state: string; expires_at: string };
    expect(issued).toMatchObject({ id: expect.stringMatching(/^cmd_/), state: 'queued' });
    expect(Date.parse(issued.expires_at) - Date.now()).toBeGreaterThan(4 * 60_000);
    expect(await view(issued.id)).toMatchObject({ state: 'queued', delivered_at: null, error: null });

    const { commands } = await poll(box, 5);
    expect(commands.map((c) => c.id)).toEqual([issued.id]);
    expect(commands[0]).toMatchObject({ device_id: box.deviceId, kind: 'status', args: {} });
    expect(await view(issued.id)).toMatchObject({ state: 'delivered', delivered_at: expect.any(String) });

    const r = commandResult(commands[0]!, { result: { version: '1.2.3', cameras: [] } });
    const first = await postResult(box, r);
    expect(first.status).toBe(200);
    expect(first.ack.acks).toEqual([{ id: issued.id, rev: 0, kind: 'result', status: 'accepted' }]);
    expect((await postResult(box, r)).ack.acks).toEqual([
      { id: issued.id, rev: 0, kind: 'result', status: 'duplicate' },
    ]);
    expect(await view(issued.id)).toMatchObject({
      state: 'done',
      code: null,
      result: { status: 'done', command_id: issued.id, result: { version: '1.2.3', cameras: [] } },
      error: null,
      finished_at: expect.any(String),
    });
    // Handed out once: the next poll (within redeliver_after) waits and comes back empty.
    expect((await poll(box, 0)).commands).toEqual([]);
  });

  it('the long-poll waits when nothing is queued, and answers as soon as a command is issued', async () => {
    const other = await t.pairDevice('waiter');
    const started = Date.now();
    expect(await poll(other, 1)).toEqual({ status: 200, commands: [] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);

    const waiting = poll(other, 20);
    await new Promise((r) => setTimeout(r, 300));
    const woke = Date.now();
    const res = await send(other.deviceId, { kind: 'snapshot', args: { camera: 'front', width: 320 } });
    const { id } = (await res.json()) as { id: string };
    const got = await waiting;
    expect(got.commands.map((c) => [c.id, c.kind, c.args])).toEqual([
      [id, 'snapshot', { camera: 'front', width: 320 }],
    ]);
    expect(Date.now() - woke).toBeLessThan(3_000);
  });

  it('a box holds one long-poll at a time: a newer poll answers the one before it at once, empty', async () => {
    const greedy = await t.pairDevice('greedy');
    const first = poll(greedy, 25);
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const second = poll(greedy, 25);
    expect(await first).toEqual({ status: 200, commands: [] });
    expect(Date.now() - started).toBeLessThan(2_000);
    await new Promise((r) => setTimeout(r, 100));
    expect(t.cloud.commands.openPolls()).toBe(1);
    const res = await send(greedy.deviceId, { kind: 'status' });
    const { id } = (await res.json()) as { id: string };
    expect((await second).commands.map((c) => c.id)).toEqual([id]);
  });

  it('a snapshot result is served as a JPEG at /snapshots/{id}', async () => {
    const res = await send(box.deviceId, { kind: 'snapshot', args: { camera: 'front' } });
    const { id } = (await res.json()) as { id: string };
    const pending = await t.api(`/v1/devices/${box.deviceId}/snapshots/${id}`);
    expect(pending.status).toBe(409);
    expect(((await pending.json()) as { error: { code: string } }).error.code).toBe('command_pending');
    const [c] = (await poll(box, 5)).commands;
    const jpeg = testJpeg(2_000);
    const snap = { camera: 'front', width: 64, height: 48, captured_at: new Date().toISOString() };
    const posted = await postResult(box, commandResult(c!, { result: { ...snap, jpeg_b64: jpeg.toString('base64') } }));
    expect(posted.ack.acks[0]).toMatchObject({ id, kind: 'result', status: 'accepted' });
    const v = await view(id);
    expect(v).toMatchObject({ state: 'done', result: { status: 'done', result: { ...snap, size: jpeg.length } } });
    expect((v.result as { result: Record<string, unknown> }).result).not.toHaveProperty('jpeg_b64');
    expect(v.snapshot_url).toBe(`/v1/devices/${box.deviceId}/snapshots/${id}`);
    const img = await t.api(v.snapshot_url as string, { token: t.tokens.reader });
    expect(img.status).toBe(200);
    expect(img.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await img.arrayBuffer()).equals(jpeg)).toBe(true);
  });

  it('a refused result ends the command failed; its snapshot is 422 command_refused', async () => {
    const { id } = (await (await send(box.deviceId, { kind: 'snapshot', args: { camera: 'back' } })).json()) as {
      id: string;
    };
    const [c] = (await poll(box, 5)).commands;
    await postResult(box, commandResult(c!, { status: 'refused', code: 'command_invalid', message: 'no camera back' }));
    expect(await view(id)).toMatchObject({
      state: 'failed',
      code: 'command_invalid',
      message: 'no camera back',
      result: { status: 'refused', code: 'command_invalid' },
      error: { code: 'command_refused', reason: 'command_invalid', message: 'no camera back' },
    });
    const img = await t.api(`/v1/devices/${box.deviceId}/snapshots/${id}`);
    expect(img.status).toBe(422);
    expect(((await img.json()) as { error: { code: string } }).error.code).toBe('command_refused');
  });

  it('a command nobody answers ends expired / device_offline after its ttl', async () => {
    const quiet = await t.pairDevice('offline');
    const res = await send(quiet.deviceId, { kind: 'status', ttl: '1s' });
    const { id } = (await res.json()) as { id: string };
    const deadline = Date.now() + 5_000;
    let v = await view(id, quiet.deviceId);
    while (v.state !== 'expired' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      v = await view(id, quiet.deviceId);
    }
    expect(v).toMatchObject({
      state: 'expired',
      code: 'device_offline',
      result: null,
      error: { code: 'device_offline', reason: 'device_offline' },
    });
    const img = await t.api(`/v1/devices/${quiet.deviceId}/snapshots/${id}`);
    expect(img.status).toBe(504);
    expect(((await img.json()) as { error: { code: string } }).error.code).toBe('device_offline');
    // Not handed out any more; a late result is a duplicate.
    expect((await poll(quiet, 0)).commands).toEqual([]);
    const late = { v: 1, kind: 'command_result', command_id: id, device_id: quiet.deviceId, command_kind: 'status' };
    const posted = await postResult(quiet, { ...late, status: 'done', finished_at: new Date().toISOString() } as never);
    expect(posted.ack.acks[0]).toMatchObject({ id, kind: 'result', status: 'duplicate' });
  });

  it('errors: unknown device 404 device_unknown, reader 403, bad args 400, unknown result id 404', async () => {
    const unknown = await send('dev_nope', { kind: 'status' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('device_unknown');
    const foreign = await send(box.deviceId, { kind: 'status' }, t.tokens.otherTenant);
    expect(foreign.status).toBe(404);
    expect((await send(box.deviceId, { kind: 'status' }, t.tokens.reader)).status).toBe(403);
    expect((await send(box.deviceId, { kind: 'snapshot', args: { width: 10 } })).status).toBe(400);
    expect((await send(box.deviceId, { kind: 'Snap!' })).status).toBe(400);
    const ghost = `cmd_${'1'.repeat(26)}`;
    expect((await t.api(`/v1/devices/${box.deviceId}/commands/${ghost}`)).status).toBe(404);
    const fake = { v: 1, id: ghost, device_id: box.deviceId, kind: 'status', args: {} } as unknown as Command;
    const posted = await postResult(box, commandResult(fake));
    expect(posted.status).toBe(404);
    // Unsigned long-poll: 401.
    expect((await fetch(`${t.url}/v1/devices/${box.deviceId}/commands?wait=0`)).status).toBe(401);
  });

  it('two collectors on one database: issued on one, long-polled and answered on the other', async () => {
    const second = await startTestCloud(backend, { db: t.db });
    const ended: string[] = [];
    t.cloud.commands.onFinished((r) => void ended.push(`first ${r.id}`));
    second.cloud.commands.onFinished((r) => void ended.push(`second ${r.id}`));
    try {
      const b = await t.pairDevice('two-collectors');
      const waiting = poll(b, 10, second.url);
      await new Promise((r) => setTimeout(r, 300));
      const asked = Date.now();
      const { id } = (await (await send(b.deviceId, { kind: 'status' })).json()) as { id: string };
      const got = await waiting;
      expect(got.commands.map((c) => c.id)).toEqual([id]);
      // Seen at the other collector's next look in the database (every 2 s).
      expect(Date.now() - asked).toBeLessThan(3_000);
      const posted = await postResult(b, commandResult(got.commands[0]!, { result: { ok: true } }), second);
      expect(posted.ack.acks[0]).toMatchObject({ id, status: 'accepted' });
      expect(await view(id, b.deviceId)).toMatchObject({ state: 'done', result: { result: { ok: true } } });
      await new Promise((r) => setTimeout(r, 50));
      // Told once, by the collector that ended it.
      expect(ended.filter((e) => e.endsWith(id))).toEqual([`second ${id}`]);
    } finally {
      await second.close();
    }
  });

  it('rate-limits commands per box: 429 rate_limited with Retry-After', async () => {
    const busy = await t.pairDevice('busy');
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 10; i++) {
      last = await send(busy.deviceId, { kind: 'status' });
      statuses.push(last.status);
      if (last.status === 429) break;
    }
    expect(statuses.slice(0, 8)).toEqual(Array(8).fill(202));
    expect(statuses[8]).toBe(429);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await last!.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
  });
});

describe('a waiting long-poll and shutdown', () => {
  it('is answered at once (empty) when the collector closes, so shutdown is not held up', async () => {
    const t = await startTestCloud(backends[0]!);
    const box = await t.pairDevice('closing');
    const path = `/v1/devices/${box.deviceId}/commands?wait=30`;
    const answer = fetch(t.url + path, { headers: signHttpRequest(box, 'GET', path, Buffer.alloc(0)) });
    await new Promise((r) => setTimeout(r, 300));
    expect(t.cloud.commands.openPolls()).toBe(1);
    expect(await (await fetch(`${t.url}/metrics`)).text()).toMatch(/^vigil_command_polls 1$/m);
    const started = Date.now();
    await t.close();
    expect(Date.now() - started).toBeLessThan(3_000);
    const res = await answer;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ v: 1, commands: [] });
  });
});
