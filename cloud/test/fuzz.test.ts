import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateEvent } from '../../firmware-protocol/messages.js';
import { ingestConfig } from '../ingest/config.js';
import type { DeviceCredentials } from '../../shared/signing/index.js';
import { FIELDS } from './support-ingest/arbitraries.js';
import { MemorySink } from './support-ingest/memory-sink.js';
import { fakeJpeg, ingestApp, signed, thumbnailInfo, wireEvent } from './support-ingest/wire.js';

/**
 * Property-style fuzzing of HTTP ingest with a seeded generator (failures name the seed and iteration):
 * random bodies and random header mutations of signed requests never get a 2xx or a 5xx and never store anything;
 * random field values in correctly signed events get 200 or 4xx, never 5xx, and only valid events are stored.
 */

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.VIGIL_FUZZ_SEED ?? 20260101);
const rnd = mulberry32(SEED);
const int = (n: number): number => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const randomBytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
const randomString = (n: number): string => Array.from({ length: n }, () => String.fromCharCode(32 + int(95))).join('');

function randomJson(depth = 0): unknown {
  const k = int(depth > 2 ? 5 : 7);
  switch (k) {
    case 0:
      return null;
    case 1:
      return rnd() < 0.5;
    case 2:
      return pick([0, -1, 1e308, 0.5, 2 ** 53, -0.0001, 42]);
    case 3:
      return randomString(int(20));
    case 4:
      return pick(['evt_01JGZ60B4W2Y8T6R5Q3P1N9M7K', 'new', 'end', '2026-01-01T00:00:00Z', 'person', '']);
    case 5:
      return Array.from({ length: int(4) }, () => randomJson(depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: int(5) }, () => [
          pick(['v', 'id', 'rev', 'events', 'type', randomString(4)]),
          randomJson(depth + 1),
        ]),
      );
  }
}

function flipChar(s: string): string {
  if (s.length === 0) return 'x';
  const i = int(s.length);
  const c = s.charCodeAt(i);
  return s.slice(0, i) + String.fromCharCode(c === 65 ? 66 : 65) + s.slice(i + 1);
}

let sink: MemorySink;
let dev: DeviceCredentials;
let other: DeviceCredentials;
let app: FastifyInstance;
let knownEventId: string;
let knownJpeg: Buffer;

beforeAll(async () => {
  sink = new MemorySink();
  dev = sink.addDevice();
  other = sink.addDevice();
  app = await ingestApp({ sink, config: ingestConfig({ rate_limit: { burst: 100_000 } }) });
  knownJpeg = fakeJpeg(3000);
  const e = wireEvent(dev.deviceId, { thumbnail: thumbnailInfo(knownJpeg) });
  knownEventId = e.id as string;
  const r = signed(dev, 'POST', `/v1/devices/${dev.deviceId}/events`, e);
  const res = await app.inject({ method: 'POST', url: r.url, headers: r.headers, payload: r.payload });
  expect(res.statusCode).toBe(200);
});
afterAll(async () => {
  await app.close();
});

type Req = ReturnType<typeof signed>;
const SIGNED_HEADERS = [
  'X-Vigil-Device',
  'X-Vigil-Timestamp',
  'X-Vigil-Nonce',
  'X-Vigil-Content-SHA256',
  'X-Vigil-Signature',
] as const;

/** Each mutation alone makes the request unacceptable. (X-Vigil-Key-Id is not signed by design: key rotation.) */
const mutations: { name: string; apply: (r: Req) => void }[] = [
  { name: 'random body, original headers', apply: (r) => (r.payload = randomBytes(1 + int(300))) },
  {
    name: 'flip one body byte',
    apply: (r) => {
      const b = Buffer.from(r.payload);
      const i = int(b.length);
      b[i] = (b[i]! + 1 + int(255)) % 256;
      r.payload = b;
    },
  },
  { name: 'delete a signed header', apply: (r) => delete r.headers[pick(SIGNED_HEADERS)] },
  {
    name: 'flip a char of a signed header',
    apply: (r) => {
      const h = pick(SIGNED_HEADERS);
      r.headers[h] = flipChar(r.headers[h] ?? '');
    },
  },
  { name: 'random signed header value', apply: (r) => (r.headers[pick(SIGNED_HEADERS)] = randomString(int(70))) },
  {
    name: 'wrong content type',
    apply: (r) =>
      (r.headers['content-type'] = pick([
        'text/plain',
        'application/xml',
        'multipart/form-data; boundary=x',
        randomString(10).replace(/[^a-z]/gi, 'a') + '/x',
      ])),
  },
  { name: 'another device in the path', apply: (r) => (r.url = r.url.replace(dev.deviceId, other.deviceId)) },
  { name: 'query string added', apply: (r) => (r.url += `?x=${int(1000)}`) },
];

describe(`HTTP ingest fuzz (seed ${SEED})`, () => {
  it('random byte bodies, correctly signed, are 4xx and store nothing', async () => {
    const before = sink.messages.size;
    for (let i = 0; i < 150; i++) {
      const body = rnd() < 0.5 ? randomBytes(int(400)) : Buffer.from(JSON.stringify(randomJson()));
      const kind = pick(['events', 'heartbeat', 'results'] as const);
      const r = signed(dev, 'POST', `/v1/devices/${dev.deviceId}/${kind}`, body);
      const res = await app.inject({ method: 'POST', url: r.url, headers: r.headers, payload: r.payload });
      expect(res.statusCode, `seed ${SEED} iteration ${i}: ${res.body}`).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, `seed ${SEED} iteration ${i}: ${res.body}`).toBeLessThan(500);
    }
    expect(sink.messages.size).toBe(before);
    expect(sink.heartbeats).toHaveLength(0);
  });

  it('random mutations of signed requests are never 2xx or 5xx and store nothing', async () => {
    const before = sink.messages.size;
    for (let i = 0; i < 300; i++) {
      const thumb = rnd() < 0.3;
      const r = thumb
        ? signed(dev, 'PUT', `/v1/devices/${dev.deviceId}/events/${knownEventId}/thumbnail`, knownJpeg, {
            contentType: 'image/jpeg',
          })
        : signed(dev, 'POST', `/v1/devices/${dev.deviceId}/events`, wireEvent(dev.deviceId));
      const applied = Array.from({ length: 1 + int(3) }, () => pick(mutations));
      for (const m of applied) m.apply(r);
      const res = await app.inject({ method: r.method as 'POST', url: r.url, headers: r.headers, payload: r.payload });
      const what = `seed ${SEED} iteration ${i} [${applied.map((m) => m.name).join(', ')}]: ${res.body.slice(0, 200)}`;
      expect(res.statusCode, what).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, what).toBeLessThan(500);
    }
    expect(sink.messages.size).toBe(before);
    expect(sink.thumbnails.size).toBe(0);
  });

  it('random field values in signed events get 200 or 4xx, never 5xx, and only valid events are stored', async () => {
    // The event's own fields (not sent_at nor the derived ones), in FIELDS's order, and one it does not know.
    const own = (f: string) => !['sent_at', 'top_score', 'duration_s'].includes(f);
    const fields = [...FIELDS.filter(own), 'extra'];
    for (let i = 0; i < 150; i++) {
      const e: Record<string, unknown> = { ...wireEvent(dev.deviceId) };
      for (let j = 0; j <= int(2); j++) {
        const f = pick(fields);
        if (rnd() < 0.2) delete e[f];
        else e[f] = randomJson();
      }
      const body = rnd() < 0.3 ? { v: 1, events: [e, wireEvent(dev.deviceId)] } : e;
      const r = signed(dev, 'POST', `/v1/devices/${dev.deviceId}/events`, body);
      const res = await app.inject({ method: 'POST', url: r.url, headers: r.headers, payload: r.payload });
      expect(res.statusCode, `seed ${SEED} iteration ${i}: ${res.body.slice(0, 300)}`).toBeLessThan(500);
      expect([200, 400, 403, 409]).toContain(res.statusCode);
    }
    for (const m of sink.messages.values()) expect(validateEvent.check(m.event)).toBe(true);
  });
});
