import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import { newDeviceId } from '../../shared/ids/index.js';
import type { DeviceCredentials } from '../../shared/signing/index.js';
import { ingestConfig } from '../ingest/config.js';
import {
  app,
  dev,
  eventsUrl,
  expectError,
  nowS,
  reopenHttpIngest,
  send,
  sink,
  useHttpIngest,
} from './support-ingest/http-ingest.js';
import { fakeJpeg, signed, wireEvent } from './support-ingest/wire.js';

/**
 * HTTP ingest refuses bad input — malformed bodies, bad signatures, stale or replayed requests, wrong devices, over the
 * rate limit — each with its own wire error, and stores nothing for it.
 */

useHttpIngest();

describe('HTTP ingest rejects bad input with its own code and stores nothing', () => {
  const other = (): DeviceCredentials => sink.addDevice();
  type Case = {
    name: string;
    status: number;
    code: string;
    make: () => ReturnType<typeof signed> | Promise<ReturnType<typeof signed>>;
  };
  const cases: Case[] = [
    {
      name: 'malformed JSON',
      status: 400,
      code: 'invalid_json',
      make: () => signed(dev, 'POST', eventsUrl(dev.deviceId), Buffer.from('{"v":1,"id":')),
    },
    {
      name: 'invalid UTF-8',
      status: 400,
      code: 'invalid_json',
      make: () => signed(dev, 'POST', eventsUrl(dev.deviceId), Buffer.from([0x7b, 0xff, 0xfe, 0x7d])),
    },
    {
      name: 'empty body',
      status: 400,
      code: 'invalid_json',
      make: () => signed(dev, 'POST', eventsUrl(dev.deviceId), Buffer.alloc(0)),
    },
    {
      name: 'schema violation',
      status: 400,
      code: 'invalid_message',
      make: () => signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId, { score: 1.5 })),
    },
    {
      name: 'box rule violation',
      status: 400,
      code: 'invalid_message',
      make: () => signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId, { box: [0.5, 0.1, 0.2, 0.8] })),
    },
    {
      name: 'unsupported version',
      status: 400,
      code: 'unsupported_version',
      make: () => signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId, { v: 2 })),
    },
    {
      name: 'batch wrapper invalid',
      status: 400,
      code: 'invalid_message',
      make: () => signed(dev, 'POST', eventsUrl(dev.deviceId), { v: 1, events: [] }),
    },
    {
      name: 'batch item without id',
      status: 400,
      code: 'invalid_message',
      make: () =>
        signed(dev, 'POST', eventsUrl(dev.deviceId), {
          v: 1,
          events: [wireEvent(dev.deviceId), { ...wireEvent(dev.deviceId), id: 'nope' }],
        }),
    },
    {
      name: 'missing signature headers',
      status: 401,
      code: 'signature_missing',
      make: () => {
        const r = signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId));
        delete r.headers['X-Vigil-Signature'];
        delete r.headers['X-Vigil-Nonce'];
        return r;
      },
    },
    {
      name: 'malformed signature header',
      status: 401,
      code: 'signature_malformed',
      make: () => {
        const r = signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId));
        r.headers['X-Vigil-Signature'] = 'v2=abc';
        return r;
      },
    },
    {
      name: 'wrong key',
      status: 401,
      code: 'signature_mismatch',
      make: () =>
        signed({ ...dev, secret: Buffer.alloc(32, 7) }, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId)),
    },
    {
      name: 'body altered after signing',
      status: 401,
      code: 'body_hash_mismatch',
      make: () => {
        const r = signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId));
        r.payload = Buffer.from(r.payload.toString().replace('person', 'dog'));
        return r;
      },
    },
    {
      name: 'expired timestamp',
      status: 401,
      code: 'timestamp_out_of_tolerance',
      make: () => signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId), { timestamp: nowS() - 301 }),
    },
    {
      name: 'future timestamp',
      status: 401,
      code: 'timestamp_out_of_tolerance',
      make: () => signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId), { timestamp: nowS() + 400 }),
    },
    {
      name: 'oversized body',
      status: 413,
      code: 'payload_too_large',
      make: () =>
        signed(dev, 'POST', eventsUrl(dev.deviceId), {
          v: 1,
          events: [wireEvent(dev.deviceId, { pad: 'x'.repeat(ingestConfig().body_limits.events_bytes) })],
        }),
    },
    {
      name: 'wrong content type',
      status: 415,
      code: 'unsupported_media_type',
      make: () => signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId), { contentType: 'text/plain' }),
    },
    {
      name: 'JPEG to the events endpoint',
      status: 415,
      code: 'unsupported_media_type',
      make: () => signed(dev, 'POST', eventsUrl(dev.deviceId), fakeJpeg(), { contentType: 'image/jpeg' }),
    },
    {
      name: 'writing under another device id',
      status: 403,
      code: 'device_mismatch',
      make: () => {
        const victim = other();
        return signed(dev, 'POST', eventsUrl(victim.deviceId), wireEvent(victim.deviceId));
      },
    },
    {
      name: 'event naming another device',
      status: 403,
      code: 'device_mismatch',
      make: () => signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(other().deviceId)),
    },
    {
      name: 'unknown device',
      status: 401,
      code: 'unknown_device',
      make: () => {
        const ghost = { ...dev, deviceId: newDeviceId() };
        return signed(ghost, 'POST', eventsUrl(ghost.deviceId), wireEvent(ghost.deviceId));
      },
    },
    {
      name: 'revoked device',
      status: 401,
      code: 'unknown_device',
      make: () => {
        sink.revoke(dev.deviceId);
        return signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId));
      },
    },
  ];

  it.each(cases)('$name → $status $code', async (c) => {
    const res = await send(await c.make());
    expectError(res, c.status, c.code);
    for (const d of sink.devices.keys()) expect(sink.storedFor(d)).toEqual({ events: 0, thumbnails: 0, heartbeats: 0 });
    expect(sink.published).toEqual([]);
    expect(sink.storeCalls).toBe(0);
  });

  it('a stale timestamp answer carries the Date header and the skew details (real HTTP)', async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    const r = signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId), { timestamp: nowS() - 1000 });
    const res = await request(`http://127.0.0.1:${port}${r.url}`, {
      method: 'POST',
      headers: r.headers,
      body: r.payload,
    });
    const body = (await res.body.json()) as {
      error: { code: string; details: { server_time: number; skew_s: number } };
    };
    expect(res.statusCode).toBe(401);
    expect(body.error.code).toBe('timestamp_out_of_tolerance');
    const date = Date.parse(String(res.headers.date));
    expect(Math.abs(date - Date.now())).toBeLessThan(5_000);
    expect(body.error.details).toMatchObject({ reason: 'expired' });
    expect(Math.abs(body.error.details.server_time - nowS())).toBeLessThanOrEqual(5);
    expect(body.error.details.skew_s).toBeLessThanOrEqual(-995);
  });

  it('a replayed request is rejected nonce_replayed and not stored again', async () => {
    const r = signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId));
    expect((await send(r)).status).toBe(200);
    expectError(await send(r), 401, 'nonce_replayed');
    expect(sink.storedFor(dev.deviceId).events).toBe(1);
    expect(sink.storeCalls).toBe(1);
  });

  it('a request with a bad signature does not burn its nonce', async () => {
    const e = wireEvent(dev.deviceId);
    const nonce = 'fixed-nonce-0001';
    expectError(
      await send(signed({ ...dev, secret: Buffer.alloc(32, 1) }, 'POST', eventsUrl(dev.deviceId), e, { nonce })),
      401,
      'signature_mismatch',
    );
    expect((await send(signed(dev, 'POST', eventsUrl(dev.deviceId), e, { nonce }))).status).toBe(200);
  });

  it('accepts exactly the tolerance and rejects one second more', async () => {
    expect(
      (await send(signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId), { timestamp: nowS() + 299 })))
        .status,
    ).toBe(200);
    expectError(
      await send(signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId), { timestamp: nowS() - 302 })),
      401,
      'timestamp_out_of_tolerance',
    );
  });
});

describe('per-device rate limit', () => {
  it('answers 429 rate_limited with Retry-After once the bucket is empty; forged traffic cannot drain it', async () => {
    await reopenHttpIngest(ingestConfig({ rate_limit: { per_second: 0.01, burst: 2 } }));
    // Forged requests naming the device: rejected, take nothing from its budget.
    for (let i = 0; i < 5; i++) {
      expectError(
        await send(
          signed({ ...dev, secret: Buffer.alloc(32, 9) }, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId)),
        ),
        401,
        'signature_mismatch',
      );
    }
    expect((await send(signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId)))).status).toBe(200);
    expect((await send(signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId)))).status).toBe(200);
    const limited = await send(signed(dev, 'POST', eventsUrl(dev.deviceId), wireEvent(dev.deviceId)));
    expectError(limited, 429, 'rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(sink.storedFor(dev.deviceId).events).toBe(2);
    // Another device has its own bucket.
    const b = sink.addDevice();
    expect((await send(signed(b, 'POST', eventsUrl(b.deviceId), wireEvent(b.deviceId)))).status).toBe(200);
  });
});
