import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../shared/paths/index.js';
import { MOSQUITTO_URL, serviceAvailable } from '../../shared/testing/index.js';
import type { DeviceCredentials } from '../../shared/signing/index.js';
import { sqliteBackend } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { TestMqttDevice } from './support-ingest/mqtt-device.js';
import { type IngestReply, wireEvent } from './support-ingest/wire.js';

/**
 * Poison containment on a whole collector: a message whose storing fails on the collector's side every time (here
 * a store hook throwing for chosen event ids, as a bug would) is retried, then dead-lettered after
 * `ingest.dead_letter_after` failures (3 here): HTTP answers 422 `dead_lettered`, MQTT acks it rejected with that
 * code; it is listed for an admin (API and CLI) and counted in /metrics; other devices are never held up; failures
 * while storage is down are not counted.
 */
const url = new URL(MOSQUITTO_URL);
const haveBroker = await serviceAvailable('mosquitto', url.hostname, Number(url.port || 1883));

const poison = new Set<string>();
let t: TestCloud;
beforeAll(async () => {
  const tag = randomBytes(4).toString('hex');
  t = await startTestCloud(sqliteBackend, {
    overrides: {
      ingest: { dead_letter_after: 3 },
      ...(haveBroker
        ? { mqtt: { url: MOSQUITTO_URL, client_id: `dl-${tag}`, shared_group: `dl${tag}`, session_expiry_s: 30 } }
        : {}),
    },
  });
  t.cloud.store.onEventsStored(async (_x, stored) => {
    if (stored.eventIds.some((id) => poison.has(id))) throw new Error('poison message (test): storing it always fails');
  });
  if (t.cloud.mqtt) await t.cloud.mqtt.ready;
});
afterAll(async () => {
  await t?.close();
});

async function post(d: DeviceCredentials, body: Buffer): Promise<{ status: number; body: IngestReply }> {
  const res = await t.signedFetch(d, 'POST', `/v1/devices/${d.deviceId}/events`, body);
  return { status: res.status, body: (await res.json()) as IngestReply };
}
/** A row of the admin dead-letter list, as these tests read it (the rest is asserted with toMatchObject). */
interface ListedDeadLetter {
  id: string;
  device_id: string;
  error: { code: string; message: string };
}
async function deadLetters(query = '', token?: string): Promise<ListedDeadLetter[]> {
  const res = await t.api(`/v1/admin/dead-letters${query}`, token === undefined ? {} : { token });
  expect(res.status).toBe(200);
  return ((await res.json()) as { dead_letters: ListedDeadLetter[] }).dead_letters;
}
async function metric(kind: string): Promise<number> {
  const text = await (await t.api('/metrics')).text();
  const m = new RegExp(`^vigil_ingest_total\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

describe('poison messages over HTTP', () => {
  it('500 while retried, then 422 dead_lettered; listed for an admin with its bytes, counted in /metrics', async () => {
    const d = await t.pairDevice();
    const e = wireEvent(d.deviceId);
    poison.add(e.id as string);
    const bytes = Buffer.from(JSON.stringify(e));
    const before = await metric('dead_lettered');
    expect((await post(d, bytes)).status).toBe(500);
    expect((await post(d, bytes)).status).toBe(500);
    const third = await post(d, bytes);
    expect([third.status, third.body.error.code]).toEqual([422, 'dead_lettered']);
    const id = third.body.error.details.dead_letter_id as string;
    expect(id).toMatch(/^dl_/);
    // A later resend of the same body is answered at once the same way (and not counted as a new dead letter).
    const again = await post(d, bytes);
    expect([again.status, again.body.error.code, again.body.error.details.dead_letter_id]).toEqual([
      422,
      'dead_lettered',
      id,
    ]);
    expect(await metric('dead_lettered')).toBe(before + 1);

    // Another device is not affected.
    const other = await t.pairDevice();
    expect((await post(other, Buffer.from(JSON.stringify(wireEvent(other.deviceId))))).status).toBe(200);

    const listed = (await deadLetters()).find((r) => r.id === id);
    expect(listed).toMatchObject({
      device_id: d.deviceId,
      transport: 'http',
      kind: 'events',
      state: 'dead',
      attempts: 4,
      error: { code: 'internal_error' },
    });
    expect(listed?.error.message).toContain('poison message (test)');
    const one = await t.api(`/v1/admin/dead-letters/${id}`);
    const row = (await one.json()) as { body_b64: string };
    expect(Buffer.from(row.body_b64, 'base64').equals(bytes)).toBe(true);
    // Admins only, and of their own tenant.
    expect((await t.api('/v1/admin/dead-letters', { token: t.tokens.reader })).status).toBe(403);
    expect(await deadLetters('', t.tokens.otherTenant)).toEqual([]);
    expect((await t.api(`/v1/admin/dead-letters/${id}`, { token: t.tokens.otherTenant })).status).toBe(404);
    expect(await t.cloud.store.findDeviceEvent(d.deviceId, e.id as string)).toBeUndefined();

    // The operator's CLI lists it too.
    const root = projectRoot();
    const cli = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'cloud', 'cli', 'main.ts'),
        'dead-letter',
        'list',
        '--data-dir',
        t.db.dataDir,
        '--json',
      ],
      {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, VIGIL_LOG_LEVEL: 'warn' },
        timeout: 60_000,
      },
    );
    expect(cli.status, cli.stderr).toBe(0);
    expect((JSON.parse(cli.stdout) as { dead_letters: { id: string }[] }).dead_letters.map((r) => r.id)).toContain(id);
  });

  it('failures while storage is down are an outage: retried, not counted towards dead-lettering', async () => {
    const d = await t.pairDevice();
    const e = wireEvent(d.deviceId);
    poison.add(e.id as string);
    const bytes = Buffer.from(JSON.stringify(e));
    const ping = t.cloud.blobs.ping.bind(t.cloud.blobs);
    t.cloud.blobs.ping = async () => {
      throw new Error('blob store down (test)');
    };
    try {
      for (let i = 0; i < 5; i++) expect((await post(d, bytes)).status).toBe(500);
      expect((await deadLetters('?state=all')).filter((r) => r.device_id === d.deviceId)).toEqual([]);
    } finally {
      t.cloud.blobs.ping = ping;
    }
    expect((await post(d, bytes)).status).toBe(500);
    expect((await post(d, bytes)).status).toBe(500);
    expect((await deadLetters('?state=all')).find((r) => r.device_id === d.deviceId)).toMatchObject({
      state: 'failing',
      attempts: 2,
    });
    expect((await post(d, bytes)).status).toBe(422);
  });
});

describe.skipIf(!haveBroker)('poison messages over MQTT', () => {
  it('retried, then dead-lettered and acked rejected dead_lettered; other devices are stored meanwhile', async () => {
    const dev = await TestMqttDevice.connect(MOSQUITTO_URL, await t.pairDevice());
    const other = await TestMqttDevice.connect(MOSQUITTO_URL, await t.pairDevice());
    try {
      const e = wireEvent(dev.creds.deviceId);
      poison.add(e.id as string);
      await dev.publishEvents(e);
      // While it is being retried, another device's messages are stored and acked.
      const fine = [wireEvent(other.creds.deviceId), wireEvent(other.creds.deviceId)];
      for (const f of fine) await other.publishEvents(f);
      for (const f of fine) expect((await other.ackOf(f.id as string)).acks[0]?.status).toBe('accepted');
      const ack = await dev.ackOf(e.id as string, 0, 20_000);
      expect(ack.acks[0]).toMatchObject({ id: e.id, status: 'rejected', code: 'dead_lettered' });
      const row = (await deadLetters()).find((r) => r.device_id === dev.creds.deviceId);
      expect(row).toMatchObject({ transport: 'mqtt', kind: 'events', state: 'dead', attempts: 3 });
      // The same device goes on too.
      const next = wireEvent(dev.creds.deviceId);
      await dev.publishEvents(next);
      expect((await dev.ackOf(next.id as string)).acks[0]?.status).toBe('accepted');
    } finally {
      await dev.close();
      await other.close();
    }
  });
});
