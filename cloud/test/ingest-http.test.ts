import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { newEventId } from '../../shared/ids/index.js';
import { signHttpRequest, sha256Hex } from '../../shared/signing/index.js';
import { validateAck } from '../../firmware-protocol/messages.js';
import { ingestConfig } from '../ingest/config.js';
import {
  app,
  dev,
  eventsUrl,
  expectError,
  nowS,
  send,
  sink,
  thumbUrl,
  useHttpIngest,
} from './support-ingest/http-ingest.js';
import { fakeJpeg, signed, thumbnailInfo, wireEvent, wireHeartbeat } from './support-ingest/wire.js';

/**
 * HTTP ingest of good input: events, heartbeats and thumbnails are stored and acked. Bad input and the rate limit:
 * ingest-http-rejections.test.ts.
 */

useHttpIngest();

describe('HTTP event ingest', () => {
  it('stores a signed event and answers with its Ack', async () => {
    const e = wireEvent(dev.deviceId);
    const res = await send(signed(dev, 'POST', eventsUrl(dev.deviceId), e));
    expect(res.status).toBe(200);
    expect(validateAck.check(res.body)).toBe(true);
    expect(res.body.acks).toEqual([{ id: e.id, rev: 0, kind: 'event', status: 'accepted' }]);
    expect(sink.storedFor(dev.deviceId).events).toBe(1);
    expect(sink.published.map((p) => p.type)).toEqual(['event.stored']);
    expect(sink.contacts[0]?.contact.transport).toBe('http');
  });

  it('acks a batch per item: an invalid item is rejected, the others stored (200)', async () => {
    const good1 = wireEvent(dev.deviceId);
    const bad = wireEvent(dev.deviceId, { score: 2 });
    const good2 = wireEvent(dev.deviceId, { camera: 'back' });
    const res = await send(signed(dev, 'POST', eventsUrl(dev.deviceId), { v: 1, events: [good1, bad, good2] }));
    expect(res.status).toBe(200);
    expect(res.body.acks.map((a) => [a.id, a.status, a.code])).toEqual([
      [good1.id, 'accepted', undefined],
      [bad.id, 'rejected', 'invalid_message'],
      [good2.id, 'accepted', undefined],
    ]);
    expect(res.body.acks[1]?.message).toContain('/events/1/score');
    expect(sink.storedFor(dev.deviceId).events).toBe(2);
  });

  it('a batch item whose rev an Ack cannot name (past 2^53-1) fails the request, no schema-breaking Ack', async () => {
    const good = wireEvent(dev.deviceId);
    const bad = wireEvent(dev.deviceId, { type: 'update', rev: 1e300 });
    const res = await send(signed(dev, 'POST', eventsUrl(dev.deviceId), { v: 1, events: [good, bad] }));
    expect(validateAck.check(res.body)).toBe(false);
    expect([res.status, res.body.error?.code]).toEqual([400, 'invalid_message']);
    expect(sink.storedFor(dev.deviceId).events).toBe(0);
  });

  it('a resent event is acked duplicate, stored once; same id+rev, other content is 409 event_conflict', async () => {
    const e = wireEvent(dev.deviceId, { sent_at: new Date().toISOString() });
    expect((await send(signed(dev, 'POST', eventsUrl(dev.deviceId), e))).body.acks[0].status).toBe('accepted');
    // A resend: fresh signature, fresh sent_at (ignored by the fingerprint), keys in another order.
    const resend = Object.fromEntries(
      Object.entries({ ...e, sent_at: new Date(Date.now() + 5000).toISOString() }).reverse(),
    );
    const dup = await send(signed(dev, 'POST', eventsUrl(dev.deviceId), resend));
    expect(dup.status).toBe(200);
    expect(dup.body.acks).toEqual([{ id: e.id, rev: 0, kind: 'event', status: 'duplicate' }]);
    const conflict = await send(signed(dev, 'POST', eventsUrl(dev.deviceId), { ...e, label: 'car' }));
    expectError(conflict, 409, 'event_conflict');
    expect(conflict.body.error.details).toMatchObject({ id: e.id, rev: 0 });
    expect(sink.storedFor(dev.deviceId).events).toBe(1);
    expect([...sink.messages.values()][0]!.event.label).toBe('person');
    expect(sink.published.filter((p) => p.type === 'event.stored')).toHaveLength(1);
  });

  it('stores a newer rev of the same event', async () => {
    const e = wireEvent(dev.deviceId);
    await send(signed(dev, 'POST', eventsUrl(dev.deviceId), e));
    const upd = await send(signed(dev, 'POST', eventsUrl(dev.deviceId), { ...e, type: 'update', rev: 1, score: 0.9 }));
    expect(upd.body.acks[0]).toMatchObject({ rev: 1, status: 'accepted' });
    expect(sink.storedFor(dev.deviceId).events).toBe(2);
  });
});

describe('HTTP heartbeat', () => {
  it('records a heartbeat with the signature skew and acks it by sent_at', async () => {
    const hb = wireHeartbeat(dev.deviceId);
    const res = await send(
      signed(dev, 'POST', `/v1/devices/${dev.deviceId}/heartbeat`, hb, { timestamp: nowS() - 42 }),
    );
    expect(res.status).toBe(200);
    expect(res.body.acks).toEqual([{ id: hb.sent_at, rev: 0, kind: 'heartbeat', status: 'accepted' }]);
    expect(sink.heartbeats).toHaveLength(1);
    expect(sink.heartbeats[0]!.skewS).toBeGreaterThanOrEqual(-44);
    expect(sink.heartbeats[0]!.skewS).toBeLessThanOrEqual(-41);
  });

  it('rejects an invalid heartbeat naming the field', async () => {
    const res = await send(
      signed(dev, 'POST', `/v1/devices/${dev.deviceId}/heartbeat`, wireHeartbeat(dev.deviceId, { uptime_s: -1 })),
    );
    expectError(res, 400, 'invalid_message');
    expect(res.body.error.message).toContain('/uptime_s');
    expect(sink.heartbeats).toHaveLength(0);
  });
});

describe('HTTP thumbnails', () => {
  async function eventWithThumbnail(jpeg: Buffer): Promise<string> {
    const e = wireEvent(dev.deviceId, { thumbnail: thumbnailInfo(jpeg) });
    expect((await send(signed(dev, 'POST', eventsUrl(dev.deviceId), e))).status).toBe(200);
    return e.id as string;
  }
  const putThumb = (eventId: string, jpeg: Buffer, creds = dev) =>
    signed(creds, 'PUT', thumbUrl(creds.deviceId, eventId), jpeg, { contentType: 'image/jpeg' });

  it('stores the thumbnail of a known event, then acks a resend as duplicate', async () => {
    const jpeg = fakeJpeg(5000);
    const id = await eventWithThumbnail(jpeg);
    const res = await send(putThumb(id, jpeg));
    expect(res.status).toBe(200);
    expect(res.body.acks).toEqual([{ id, rev: 0, kind: 'thumbnail', status: 'accepted' }]);
    expect(sink.thumbnails.get(`${dev.deviceId}|${id}`)?.bytes.equals(jpeg)).toBe(true);
    expect((await send(putThumb(id, jpeg))).body.acks[0].status).toBe('duplicate');
    expect(sink.published.filter((p) => p.type === 'thumbnail.stored')).toHaveLength(1);
  });

  it('rejects bytes that do not match the signed checksum, keeping nothing', async () => {
    const jpeg = fakeJpeg(5000);
    const id = await eventWithThumbnail(jpeg);
    const r = putThumb(id, jpeg);
    const corrupted = Buffer.from(jpeg);
    corrupted[2000] = (corrupted[2000]! + 1) % 256;
    // Sent in chunks, so the blob store has written part of it when the mismatch shows at the end.
    async function* chunks() {
      for (let i = 0; i < corrupted.length; i += 1000) {
        await new Promise((res) => setImmediate(res));
        yield corrupted.subarray(i, i + 1000);
      }
    }
    const res = await app.inject({
      method: 'PUT',
      url: r.url,
      headers: { ...r.headers, 'content-length': String(corrupted.length) },
      payload: Readable.from(chunks()),
    });
    expectError({ status: res.statusCode, body: res.json() }, 401, 'body_hash_mismatch');
    expect(sink.thumbnails.size).toBe(0);
    // Checked whole before the sink is called: it never saw a byte of it.
    expect(sink.discardedThumbnailBytes).toBe(0);
  });

  it('rejects a thumbnail other than the one the event announced (409 thumbnail_mismatch)', async () => {
    const id = await eventWithThumbnail(fakeJpeg(5000));
    expectError(await send(putThumb(id, fakeJpeg(5000))), 409, 'thumbnail_mismatch');
    expect(sink.thumbnails.size).toBe(0);
  });

  it('rejects a thumbnail for an event this device never sent (404 unknown_event)', async () => {
    expectError(await send(putThumb(newEventId(), fakeJpeg())), 404, 'unknown_event');
    // Another device's event is unknown too.
    const b = sink.addDevice();
    const e = wireEvent(b.deviceId);
    await send(signed(b, 'POST', eventsUrl(b.deviceId), e));
    expectError(await send(putThumb(e.id as string, fakeJpeg())), 404, 'unknown_event');
    expect(sink.thumbnails.size).toBe(0);
  });

  it('rejects a non-JPEG body, a wrong content type, a too large one, and one under another device', async () => {
    const notJpeg = Buffer.from('GIF89a-and-more-bytes-here');
    const id = await eventWithThumbnail(notJpeg);
    expectError(await send(putThumb(id, notJpeg)), 415, 'unsupported_media_type');
    expectError(
      await send(signed(dev, 'PUT', thumbUrl(dev.deviceId, id), fakeJpeg(), { contentType: 'application/json' })),
      415,
      'unsupported_media_type',
    );
    const big = fakeJpeg(ingestConfig().body_limits.thumbnail_bytes + 1);
    expectError(await send(putThumb(id, big)), 413, 'payload_too_large');
    const b = sink.addDevice();
    expectError(
      await send(signed(b, 'PUT', thumbUrl(dev.deviceId, id), fakeJpeg(), { contentType: 'image/jpeg' })),
      403,
      'device_mismatch',
    );
    expect(sink.thumbnails.size).toBe(0);
  });

  it('checks the upload before the sink sees it: only a verified, decodable JPEG reaches the blob store', async () => {
    const jpeg = fakeJpeg(1_500_000);
    const id = await eventWithThumbnail(jpeg);
    const given: Buffer[] = [];
    const put = sink.putThumbnail.bind(sink);
    sink.putThumbnail = async (deviceId, eventId, stream, expected) => {
      given.push(Buffer.concat(await stream.toArray()));
      return put(deviceId, eventId, Readable.from(given.slice(-1)), expected);
    };
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    const url = thumbUrl(dev.deviceId, id);
    const headers = {
      ...signHttpRequest(dev, 'PUT', url, jpeg),
      'content-type': 'image/jpeg',
      'content-length': String(jpeg.length),
    };
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'PUT', path: url, headers }, (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      // In two parts, the second after a pause: the sink must not be called before the body is complete.
      req.write(jpeg.subarray(0, 64 * 1024));
      setTimeout(() => {
        expect(given).toHaveLength(0);
        req.end(jpeg.subarray(64 * 1024));
      }, 100);
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).acks[0].status).toBe('accepted');
    expect(given).toHaveLength(1);
    expect(given[0]!.equals(jpeg)).toBe(true);
    expect(sink.thumbnails.get(`${dev.deviceId}|${id}`)?.sha256).toBe(sha256Hex(jpeg));
  });
});
