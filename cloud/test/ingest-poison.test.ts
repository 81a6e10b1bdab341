import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOSQUITTO_URL, serviceAvailable } from '../../shared/testing/index.js';
import { sha256Hex, signHttpRequest, signMqttMessage, type DeviceCredentials } from '../../shared/signing/index.js';
import { thumbnailTopic } from '../../firmware-protocol/topics.js';
import { sqliteBackend } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { TestMqttDevice } from './support-ingest/mqtt-device.js';
import { type IngestReply, wireEvent } from './support-ingest/wire.js';

/**
 * Issue 10, findings 1-3, against a whole collector (in-process, SQLite, MQTT through the shared Mosquitto in a
 * group of its own): hostile but correctly signed messages get a documented 4xx / rejected ack, never crash the
 * process, never stall other devices, and nothing of them is stored.
 */
const url = new URL(MOSQUITTO_URL);
const haveBroker = await serviceAvailable('mosquitto', url.hostname, Number(url.port || 1883));

/** Errors that escaped to the process: each would have killed a real collector. */
const escaped: unknown[] = [];
const onEscape = (err: unknown): void => void escaped.push(err);

let t: TestCloud;
beforeAll(async () => {
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
  const tag = randomBytes(4).toString('hex');
  t = await startTestCloud(sqliteBackend, {
    overrides: haveBroker
      ? { mqtt: { url: MOSQUITTO_URL, client_id: `poison-${tag}`, shared_group: `poison${tag}`, session_expiry_s: 30 } }
      : {},
  });
  if (t.cloud.mqtt) await t.cloud.mqtt.ready;
});
afterAll(async () => {
  await t?.close();
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
});

async function realJpeg(width = 32, height = 24): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 40, g: 90, b: 200 } } })
    .jpeg({ quality: 60 })
    .toBuffer();
}
async function png(): Promise<Buffer> {
  return sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 1, g: 2, b: 3 } } })
    .png()
    .toBuffer();
}
const announce = (bytes: Buffer, w = 32, h = 24): Record<string, unknown> => ({
  sha256: sha256Hex(bytes),
  size: bytes.length,
  width: w,
  height: h,
  content_type: 'image/jpeg',
});
const eventsPath = (d: DeviceCredentials): string => `/v1/devices/${d.deviceId}/events`;
const thumbPath = (d: DeviceCredentials, id: string): string => `/v1/devices/${d.deviceId}/events/${id}/thumbnail`;

async function postEvent(d: DeviceCredentials, body: object | Buffer): Promise<{ status: number; body: IngestReply }> {
  const res = await t.signedFetch(
    d,
    'POST',
    eventsPath(d),
    Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body)),
  );
  return { status: res.status, body: (await res.json()) as IngestReply };
}
async function putThumb(
  d: DeviceCredentials,
  id: string,
  bytes: Buffer,
  signedBytes: Buffer = bytes,
): Promise<{ status: number; body: IngestReply }> {
  const headers = { ...signHttpRequest(d, 'PUT', thumbPath(d, id), signedBytes), 'content-type': 'image/jpeg' };
  const res = await fetch(t.url + thumbPath(d, id), { method: 'PUT', headers, body: bytes });
  return { status: res.status, body: (await res.json()) as IngestReply };
}
/** An array nested `depth` deep, as JSON text. */
const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
/** A signed single event whose JSON carries `extra` (raw JSON text) under an unknown field. */
function eventWithRaw(d: DeviceCredentials, extra: string): Buffer {
  const text = JSON.stringify(wireEvent(d.deviceId, { deep: 0 }));
  return Buffer.from(text.replace('"deep":0', `"deep":${extra}`));
}

async function stillServes(): Promise<void> {
  const d = await t.pairDevice('canary');
  const e = wireEvent(d.deviceId);
  const r = await postEvent(d, e);
  expect(r.status).toBe(200);
  expect(await t.cloud.store.findDeviceEvent(d.deviceId, e.id as string)).toBeDefined();
  expect(escaped).toEqual([]);
}

describe('HTTP: hostile signed uploads are refused with a documented 4xx and the collector lives on', () => {
  it('a PNG thumbnail is 415 unsupported_media_type; nothing stored', async () => {
    const d = await t.pairDevice();
    const body = await png();
    const e = wireEvent(d.deviceId, { thumbnail: announce(body, 16, 16) });
    expect((await postEvent(d, e)).status).toBe(200);
    const r = await putThumb(d, e.id as string, body);
    expect([r.status, r.body.error?.code]).toEqual([415, 'unsupported_media_type']);
    expect(await t.cloud.store.findDeviceThumbnail(d.deviceId, e.id as string)).toBeUndefined();
    await stillServes();
  });

  it('a JPEG whose bytes do not match the signed hash is 401 body_hash_mismatch; nothing stored', async () => {
    const d = await t.pairDevice();
    const good = await realJpeg();
    const bad = Buffer.from(good);
    bad[bad.length - 10] = bad[bad.length - 10]! ^ 0xff;
    const e = wireEvent(d.deviceId, { thumbnail: announce(good) });
    expect((await postEvent(d, e)).status).toBe(200);
    const r = await putThumb(d, e.id as string, bad, good);
    expect([r.status, r.body.error?.code]).toEqual([401, 'body_hash_mismatch']);
    expect(await t.cloud.store.findDeviceThumbnail(d.deviceId, e.id as string)).toBeUndefined();
    await stillServes();
  });

  it('bytes that start like a JPEG but do not decode are 415; a JPEG over the size bounds is 413', async () => {
    const d = await t.pairDevice();
    const junk = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(3000), Buffer.from([0xff, 0xd9])]);
    const e1 = wireEvent(d.deviceId, { thumbnail: announce(junk) });
    expect((await postEvent(d, e1)).status).toBe(200);
    const r1 = await putThumb(d, e1.id as string, junk);
    expect([r1.status, r1.body.error?.code]).toEqual([415, 'unsupported_media_type']);
    expect(r1.body.error.message).toMatch(/decod/);
    // 8193 px wide: over THUMBNAIL_MAX_SIDE (8192).
    const wide = await realJpeg(8193, 8);
    const e2 = wireEvent(d.deviceId, { thumbnail: { ...announce(wide), width: 8192, height: 8 } });
    expect((await postEvent(d, e2)).status).toBe(200);
    const r2 = await putThumb(d, e2.id as string, wide);
    expect([r2.status, r2.body.error?.code]).toEqual([413, 'payload_too_large']);
    expect(r2.body.error.message).toMatch(/8193/);
    expect(await t.cloud.store.findDeviceThumbnail(d.deviceId, e2.id as string)).toBeUndefined();
    await stillServes();
  });

  it('an event nested 7,000 deep (14 KB) is 400 invalid_message naming the depth; 10,000 deep is 413', async () => {
    const d = await t.pairDevice();
    const deep = await postEvent(d, eventWithRaw(d, nested(7000)));
    expect([deep.status, deep.body.error?.code]).toEqual([400, 'invalid_message']);
    expect(deep.body.error.message).toMatch(/depth/);
    const big = await postEvent(d, eventWithRaw(d, nested(10_000)));
    expect([big.status, big.body.error?.code]).toEqual([413, 'payload_too_large']);
    // In a batch: the item with the deep field cannot be read without parsing it, so the batch is refused whole.
    const batch = await postEvent(d, Buffer.from(`{"v":1,"events":[${eventWithRaw(d, nested(3000)).toString()}]}`));
    expect([batch.status, batch.body.error?.code]).toEqual([400, 'invalid_message']);
    expect((await t.cloud.store.listEvents('default', { deviceId: d.deviceId }, 10)).events).toHaveLength(0);
    await stillServes();
  });

  it('a signed 500 KB event is 413 payload_too_large (EVENT_MAX_BYTES); in a batch the item is rejected', async () => {
    const d = await t.pairDevice();
    const fat = wireEvent(d.deviceId, { note: 'x'.repeat(500 * 1024) });
    const r = await postEvent(d, fat);
    expect([r.status, r.body.error?.code]).toEqual([413, 'payload_too_large']);
    const ok = wireEvent(d.deviceId);
    const item = wireEvent(d.deviceId, { note: 'y'.repeat(17 * 1024) });
    const b = await postEvent(d, { v: 1, events: [ok, item] });
    expect(b.status).toBe(200);
    expect(b.body.acks.map((a) => [a.status, a.code])).toEqual([
      ['accepted', undefined],
      ['rejected', 'payload_too_large'],
    ]);
    expect(await t.cloud.store.findDeviceEvent(d.deviceId, fat.id as string)).toBeUndefined();
    expect(await t.cloud.store.findDeviceEvent(d.deviceId, item.id as string)).toBeUndefined();
  });

  it('impossible calendar dates are 400 invalid_message naming field and date, at ingest and in the API', async () => {
    const d = await t.pairDevice();
    for (const [field, value] of [
      ['started_at', '2026-02-30T10:00:00Z'],
      ['started_at', '2025-02-29T10:00:00.000Z'],
      ['sent_at', '2026-04-31T00:00:00Z'],
      ['started_at', '2026-01-01T24:00:00Z'],
    ] as const) {
      const r = await postEvent(d, wireEvent(d.deviceId, { [field]: value }));
      expect([r.status, r.body.error?.code], `${field}=${value}`).toEqual([400, 'invalid_message']);
      expect(r.body.error.message).toContain(`/${field}`);
      expect(r.body.error.message).toContain(value.slice(0, 10));
    }
    // A real leap day is fine.
    expect((await postEvent(d, wireEvent(d.deviceId, { started_at: '2028-02-29T10:00:00Z' }))).status).toBe(200);
    const api = await t.api('/v1/events?since=2026-02-30T00:00:00Z');
    expect(api.status).toBe(400);
    expect(((await api.json()) as IngestReply).error.message).toMatch(/since/);
  });

  it('binary responses carry X-Content-Type-Options: nosniff (thumbnail 200 and 304, metrics, errors)', async () => {
    const d = await t.pairDevice();
    const jpeg = await realJpeg();
    const e = wireEvent(d.deviceId, { thumbnail: announce(jpeg) });
    expect((await postEvent(d, e)).status).toBe(200);
    expect((await putThumb(d, e.id as string, jpeg)).status).toBe(200);
    const got = await t.api(`/v1/events/${e.id}/thumbnail`);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('image/jpeg');
    expect(got.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await got.arrayBuffer()).equals(jpeg)).toBe(true);
    const again = await t.api(`/v1/events/${e.id}/thumbnail`, {
      headers: { 'if-none-match': got.headers.get('etag')! },
    });
    expect(again.status).toBe(304);
    expect(again.headers.get('x-content-type-options')).toBe('nosniff');
    for (const path of ['/metrics', '/v1/events/evt_nope/thumbnail', '/healthz']) {
      const r = await t.api(path);
      await r.arrayBuffer();
      expect(r.headers.get('x-content-type-options'), path).toBe('nosniff');
    }
  });
});

describe.skipIf(!haveBroker)('MQTT: hostile signed messages are rejected-acked and other devices go on', () => {
  let open: TestMqttDevice[] = [];
  afterAll(async () => {
    for (const o of open) await o.close().catch(() => undefined);
    open = [];
  });
  const device = async (): Promise<TestMqttDevice> => {
    const d = await TestMqttDevice.connect(MOSQUITTO_URL, await t.pairDevice());
    open.push(d);
    return d;
  };
  /** Another device's event, published after the hostile one, is stored and acked. */
  async function othersGoOn(): Promise<void> {
    const other = await device();
    const e = wireEvent(other.creds.deviceId);
    await other.publishEvents(e);
    expect((await other.ackOf(e.id as string)).acks[0]?.status).toBe('accepted');
    expect(escaped).toEqual([]);
  }

  it('a PNG thumbnail is acked rejected unsupported_media_type', async () => {
    const dev = await device();
    const body = await png();
    const e = wireEvent(dev.creds.deviceId, { thumbnail: announce(body, 16, 16) });
    await dev.publishEvents(e);
    await dev.ackOf(e.id as string);
    await dev.publishThumbnail(e.id as string, body);
    const ack = await dev.waitForAck((a) => a.acks.some((i) => i.kind === 'thumbnail'));
    expect(ack.acks[0]).toMatchObject({
      id: e.id,
      kind: 'thumbnail',
      status: 'rejected',
      code: 'unsupported_media_type',
    });
    await othersGoOn();
  });

  it('a thumbnail whose envelope hash does not match its bytes gets no ack and harms nobody', async () => {
    const dev = await device();
    const good = await realJpeg();
    const bad = Buffer.from(good);
    bad[bad.length - 10] = bad[bad.length - 10]! ^ 0xff;
    const e = wireEvent(dev.creds.deviceId, { thumbnail: announce(good) });
    await dev.publishEvents(e);
    await dev.ackOf(e.id as string);
    const topic = thumbnailTopic(dev.creds.deviceId, e.id as string);
    const env = signMqttMessage(dev.creds, topic, good);
    await dev.publishRaw(topic, JSON.stringify({ ...env, body_b64: bad.toString('base64') }));
    await othersGoOn();
    expect(dev.acks.some((a) => a.acks.some((i) => i.kind === 'thumbnail'))).toBe(false);
    expect(await t.cloud.store.findDeviceThumbnail(dev.creds.deviceId, e.id as string)).toBeUndefined();
  });

  it('a deeply nested and a 500 KB event are acked rejected with their codes; later messages are stored', async () => {
    const dev = await device();
    const deep = JSON.parse(JSON.stringify(wireEvent(dev.creds.deviceId))) as Record<string, unknown>;
    const deepText = Buffer.from(JSON.stringify(deep).replace(/}$/, `,"deep":${nested(7000)}}`));
    await dev.publishEvents(deepText);
    const r1 = await dev.ackOf(deep.id as string, 0, 15_000);
    expect(r1.acks[0]).toMatchObject({ status: 'rejected', code: 'invalid_message' });
    const fat = wireEvent(dev.creds.deviceId, { note: 'x'.repeat(500 * 1024) });
    await dev.publishEvents(fat);
    expect((await dev.ackOf(fat.id as string)).acks[0]).toMatchObject({
      status: 'rejected',
      code: 'payload_too_large',
    });
    const bad = wireEvent(dev.creds.deviceId, { started_at: '2026-02-30T10:00:00Z' });
    await dev.publishEvents(bad);
    expect((await dev.ackOf(bad.id as string)).acks[0]).toMatchObject({ status: 'rejected', code: 'invalid_message' });
    await othersGoOn();
    expect((await t.cloud.store.listEvents('default', { deviceId: dev.creds.deviceId }, 10)).events).toHaveLength(0);
  });
});
