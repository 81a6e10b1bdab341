import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { testJpeg } from '../../shared/testing/index.js';
import { parseMqttEnvelope, verifySignedMessage, type DeviceKey } from '../../shared/signing/index.js';
import { validateCommand, type CommandResult } from '../../firmware-protocol/messages.js';
import { commandsTopic } from '../../firmware-protocol/topics.js';
import { openBlobStore } from '../blob/index.js';
import type { BlobStore } from '../blob/blob-store.js';
import { commandsConfig, createCommands, SqlCommandRepository, type CommandChannel } from '../commands/index.js';
import type { CommandRecord } from '../commands/types.js';
import { testBackends, type TestDatabase } from './support/backends.js';
import { pairTestDevice } from './support/fixtures.js';

/**
 * The device_commands repository and the command channel on SQLite and PostgreSQL, without a server: issue →
 * queued; the long-poll view (queued, and http hand-outs older than redeliver_after) and its signed envelopes;
 * results end a command once (a second copy is a duplicate, another device's id is unknown); the sweeper ends what
 * expired with device_offline and tells the listeners once; the per-device rate limit; unknown / other tenant's /
 * revoked devices are device_unknown.
 */
const backends = await testBackends();
const T0 = Date.UTC(2026, 0, 1, 12);

function result(c: CommandRecord, o: Partial<CommandResult> = {}): CommandResult {
  return {
    v: 1,
    kind: 'command_result',
    command_id: c.id,
    device_id: c.deviceId,
    command_kind: c.kind,
    status: 'done',
    result: { ok: true },
    finished_at: new Date(T0).toISOString(),
    ...o,
  };
}

describe.each(backends)('device commands on $name', (backend) => {
  let db: TestDatabase;
  let blobs: BlobStore;
  let clock: ManualClock;
  let channel: CommandChannel;
  let device: string;
  const key: DeviceKey = { keyId: 'k1', secret: randomBytes(32) };
  const finished: CommandRecord[] = [];

  beforeEach(async () => {
    db = await backend.open();
    blobs = openBlobStore({ kind: 'fs', s3: {} } as never, db.dataDir);
    clock = new ManualClock(T0);
    device = await pairTestDevice(db.store, { now: T0 });
    channel = createCommands({
      database: db.database,
      store: db.store,
      blobs,
      keys: async (id) => (id === device ? [key] : undefined),
      config: commandsConfig({ ttl: '60s', rate: { per_minute: 60, burst: 3 } }),
      clock,
      log: silentLogger(),
    });
    finished.length = 0;
    channel.onFinished((r) => void finished.push(r));
  });
  afterEach(async () => {
    await channel.close();
    await blobs.close();
    await db.cleanup();
  });

  const issue = (kind = 'status', args: Record<string, unknown> = {}) =>
    channel.issue({ tenantId: 'default', deviceId: device, kind, args });

  it('stores a queued command and reads it back; another tenant does not see it', async () => {
    const c = await issue('snapshot', { camera: 'front', width: 320 });
    expect(c).toMatchObject({ state: 'queued', kind: 'snapshot', args: { camera: 'front', width: 320 } });
    expect(c.id).toMatch(/^cmd_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(c.expiresAt - c.createdAt).toBe(60_000);
    expect(await channel.get('default', device, c.id)).toMatchObject({ id: c.id, state: 'queued', deliveredAt: null });
    expect(await channel.get('acme', device, c.id)).toBeUndefined();
  });

  it('refuses unknown, foreign and revoked devices with device_unknown, bad args with invalid_request', async () => {
    await expect(
      channel.issue({ tenantId: 'default', deviceId: 'nope', kind: 'status', args: {} }),
    ).rejects.toMatchObject({ code: 'device_unknown', status: 404 });
    await expect(channel.issue({ tenantId: 'acme', deviceId: device, kind: 'status', args: {} })).rejects.toMatchObject(
      {
        code: 'device_unknown',
      },
    );
    await expect(issue('snapshot', { width: 5 })).rejects.toMatchObject({ code: 'invalid_request', status: 400 });
    await expect(issue('Bad-Kind')).rejects.toMatchObject({ code: 'invalid_request' });
    await db.store.revokeDevice('default', device, T0);
    await expect(issue()).rejects.toMatchObject({ code: 'device_unknown' });
  });

  it('limits commands per device: the burst, then 429 rate_limited with a retry time', async () => {
    for (let i = 0; i < 3; i++) await issue();
    await expect(issue()).rejects.toMatchObject({ code: 'rate_limited', status: 429, details: { retry_after_s: 1 } });
    clock.advance(1_000);
    await expect(issue()).resolves.toMatchObject({ state: 'queued' });
  });

  it('long-poll: hands out signed envelopes, not again within redeliver_after, again after it', async () => {
    const a = await issue('status');
    const b = await issue('reload_config');
    const first = await channel.poll(device, 0);
    expect(first).toHaveLength(2);
    const bodies = [];
    for (const env of first) {
      const topic = commandsTopic(device);
      const { message, body } = parseMqttEnvelope(Buffer.from(JSON.stringify(env)), topic);
      const v = await verifySignedMessage(message, {
        keys: async () => [key],
        nonces: { remember: async () => true },
        clock,
      });
      expect(v.deviceId).toBe(device);
      bodies.push(validateCommand.parse(JSON.parse(body.toString('utf8'))));
    }
    expect(bodies.map((c) => c.id)).toEqual([a.id, b.id]);
    expect(bodies[0]).toMatchObject({ device_id: device, kind: 'status', args: {} });
    expect(await channel.get('default', device, a.id)).toMatchObject({ state: 'delivered', deliveredAt: T0 });
    expect(await channel.poll(device, 0)).toEqual([]);
    clock.advance(30_001);
    expect(await channel.poll(device, 0)).toHaveLength(2);
    // Another device's poll sees nothing of them.
    expect(await channel.poll('other-device', 0)).toEqual([]);
  });

  it('a result ends its command once: accepted, then duplicate; unknown ids and devices are unknown', async () => {
    const c = await issue('status');
    expect(await channel.recordResult(device, result(c))).toBe('accepted');
    expect(await channel.recordResult(device, result(c))).toBe('duplicate');
    expect(await channel.recordResult('other', result(c))).toBe('unknown');
    expect(await channel.recordResult(device, { ...result(c), command_id: `cmd_${'0'.repeat(26)}` })).toBe('unknown');
    const done = await channel.get('default', device, c.id);
    expect(done).toMatchObject({ state: 'done', finishedAt: T0, result: { status: 'done', result: { ok: true } } });
    await new Promise((r) => setTimeout(r, 10));
    expect(finished.map((f) => [f.id, f.state])).toEqual([[c.id, 'done']]);
  });

  it('a refused or failed result ends the command failed with the box code', async () => {
    const refused = await issue('status');
    const failed = await issue('snapshot', { camera: 'front' });
    await channel.recordResult(
      device,
      result(refused, { status: 'refused', code: 'command_unknown', result: undefined }),
    );
    await channel.recordResult(device, result(failed, { status: 'failed', code: 'no_frame', message: 'no frame yet' }));
    expect(await channel.get('default', device, refused.id)).toMatchObject({
      state: 'failed',
      code: 'command_unknown',
    });
    expect(await channel.get('default', device, failed.id)).toMatchObject({
      state: 'failed',
      code: 'no_frame',
      message: 'no frame yet',
    });
  });

  it('a snapshot JPEG is kept as a blob and taken out of the stored result', async () => {
    const c = await issue('snapshot', { camera: 'front' });
    const jpeg = testJpeg(1_500, 3);
    const snap = { camera: 'front', width: 64, height: 48, captured_at: new Date(T0).toISOString() };
    expect(
      await channel.recordResult(device, result(c, { result: { ...snap, jpeg_b64: jpeg.toString('base64') } })),
    ).toBe('accepted');
    const stored = await channel.get('default', device, c.id);
    expect(stored?.state).toBe('done');
    expect(stored?.result?.result).toMatchObject({ ...snap, size: jpeg.length });
    expect(stored?.result?.result).not.toHaveProperty('jpeg_b64');
    expect(stored?.snapshot?.key).toMatch(
      new RegExp(`^default/${device}/commands/${c.id}/snapshot-[0-9a-f]{16}\\.jpg$`),
    );
    const blob = await channel.snapshot(stored!);
    const chunks: Buffer[] = [];
    for await (const chunk of blob!.stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(jpeg)).toBe(true);
    // Not a JPEG: the command fails invalid_result instead of waiting for its expiry.
    const bad = await issue('snapshot', { camera: 'front' });
    await channel.recordResult(device, result(bad, { result: { ...snap, jpeg_b64: 'aGVsbG8=' } }));
    expect(await channel.get('default', device, bad.id)).toMatchObject({ state: 'failed', code: 'invalid_result' });
    // JPEG markers but not decodable: the same.
    const broken = await issue('snapshot', { camera: 'front' });
    const garbage = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(300)]).toString('base64');
    await channel.recordResult(device, result(broken, { result: { ...snap, jpeg_b64: garbage } }));
    expect(await channel.get('default', device, broken.id)).toMatchObject({
      state: 'failed',
      code: 'invalid_result',
      message: expect.stringContaining('not a decodable JPEG'),
    });
  });

  it('the sweeper ends expired commands expired / device_offline, once, and tells the listeners', async () => {
    const c = await issue('status');
    const later = await channel.issue({
      tenantId: 'default',
      deviceId: device,
      kind: 'status',
      args: {},
      ttlMs: 600_000,
    });
    expect(await channel.sweep()).toBe(0);
    clock.advance(60_000);
    expect(await channel.sweep()).toBe(1);
    expect(await channel.sweep()).toBe(0);
    expect(await channel.get('default', device, c.id)).toMatchObject({ state: 'expired', code: 'device_offline' });
    expect(await channel.get('default', device, later.id)).toMatchObject({ state: 'queued' });
    // An expired command is not handed out, and a late result is a duplicate.
    expect((await channel.poll(device, 0)).length).toBe(1);
    expect(await channel.recordResult(device, result(c))).toBe('duplicate');
    await new Promise((r) => setTimeout(r, 10));
    expect(finished.map((f) => [f.id, f.state, f.code])).toEqual([[c.id, 'expired', 'device_offline']]);
  });

  it('COMMAND_MAX_BYTES: a command whose envelope would be over 16 KiB is refused invalid_request', async () => {
    await expect(issue('custom', { blob: 'x'.repeat(11_000) })).resolves.toMatchObject({ state: 'queued' });
    await expect(issue('custom', { blob: 'x'.repeat(12_500) })).rejects.toMatchObject({ code: 'invalid_request' });
  });

  it('COMMANDS_PER_POLL_MAX: one long-poll answer hands out at most 32 commands, the rest the next time', async () => {
    const roomy = createCommands({
      database: db.database,
      store: db.store,
      blobs,
      keys: async () => [key],
      config: commandsConfig({ rate: { burst: 100 } }),
      clock,
      log: silentLogger(),
    });
    for (let i = 0; i < 33; i++) await roomy.issue({ tenantId: 'default', deviceId: device, kind: 'status', args: {} });
    expect(await roomy.poll(device, 0)).toHaveLength(32);
    expect(await roomy.poll(device, 0)).toHaveLength(1);
    await roomy.close();
  });

  it('ttl is cut to max_ttl; the repository lists devices with open commands', async () => {
    const c = await channel.issue({
      tenantId: 'default',
      deviceId: device,
      kind: 'status',
      args: {},
      ttlMs: 30 * 86_400_000,
    });
    expect(c.expiresAt - c.createdAt).toBe(7 * 86_400_000);
    const repo = new SqlCommandRepository(db.database);
    expect(await repo.devicesWithPending(T0, 10)).toEqual([device]);
  });
});
