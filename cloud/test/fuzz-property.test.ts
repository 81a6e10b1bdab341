import fc from 'fast-check';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex, signHttpRequest, signMqttMessage, type DeviceCredentials } from '../../shared/signing/index.js';
import { testJpeg } from '../../shared/testing/index.js';
import { isWireErrorCode } from '../../firmware-protocol/errors.js';
import { validateAck, validateErrorBody, type Ack } from '../../firmware-protocol/messages.js';
import { eventsTopic, heartbeatTopic, thumbnailTopic } from '../../firmware-protocol/topics.js';
import { ingestConfig, mqttConfig } from '../ingest/config.js';
import { resolveIngestDeps, type ResolvedIngestDeps } from '../ingest/deps.js';
import { startMqttIngest, type MqttIngest } from '../ingest/mqtt.js';
import { SqlDeadLetters } from '../store/dead-letters.js';
import { postgresBackend, sqliteBackend, type TestDatabase } from './support/backends.js';
import { storeSink, type StoreSinkHarness } from './support-ingest/store-sink.js';
import { TestMqttDevice } from './support-ingest/mqtt-device.js';
import { startAedes, type EmbeddedBroker } from './support-ingest/aedes.js';
import { ingestApp } from './support-ingest/wire.js';
import {
  byteMutation,
  expectedEventsVerdict,
  heartbeatIsAcceptable,
  objectMutation,
  validEvent,
  validHeartbeat,
  type ByteMutation,
  type ObjectMutation,
} from './support-ingest/arbitraries.js';

/**
 * Property-based fuzzing of both ingest paths (fast-check), with real signing, into the real store (SQLite) and blob
 * store: valid and almost-valid Events, EventBatches, Heartbeats and thumbnails generated from the TypeBox schemas,
 * then mutated (wrong types, dropped fields, boundary numbers, impossible dates, huge strings, deep nesting,
 * truncation, bad UTF-8, flipped bytes, wrong hashes). The property, per message:
 *   - the process stays up (no error escapes to the process);
 *   - HTTP answers 200 with a valid Ack or a documented 4xx in the ErrorBody shape, never 5xx (storage is up, so a
 *     5xx or a dead letter would be a bug on our side); MQTT acks only with catalogue codes;
 *   - nothing valid is lost: what the protocol accepts (reference model in support-ingest/arbitraries.ts) is acked
 *     accepted and in the store; nothing else is stored.
 *
 * `npm test` runs a bounded number of cases; `npm run fuzz` many more (VIGIL_FUZZ_RUNS, default there 2000;
 * VIGIL_FUZZ_BACKEND=postgres for the PostgreSQL store).
 * A failure prints the fast-check seed and path: rerun with VIGIL_FUZZ_SEED=<seed>.
 */
const RUNS = Number(process.env.VIGIL_FUZZ_RUNS ?? 100);
const SEED = process.env.VIGIL_FUZZ_SEED === undefined ? undefined : Number(process.env.VIGIL_FUZZ_SEED);
const params = (numRuns: number): fc.Parameters<unknown> => ({
  numRuns: Math.max(1, numRuns),
  ...(SEED !== undefined ? { seed: SEED } : {}),
  endOnFailure: true,
});
const TIMEOUT = 60_000 + RUNS * 400;
/** `sqlite` (default) or `postgres` (VIGIL_FUZZ_BACKEND): storage limits differ (e.g. BIGINT range). */
const BACKEND = process.env.VIGIL_FUZZ_BACKEND === 'postgres' ? postgresBackend : sqliteBackend;

const escaped: unknown[] = [];
const onEscape = (err: unknown): void => void escaped.push(err);

let db: TestDatabase;
let h: StoreSinkHarness;
let deps: ResolvedIngestDeps;
let app: FastifyInstance;
let dev: DeviceCredentials;

beforeAll(async () => {
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
  db = await BACKEND.open();
  h = storeSink(db.store, db.dataDir);
  deps = resolveIngestDeps({
    sink: h.sink,
    config: ingestConfig({ rate_limit: { burst: 1_000_000, per_second: 1_000_000 } }),
    deadLetters: new SqlDeadLetters(db.database),
    probe: () => db.store.ping(),
  });
  app = await ingestApp(deps);
  dev = await h.pair();
});
afterAll(async () => {
  await app?.close();
  await db?.cleanup();
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
});

const DOCUMENTED = new Set([200, 400, 401, 403, 404, 409, 413, 415, 422, 429]);

/** Checks an HTTP answer's shape; returns the parsed body. */
function documented(status: number, text: string, what: string): { acks?: Ack['acks']; error?: { code: string } } {
  expect(DOCUMENTED.has(status), `${what}: status ${status} ${text.slice(0, 300)}`).toBe(true);
  const body = JSON.parse(text) as unknown;
  if (status === 200) expect(validateAck.check(body), `${what}: ${text.slice(0, 300)}`).toBe(true);
  else {
    expect(validateErrorBody.check(body), `${what}: ${text.slice(0, 300)}`).toBe(true);
    expect(isWireErrorCode((body as { error: { code: string } }).error.code), `${what}: ${text.slice(0, 300)}`).toBe(
      true,
    );
  }
  expect(escaped, what).toEqual([]);
  return body as { acks?: Ack['acks']; error?: { code: string } };
}

async function stored(id: unknown): Promise<boolean> {
  return typeof id === 'string' && /^evt_/.test(id) && (await db.store.findDeviceEvent(dev.deviceId, id)) !== undefined;
}

interface EventsCase {
  batch: boolean;
  base: Record<string, unknown>;
  extra: Record<string, unknown>[];
  objectMutation: ObjectMutation | null;
  byteMutation: ByteMutation | null;
  wrongHash: boolean;
}

function eventsCase(): fc.Arbitrary<EventsCase> {
  return fc.record({
    batch: fc.boolean(),
    base: validEvent(dev.deviceId),
    extra: fc.array(validEvent(dev.deviceId), { maxLength: 3 }),
    objectMutation: fc.option(objectMutation(), { freq: 3 }),
    byteMutation: fc.option(byteMutation(), { freq: 5 }),
    wrongHash: fc.boolean().map((b) => b && Math.random() < 0.1),
  });
}

function bodyOf(c: EventsCase): Buffer {
  const first = c.objectMutation ? c.objectMutation.apply(c.base as never) : c.base;
  const value = c.batch ? { v: 1, events: [first, ...c.extra] } : first;
  const bytes = Buffer.from(JSON.stringify(value));
  return c.byteMutation ? c.byteMutation.apply(bytes) : bytes;
}
const describeCase = (c: EventsCase): string =>
  `${c.batch ? 'batch' : 'single'} [${c.objectMutation?.name ?? '-'}] ` +
  `[${c.byteMutation?.name ?? '-'}]${c.wrongHash ? ' [wrong hash]' : ''}`;

describe(`ingest fuzz on ${BACKEND.name}, HTTP (${RUNS} runs per property)`, () => {
  it('events and batches: documented answers, valid ones stored, nothing else', { timeout: TIMEOUT }, async () => {
    await fc.assert(
      fc.asyncProperty(eventsCase(), async (c) => {
        const body = bodyOf(c);
        const url = `/v1/devices/${dev.deviceId}/events`;
        const headers = {
          ...signHttpRequest(dev, 'POST', url, c.wrongHash ? Buffer.concat([body, Buffer.from(' ')]) : body),
          'content-type': 'application/json',
        };
        const res = await app.inject({ method: 'POST', url, headers, payload: body });
        const what = describeCase(c);
        const answer = documented(res.statusCode, res.body, what);
        const verdict = c.wrongHash
          ? { refused: true, items: [] as { id: unknown; acceptable: boolean }[] }
          : expectedEventsVerdict(body, dev.deviceId);
        if (verdict.refused) {
          expect(res.statusCode, `${what}: ${res.body.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
          for (const e of [c.base, ...c.extra])
            expect(await stored(e.id), `${what}: ${String(e.id)} stored`).toBe(false);
          return;
        }
        expect(res.statusCode, `${what}: ${res.body.slice(0, 300)}`).toBe(200);
        for (const item of verdict.items) {
          const acked = answer.acks!.find((a) => a.id === item.id);
          if (item.acceptable) {
            expect(acked?.status, `${what}: ${String(item.id)}`).toBe('accepted');
            expect(await stored(item.id), `${what}: ${String(item.id)} lost`).toBe(true);
          } else {
            expect(acked?.status, `${what}: ${String(item.id)}`).toBe('rejected');
          }
        }
      }),
      params(RUNS),
    );
  });

  it('heartbeats: documented answers; only valid ones acked', { timeout: TIMEOUT }, async () => {
    await fc.assert(
      fc.asyncProperty(
        validHeartbeat(dev.deviceId),
        fc.option(objectMutation(), { freq: 2 }),
        fc.option(byteMutation(), { freq: 3 }),
        async (hb, om, bm) => {
          let body: Buffer = Buffer.from(JSON.stringify(om ? om.apply(hb as never) : hb));
          if (bm) body = bm.apply(body);
          const url = `/v1/devices/${dev.deviceId}/heartbeat`;
          const res = await app.inject({
            method: 'POST',
            url,
            headers: { ...signHttpRequest(dev, 'POST', url, body), 'content-type': 'application/json' },
            payload: body,
          });
          const what = `heartbeat [${om?.name ?? '-'}] [${bm?.name ?? '-'}]`;
          documented(res.statusCode, res.body, what);
          expect(res.statusCode === 200, `${what}: ${res.body.slice(0, 300)}`).toBe(
            heartbeatIsAcceptable(body, dev.deviceId),
          );
        },
      ),
      params(Math.ceil(RUNS / 2)),
    );
  });

  it('thumbnails: only the announced, decodable JPEG is stored', { timeout: TIMEOUT }, async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 1, g: 1, b: 1 } } })
      .png()
      .toBuffer();
    const variants = [
      'same',
      'png',
      'random',
      'truncated',
      'flipped, signed as announced',
      'junk after SOI',
      'empty',
    ] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 300, max: 300_000 }),
        fc.integer(),
        fc.constantFrom(...variants),
        async (size, seed, variant) => {
          const jpeg = testJpeg(size, seed);
          const eventsUrl = `/v1/devices/${dev.deviceId}/events`;
          const e: Record<string, unknown> = {
            ...(fc.sample(validEvent(dev.deviceId), 1)[0] as Record<string, unknown>),
            thumbnail: { sha256: sha256Hex(jpeg), size: jpeg.length, width: 8, height: 8, content_type: 'image/jpeg' },
          };
          const ev = Buffer.from(JSON.stringify(e));
          const r = await app.inject({
            method: 'POST',
            url: eventsUrl,
            headers: { ...signHttpRequest(dev, 'POST', eventsUrl, ev), 'content-type': 'application/json' },
            payload: ev,
          });
          if (r.statusCode !== 200) return; // an event over its size limit: nothing to attach a thumbnail to
          let body: Buffer = jpeg;
          let signedAs: Buffer = jpeg;
          if (variant === 'png') signedAs = body = png;
          if (variant === 'random')
            signedAs = body = Buffer.from(fc.sample(fc.uint8Array({ minLength: 1, maxLength: 5000 }), 1)[0]!);
          if (variant === 'truncated') signedAs = body = jpeg.subarray(0, jpeg.length - 5);
          if (variant === 'junk after SOI')
            signedAs = body = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(size, 7)]);
          if (variant === 'empty') signedAs = body = Buffer.alloc(0);
          if (variant === 'flipped, signed as announced') {
            body = Buffer.from(jpeg);
            body[body.length >> 1] = body[body.length >> 1]! ^ 0x55;
          }
          const url = `/v1/devices/${dev.deviceId}/events/${e.id as string}/thumbnail`;
          const res = await app.inject({
            method: 'PUT',
            url,
            headers: { ...signHttpRequest(dev, 'PUT', url, signedAs), 'content-type': 'image/jpeg' },
            payload: body,
          });
          const what = `thumbnail ${variant} (${size} bytes)`;
          documented(res.statusCode, res.body, what);
          expect(res.statusCode === 200, `${what}: ${res.body.slice(0, 300)}`).toBe(variant === 'same');
          expect((await db.store.findDeviceThumbnail(dev.deviceId, e.id as string)) !== undefined, what).toBe(
            variant === 'same',
          );
        },
      ),
      params(Math.ceil(RUNS / 2)),
    );
  });
});

describe(`ingest fuzz, MQTT (${Math.ceil(RUNS / 2)} runs)`, () => {
  let broker: EmbeddedBroker | undefined;
  let ingest: MqttIngest;
  let box: TestMqttDevice;

  beforeAll(async () => {
    broker = await startAedes();
    const url = broker.url;
    // One message at a time: once a marker sent after a case is acked, the case was handled.
    ingest = startMqttIngest({
      ...deps,
      mqtt: mqttConfig({
        url,
        client_id: 'fuzz',
        shared_group: 'fuzz',
        protocol_version: 4,
        max_in_flight: 1,
        reconnect_ms: 200,
      }),
    });
    await ingest.ready;
    box = await TestMqttDevice.connect(url, dev, { protocolVersion: 4 });
  });
  afterAll(async () => {
    await box?.close();
    await ingest?.close();
    await broker?.close();
  });

  it('events, batches and heartbeats: acks name only catalogue codes, valid events are stored, nothing else', {
    timeout: TIMEOUT,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(eventsCase(), fc.boolean(), async (c, heartbeat) => {
        const before = box.acks.length;
        const topic = heartbeat ? heartbeatTopic(dev.deviceId) : eventsTopic(dev.deviceId);
        const body = heartbeat ? Buffer.from(JSON.stringify(fc.sample(validHeartbeat(dev.deviceId), 1)[0])) : bodyOf(c);
        const env = signMqttMessage(dev, topic, c.wrongHash ? Buffer.concat([body, Buffer.from(' ')]) : body);
        await box.publishRaw(topic, JSON.stringify({ ...env, body_b64: body.toString('base64') }));
        const marker = fc.sample(validEvent(dev.deviceId), 1)[0]!;
        await box.publishEvents(marker);
        await box.waitForAck((a) => a.acks.some((i) => i.id === marker.id), 15_000);
        const what = heartbeat ? 'heartbeat' : describeCase(c);
        expect(escaped, what).toEqual([]);
        const items = box.acks
          .slice(before)
          .flatMap((a) => a.acks)
          .filter((i) => i.id !== marker.id);
        for (const i of items)
          if (i.status === 'rejected')
            expect(isWireErrorCode(i.code ?? ''), `${what}: ${JSON.stringify(i)}`).toBe(true);
        if (heartbeat || c.wrongHash) return;
        const verdict = expectedEventsVerdict(body, dev.deviceId);
        for (const e of [c.base, ...c.extra]) {
          const acceptable = !verdict.refused && verdict.items.some((i) => i.id === e.id && i.acceptable);
          expect(await stored(e.id), `${what}: ${String(e.id)} stored=${String(!acceptable)}`).toBe(acceptable);
          if (acceptable) expect(items.find((i) => i.id === e.id)?.status, what).toBe('accepted');
        }
      }),
      params(Math.ceil(RUNS / 2)),
    );
  });

  it('thumbnails: refused ones are acked rejected, none stored', { timeout: TIMEOUT }, async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 1, g: 1, b: 1 } } })
      .png()
      .toBuffer();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('same', 'png', 'random', 'truncated'), fc.integer(), async (variant, seed) => {
        const jpeg = testJpeg(2000, seed);
        const e: Record<string, unknown> = {
          ...fc.sample(validEvent(dev.deviceId), 1)[0]!,
          thumbnail: { sha256: sha256Hex(jpeg), size: jpeg.length, width: 8, height: 8, content_type: 'image/jpeg' },
        };
        if (Buffer.byteLength(JSON.stringify(e)) > 16 * 1024) return;
        await box.publishEvents(e);
        const announced = await box.waitForAck((a) => a.acks.some((i) => i.id === e.id), 15_000);
        if (announced.acks.find((i) => i.id === e.id)?.status !== 'accepted') return; // nothing to attach it to
        const body =
          variant === 'same'
            ? jpeg
            : variant === 'png'
              ? png
              : variant === 'truncated'
                ? jpeg.subarray(0, 1000)
                : Buffer.from(fc.sample(fc.uint8Array({ minLength: 1, maxLength: 3000 }), 1)[0]!);
        const before = box.acks.length;
        await box.publishRaw(
          thumbnailTopic(dev.deviceId, e.id as string),
          JSON.stringify(signMqttMessage(dev, thumbnailTopic(dev.deviceId, e.id as string), body)),
        );
        const ack = await box.waitForAck(
          (a) => box.acks.indexOf(a) >= before && a.acks.some((i) => i.kind === 'thumbnail' && i.id === e.id),
          15_000,
        );
        const item = ack.acks.find((i) => i.kind === 'thumbnail' && i.id === e.id)!;
        expect(item.status, `${variant}: ${JSON.stringify(item)}`).toBe(variant === 'same' ? 'accepted' : 'rejected');
        if (item.status === 'rejected') expect(isWireErrorCode(item.code ?? '')).toBe(true);
        expect((await db.store.findDeviceThumbnail(dev.deviceId, e.id as string)) !== undefined).toBe(
          variant === 'same',
        );
        expect(escaped).toEqual([]);
      }),
      params(Math.ceil(RUNS / 4)),
    );
  });
});
