import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newEventId } from '../../shared/ids/index.js';
import type { DeviceCredentials } from '../../shared/signing/index.js';
import { testBackends, type TestDatabase } from './support/backends.js';
import { storeSink, type StoreSinkHarness } from './support-ingest/store-sink.js';
import {
  fakeJpeg,
  ingestApp,
  type IngestReply,
  signed,
  thumbnailInfo,
  wireEvent,
  wireHeartbeat,
} from './support-ingest/wire.js';

/**
 * HTTP ingest into the collector's real storage (store + blob store), on SQLite and on PostgreSQL: what is acked is
 * in the database, rejected requests leave nothing, and two collectors sharing one database share the replay window.
 */
const backends = await testBackends();

describe.each(backends)('ingest into $name', (backend) => {
  let db: TestDatabase;
  let h: StoreSinkHarness;
  let app: FastifyInstance;
  let dev: DeviceCredentials;

  beforeEach(async () => {
    db = await backend.open();
    h = storeSink(db.store, db.dataDir);
    app = await ingestApp({ sink: h.sink });
    dev = await h.pair();
  });
  afterEach(async () => {
    await app.close();
    await db.cleanup();
  });

  const post = async (r: ReturnType<typeof signed>, to: FastifyInstance = app) => {
    const res = await to.inject({ method: r.method as 'POST', url: r.url, headers: r.headers, payload: r.payload });
    return { status: res.statusCode, body: res.json() as IngestReply };
  };
  const eventsUrl = (id: string): string => `/v1/devices/${id}/events`;
  const countEvents = async (deviceId: string): Promise<number> =>
    (await db.store.listEvents('default', { deviceId }, 500)).events.length;
  const blobFiles = (): string[] => {
    const dir = join(db.dataDir, 'blobs');
    return existsSync(dir) ? (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.jpg')) : [];
  };

  it('stores an acked event; a resend is duplicate; other content under the same id+rev is 409', async () => {
    const e = wireEvent(dev.deviceId);
    expect((await post(signed(dev, 'POST', eventsUrl(dev.deviceId), e))).body.acks[0].status).toBe('accepted');
    expect((await db.store.findDeviceEvent(dev.deviceId, e.id as string))?.label).toBe('person');
    expect(
      (await post(signed(dev, 'POST', eventsUrl(dev.deviceId), { ...e, sent_at: new Date().toISOString() }))).body
        .acks[0].status,
    ).toBe('duplicate');
    const conflict = await post(signed(dev, 'POST', eventsUrl(dev.deviceId), { ...e, label: 'car' }));
    expect([conflict.status, conflict.body.error.code]).toEqual([409, 'event_conflict']);
    expect(await countEvents(dev.deviceId)).toBe(1);
    expect((await db.store.findDeviceEvent(dev.deviceId, e.id as string))?.label).toBe('person');
  });

  it('a batch: good items stored, a bad one rejected', async () => {
    const a = wireEvent(dev.deviceId);
    const b = wireEvent(dev.deviceId, { label: '' });
    const res = await post(signed(dev, 'POST', eventsUrl(dev.deviceId), { v: 1, events: [a, b] }));
    expect(res.body.acks.map((i) => i.status)).toEqual(['accepted', 'rejected']);
    expect(await countEvents(dev.deviceId)).toBe(1);
  });

  it('rejected requests store nothing', async () => {
    const other = await h.pair();
    const cases: [ReturnType<typeof signed>, number, string][] = [
      [signed(dev, 'POST', eventsUrl(dev.deviceId), Buffer.from('{nope')), 400, 'invalid_json'],
      [signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId, { rev: -1 })), 400, 'invalid_message'],
      [
        signed({ ...dev, secret: Buffer.alloc(32) }, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId)),
        401,
        'signature_mismatch',
      ],
      [
        signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId), {
          timestamp: Math.floor(Date.now() / 1000) - 900,
        }),
        401,
        'timestamp_out_of_tolerance',
      ],
      [signed(dev, 'POST', eventsUrl(other.deviceId), wireEvent(other.deviceId)), 403, 'device_mismatch'],
      [
        signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId), { contentType: 'text/plain' }),
        415,
        'unsupported_media_type',
      ],
    ];
    for (const [r, status, code] of cases) {
      const res = await post(r);
      expect([res.status, res.body.error?.code]).toEqual([status, code]);
    }
    await h.revoke(dev.deviceId);
    const revoked = await post(signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId)));
    expect([revoked.status, revoked.body.error.code]).toEqual([401, 'unknown_device']);
    expect(await countEvents(dev.deviceId)).toBe(0);
    expect(await countEvents(other.deviceId)).toBe(0);
  });

  it('two collectors on one database share the replay window', async () => {
    const second = await ingestApp({ sink: storeSink(await db.openAnother(), db.dataDir, h.secretsKey).sink });
    try {
      const r = signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId));
      expect((await post(r)).status).toBe(200);
      const replay = await post(r, second);
      expect([replay.status, replay.body.error.code]).toEqual([401, 'nonce_replayed']);
    } finally {
      await second.close();
    }
  });

  it('thumbnails: stored in the blob store; a checksum mismatch or unknown event keeps nothing', async () => {
    const jpeg = fakeJpeg(20_000);
    const e = wireEvent(dev.deviceId, { thumbnail: thumbnailInfo(jpeg) });
    await post(signed(dev, 'POST', eventsUrl(dev.deviceId), e));
    const url = `/v1/devices/${dev.deviceId}/events/${e.id}/thumbnail`;

    const bad = signed(dev, 'PUT', url, jpeg, { contentType: 'image/jpeg' });
    bad.payload = Buffer.from(jpeg);
    bad.payload[10_000] = bad.payload[10_000]! ^ 0xff;
    const mismatch = await post(bad);
    expect([mismatch.status, mismatch.body.error.code]).toEqual([401, 'body_hash_mismatch']);
    expect(await db.store.findDeviceThumbnail(dev.deviceId, e.id as string)).toBeUndefined();
    expect(blobFiles()).toEqual([]);

    const unknown = await post(
      signed(dev, 'PUT', `/v1/devices/${dev.deviceId}/events/${newEventId()}/thumbnail`, jpeg, {
        contentType: 'image/jpeg',
      }),
    );
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'unknown_event']);

    const ok = await post(signed(dev, 'PUT', url, jpeg, { contentType: 'image/jpeg' }));
    expect(ok.body.acks[0]).toMatchObject({ kind: 'thumbnail', status: 'accepted' });
    expect((await db.store.findDeviceThumbnail(dev.deviceId, e.id as string))?.size).toBe(jpeg.length);
    expect(blobFiles()).toHaveLength(1);
    expect((await post(signed(dev, 'PUT', url, jpeg, { contentType: 'image/jpeg' }))).body.acks[0].status).toBe(
      'duplicate',
    );
  });

  it('heartbeats update the device status', async () => {
    const hb = wireHeartbeat(dev.deviceId, { version: '9.9.9' });
    const res = await post(signed(dev, 'POST', `/v1/devices/${dev.deviceId}/heartbeat`, hb));
    expect(res.body.acks[0]).toMatchObject({ kind: 'heartbeat', status: 'accepted' });
    expect((await db.store.getDeviceStatus(dev.deviceId))?.version).toBe('9.9.9');
  });

  it("integers past 2^53 are the sender's fault (400 invalid_message), never a storage failure (fuzz)", async () => {
    for (const rev of [2 ** 53, 2 ** 63, 1e300]) {
      const res = await post(
        signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId, { type: 'update', rev })),
      );
      expect([res.status, res.body.error?.code], `rev ${rev}`).toEqual([400, 'invalid_message']);
    }
    const hb = wireHeartbeat(dev.deviceId, {
      outbox: { depth: 1e300, oldest_pending_age_s: null, dropped: 2 ** 64, in_flight: 0 },
    });
    const res = await post(signed(dev, 'POST', `/v1/devices/${dev.deviceId}/heartbeat`, hb));
    expect([res.status, res.body.error?.code]).toEqual([400, 'invalid_message']);
    const ok = await post(
      signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId, { type: 'update', rev: 2 ** 53 - 1 })),
    );
    expect(ok.status).toBe(200);
  });

  it("a string holding U+0000 is the sender's fault (400 invalid_message), not a storage failure (fuzz)", async () => {
    const e = wireEvent(dev.deviceId, { label: 'per\u0000son' });
    const res = await post(signed(dev, 'POST', eventsUrl(dev.deviceId), e));
    expect([res.status, res.body.error?.code]).toEqual([400, 'invalid_message']);
    expect(res.body.error.message).toMatch(/U\+0000/);
    const hb = await post(
      signed(
        dev,
        'POST',
        `/v1/devices/${dev.deviceId}/heartbeat`,
        wireHeartbeat(dev.deviceId, { version: '1.0\u0000' }),
      ),
    );
    expect([hb.status, hb.body.error?.code]).toEqual([400, 'invalid_message']);
    // An escaped backslash followed by "u0000" is text, not NUL.
    const fine = await post(
      signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId, { note: 'C:\\u0000' })),
    );
    expect(fine.status).toBe(200);
    expect(await countEvents(dev.deviceId)).toBe(1);
  });
});
