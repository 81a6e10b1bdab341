import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex, signMqttMessage, type DeviceCredentials } from '../../shared/signing/index.js';
import { LIMITS } from '../../firmware-protocol/limits.js';
import type { Ack } from '../../firmware-protocol/messages.js';
import { eventsTopic, heartbeatTopic, resultsTopic, thumbnailTopic } from '../../firmware-protocol/topics.js';
import { ingestConfig, mqttConfig } from '../ingest/config.js';
import { IngestMetrics } from '../ingest/metrics.js';
import { startMqttIngest, type MqttIngest } from '../ingest/mqtt.js';
import { MemorySink } from './support-ingest/memory-sink.js';
import { TestMqttDevice } from './support-ingest/mqtt-device.js';
import { startAedes, type EmbeddedBroker } from './support-ingest/aedes.js';
import { ingestApp, type IngestReply, signed, wireEvent, wireHeartbeat, wireReview } from './support-ingest/wire.js';
import { newEventId, ulid } from '../../shared/ids/index.js';

/**
 * Every limit of PROTOCOL.md §4 (firmware-protocol/limits.ts), one by one, at ingest over HTTP and over MQTT, with the
 * documented answer: HTTP status + wire code; over MQTT an ack `rejected` with the same code, or (noted per limit)
 * no ack / an empty clock ack. Just over each limit is refused; at the limit is accepted where a message can be
 * built there. MQTT runs through an embedded broker (aedes, in-process) whose shared subscriptions are plain ones.
 */
type Kind = 'events' | 'heartbeat' | 'thumbnail' | 'results';
interface Msg {
  kind: Kind;
  body: Buffer;
  /** For thumbnails: the event announcing it is sent first. */
  eventId?: string;
  /** Signing timestamp override (clock limit). */
  timestamp?: number;
}
interface LimitCase {
  limit: keyof typeof LIMITS;
  over: (d: DeviceCredentials) => Promise<Msg> | Msg;
  at?: (d: DeviceCredentials) => Promise<Msg> | Msg;
  http: [number, string];
  /** MQTT outcome: a rejected ack with this code, or the empty ack that carries server_time. */
  mqtt: { rejected: string } | 'empty_ack';
}

const ev = (d: DeviceCredentials, o: Record<string, unknown> = {}): Msg => ({
  kind: 'events',
  body: Buffer.from(JSON.stringify(wireEvent(d.deviceId, o))),
});
const rv = (d: DeviceCredentials, o: Record<string, unknown> = {}): Msg => ({
  kind: 'events',
  body: Buffer.from(JSON.stringify(wireReview(d.deviceId, o))),
});
const eventIds = (n: number): string[] => Array.from({ length: n }, () => newEventId());
const hb = (d: DeviceCredentials, o: Record<string, unknown> = {}): Msg => ({
  kind: 'heartbeat',
  body: Buffer.from(JSON.stringify(wireHeartbeat(d.deviceId, o))),
});
const camera = (name: string) => ({ name, state: 'running', fps: 5, last_frame_age_s: 0.1, restarts: 0 });
/** A CommandResult padded (inside `result`) to exactly `bytes` bytes of JSON. */
function resultOfSize(d: DeviceCredentials, bytes: number): Msg {
  const r = {
    v: 1,
    kind: 'command_result',
    command_id: `cmd_${ulid()}`,
    device_id: d.deviceId,
    command_kind: 'status',
    status: 'done',
    result: { pad: '' },
    finished_at: new Date().toISOString(),
  };
  const pad = 'p'.repeat(bytes - Buffer.byteLength(JSON.stringify(r)));
  return { kind: 'results', body: Buffer.from(JSON.stringify({ ...r, result: { pad } })) };
}
/** An event padded with an unknown field to exactly `bytes` bytes of JSON. */
function eventOfSize(d: DeviceCredentials, bytes: number): Record<string, unknown> {
  const e = wireEvent(d.deviceId, { pad: '' });
  return { ...e, pad: 'p'.repeat(bytes - Buffer.byteLength(JSON.stringify(e))) };
}
const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
async function jpeg(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 9, g: 99, b: 199 } } })
    .jpeg({ quality: 40 })
    .toBuffer();
}
const thumb = (body: Buffer): Msg => ({ kind: 'thumbnail', body, eventId: '' });

const CASES: LimitCase[] = [
  {
    limit: 'CAMERA_NAME_MAX',
    over: (d) => ev(d, { camera: 'c'.repeat(65) }),
    at: (d) => ev(d, { camera: 'c'.repeat(64) }),
    http: [400, 'invalid_message'],
    mqtt: { rejected: 'invalid_message' },
  },
  {
    limit: 'LABEL_MAX',
    over: (d) => ev(d, { label: 'l'.repeat(65) }),
    at: (d) => ev(d, { label: 'l'.repeat(64) }),
    http: [400, 'invalid_message'],
    mqtt: { rejected: 'invalid_message' },
  },
  {
    limit: 'DEVICE_ID_MAX',
    over: (d) => ev(d, { device_id: `dev_${'A'.repeat(61)}` }),
    http: [400, 'invalid_message'],
    mqtt: { rejected: 'invalid_message' },
  },
  {
    limit: 'ZONE_NAME_MAX',
    over: (d) => ev(d, { zones: ['z'.repeat(65)] }),
    at: (d) => ev(d, { zones: ['z'.repeat(64)] }),
    http: [400, 'invalid_message'],
    mqtt: { rejected: 'invalid_message' },
  },
  {
    limit: 'ZONES_MAX',
    over: (d) => ev(d, { zones: Array.from({ length: 17 }, (_, i) => `z${i}`) }),
    at: (d) => ev(d, { zones: Array.from({ length: 16 }, (_, i) => `z${i}`) }),
    http: [400, 'invalid_message'],
    mqtt: { rejected: 'invalid_message' },
  },
  {
    limit: 'ATTRIBUTES_MAX',
    over: (d) => ev(d, { attributes: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`a${i}`, i])) }),
    at: (d) => ev(d, { attributes: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`a${i}`, i])) }),
    http: [400, 'invalid_message'],
    mqtt: { rejected: 'invalid_message' },
  },
  {
    limit: 'ATTRIBUTE_KEY_MAX',
    over: (d) => ev(d, { attributes: { ['k'.repeat(65)]: 1 } }),
    at: (d) => ev(d, { attributes: { ['k'.repeat(64)]: 1 } }),
    http: [400, 'invalid_message'],
    mqtt: { rejected: 'invalid_message' },
  },
  {
    limit: 'ATTRIBUTE_VALUE_MAX',
    over: (d) => ev(d, { attributes: { color: 'v'.repeat(257) } }),
    at: (d) => ev(d, { attributes: { color: 'v'.repeat(256) } }),
    http: [400, 'invalid_message'],
    mqtt: { rejected: 'invalid_message' },
  },
  {
    limit: 'REVIEW_OBJECTS_MAX',
    over: (d) => rv(d, { objects: eventIds(LIMITS.REVIEW_OBJECTS_MAX + 1) }),
    at: (d) => rv(d, { objects: eventIds(LIMITS.REVIEW_OBJECTS_MAX) }),
    http: [400, 'invalid_message'],
    mqtt: { rejected: 'invalid_message' },
  },
  {
    limit: 'HEARTBEAT_CAMERAS_MAX',
    over: (d) => hb(d, { cameras: Array.from({ length: 65 }, (_, i) => camera(`c${i}`)) }),
    at: (d) => hb(d, { cameras: Array.from({ length: 64 }, (_, i) => camera(`c${i}`)) }),
    http: [400, 'invalid_message'],
    mqtt: { rejected: 'invalid_message' },
  },
  {
    limit: 'EVENT_MAX_BYTES',
    over: (d) => ({ kind: 'events', body: Buffer.from(JSON.stringify(eventOfSize(d, LIMITS.EVENT_MAX_BYTES + 1))) }),
    at: (d) => ({ kind: 'events', body: Buffer.from(JSON.stringify(eventOfSize(d, LIMITS.EVENT_MAX_BYTES))) }),
    http: [413, 'payload_too_large'],
    mqtt: { rejected: 'payload_too_large' },
  },
  {
    limit: 'BATCH_MAX_EVENTS',
    over: (d) => ({
      kind: 'events',
      body: Buffer.from(JSON.stringify({ v: 1, events: Array.from({ length: 101 }, () => wireEvent(d.deviceId)) })),
    }),
    at: (d) => ({
      kind: 'events',
      body: Buffer.from(JSON.stringify({ v: 1, events: Array.from({ length: 100 }, () => wireEvent(d.deviceId)) })),
    }),
    http: [400, 'invalid_message'],
    mqtt: { rejected: 'invalid_message' },
  },
  {
    limit: 'BATCH_MAX_BYTES',
    over: (d) => ({
      kind: 'events',
      body: Buffer.from(JSON.stringify({ v: 1, events: Array.from({ length: 40 }, () => eventOfSize(d, 13_200)) })),
    }),
    http: [413, 'payload_too_large'],
    mqtt: { rejected: 'payload_too_large' },
  },
  {
    limit: 'HEARTBEAT_MAX_BYTES',
    over: (d) => hb(d, { pad: 'p'.repeat(LIMITS.HEARTBEAT_MAX_BYTES) }),
    http: [413, 'payload_too_large'],
    mqtt: { rejected: 'payload_too_large' },
  },
  {
    limit: 'THUMBNAIL_MAX_BYTES',
    over: () => thumb(randomBytes(LIMITS.THUMBNAIL_MAX_BYTES + 1)),
    http: [413, 'payload_too_large'],
    mqtt: { rejected: 'payload_too_large' },
  },
  {
    limit: 'THUMBNAIL_MAX_SIDE',
    over: async () => thumb(await jpeg(LIMITS.THUMBNAIL_MAX_SIDE + 1, 8)),
    at: async () => thumb(await jpeg(LIMITS.THUMBNAIL_MAX_SIDE, 8)),
    http: [413, 'payload_too_large'],
    mqtt: { rejected: 'payload_too_large' },
  },
  {
    limit: 'THUMBNAIL_MAX_PIXELS',
    over: async () => thumb(await jpeg(4097, 4096)),
    at: async () => thumb(await jpeg(4096, 4096)),
    http: [413, 'payload_too_large'],
    mqtt: { rejected: 'payload_too_large' },
  },
  {
    // A command result (a snapshot's JPEG travels base64 in it); MQTT takes an envelope of that size on the results
    // topic. Accepting one at the limit needs the command channel (cloud/test/commands-*.test.ts).
    limit: 'COMMAND_RESULT_MAX_BYTES',
    over: (d) => resultOfSize(d, LIMITS.COMMAND_RESULT_MAX_BYTES + 1),
    http: [413, 'payload_too_large'],
    mqtt: { rejected: 'payload_too_large' },
  },
  {
    limit: 'JSON_MAX_DEPTH',
    // The event object is level 1, so an unknown field nested 31 deep is level 32.
    over: (d) => ({
      kind: 'events',
      body: Buffer.from(
        JSON.stringify(wireEvent(d.deviceId, { x: 0 })).replace('"x":0', `"x":${nested(LIMITS.JSON_MAX_DEPTH)}`),
      ),
    }),
    at: (d) => ({
      kind: 'events',
      body: Buffer.from(
        JSON.stringify(wireEvent(d.deviceId, { x: 0 })).replace('"x":0', `"x":${nested(LIMITS.JSON_MAX_DEPTH - 1)}`),
      ),
    }),
    http: [400, 'invalid_message'],
    mqtt: { rejected: 'invalid_message' },
  },
  {
    limit: 'CLOCK_TOLERANCE_S',
    over: (d) => ({ ...ev(d), timestamp: Math.floor(Date.now() / 1000) - LIMITS.CLOCK_TOLERANCE_S - 5 }),
    at: (d) => ({ ...ev(d), timestamp: Math.floor(Date.now() / 1000) - LIMITS.CLOCK_TOLERANCE_S + 5 }),
    http: [401, 'timestamp_out_of_tolerance'],
    mqtt: 'empty_ack',
  },
];

/** Every limit that applies to ingest has a case (the others are checked below or concern the collector's output). */
const NOT_INGEST = new Set([
  'SMALL_JSON_MAX_BYTES',
  'ENVELOPE_OVERHEAD_BYTES',
  'MQTT_ENVELOPE_MAX_BYTES',
  // What the collector sends to boxes (checked in cloud/test/commands-repository.test.ts).
  'COMMAND_ARGS_MAX_PROPERTIES',
  'COMMANDS_PER_POLL_MAX',
  'COMMAND_MAX_BYTES',
]);

let sink: MemorySink;
let app: FastifyInstance;
beforeAll(async () => {
  sink = new MemorySink();
  app = await ingestApp({ sink, config: ingestConfig({ rate_limit: { burst: 100_000 } }) });
});
afterAll(async () => {
  await app.close();
});

/** The announcing event's fields for a thumbnail `body`: its hash and size when within the limit, else none. */
function announcement(body: Buffer): Record<string, unknown> {
  if (body.length > LIMITS.THUMBNAIL_MAX_BYTES) return {};
  return {
    thumbnail: { sha256: sha256Hex(body), size: body.length, width: 8, height: 8, content_type: 'image/jpeg' },
  };
}

/** Sends the announcing event first for a thumbnail (it names the thumbnail's hash and size when it can). */
async function prepare(d: DeviceCredentials, m: Msg): Promise<Msg> {
  if (m.kind !== 'thumbnail') return m;
  const announce = announcement(m.body);
  const e = wireEvent(d.deviceId, announce);
  const r = signed(d, 'POST', `/v1/devices/${d.deviceId}/events`, e);
  expect((await app.inject({ method: 'POST', url: r.url, headers: r.headers, payload: r.payload })).statusCode).toBe(
    200,
  );
  return { ...m, eventId: e.id as string };
}

async function sendHttp(d: DeviceCredentials, m: Msg): Promise<{ status: number; body: IngestReply }> {
  const url =
    m.kind === 'thumbnail'
      ? `/v1/devices/${d.deviceId}/events/${m.eventId}/thumbnail`
      : `/v1/devices/${d.deviceId}/${m.kind}`;
  const r = signed(d, m.kind === 'thumbnail' ? 'PUT' : 'POST', url, m.body, {
    contentType: m.kind === 'thumbnail' ? 'image/jpeg' : 'application/json',
    ...(m.timestamp !== undefined ? { timestamp: m.timestamp } : {}),
  });
  const res = await app.inject({ method: r.method as 'POST', url: r.url, headers: r.headers, payload: r.payload });
  return { status: res.statusCode, body: res.json() as IngestReply };
}

describe('HTTP: each protocol limit, at and just over', () => {
  it('the table covers every ingest limit of limits.ts', () => {
    const covered = new Set(CASES.map((c) => c.limit));
    for (const name of Object.keys(LIMITS)) if (!NOT_INGEST.has(name)) expect(covered, name).toContain(name);
  });

  it.each(CASES)('$limit: over → $http.0 $http.1', { timeout: 30_000 }, async (c) => {
    const d = sink.addDevice();
    const res = await sendHttp(d, await prepare(d, await c.over(d)));
    expect([res.status, res.body.error?.code], JSON.stringify(res.body).slice(0, 300)).toEqual(c.http);
    expect(sink.storedFor(d.deviceId).thumbnails).toBe(0);
    if (c.at) {
      const ok = await sendHttp(d, await prepare(d, await c.at(d)));
      expect(ok.status, JSON.stringify(ok.body).slice(0, 300)).toBe(200);
      expect(ok.body.acks.every((a: { status: string }) => a.status === 'accepted')).toBe(true);
    }
  });
});

describe('MQTT: each protocol limit, at and just over', () => {
  let broker: EmbeddedBroker;
  let brokerUrl: string;
  let ingest: MqttIngest;
  const metrics = new IngestMetrics();
  const devices: TestMqttDevice[] = [];

  beforeAll(async () => {
    broker = await startAedes();
    brokerUrl = broker.url;
    ingest = startMqttIngest({
      sink,
      metrics,
      config: ingestConfig({ rate_limit: { burst: 100_000 } }),
      mqtt: mqttConfig({
        url: brokerUrl,
        client_id: 'limits',
        shared_group: 'limits',
        reconnect_ms: 200,
        protocol_version: 4,
      }),
    });
    await ingest.ready;
  });
  afterAll(async () => {
    for (const d of devices) await d.close().catch(() => undefined);
    await ingest.close();
    await broker.close();
  });

  const device = async (): Promise<TestMqttDevice> => {
    const d = await TestMqttDevice.connect(brokerUrl, sink.addDevice(), { protocolVersion: 4 });
    devices.push(d);
    return d;
  };
  async function publish(dev: TestMqttDevice, m: Msg): Promise<void> {
    const id = dev.creds.deviceId;
    const topic =
      m.kind === 'thumbnail'
        ? thumbnailTopic(id, m.eventId!)
        : m.kind === 'events'
          ? eventsTopic(id)
          : m.kind === 'results'
            ? resultsTopic(id)
            : heartbeatTopic(id);
    const env = signMqttMessage(dev.creds, topic, m.body, m.timestamp !== undefined ? { timestamp: m.timestamp } : {});
    await dev.publishRaw(topic, JSON.stringify(env));
  }
  /** Publishes a marker event after `m`: once its ack is in, `m` was handled (one connection, in order). */
  async function settle(dev: TestMqttDevice): Promise<void> {
    const marker = wireEvent(dev.creds.deviceId);
    await dev.publishEvents(marker);
    await dev.ackOf(marker.id as string);
  }
  async function prepareMqtt(dev: TestMqttDevice, m: Msg): Promise<Msg> {
    if (m.kind !== 'thumbnail') return m;
    const announce = announcement(m.body);
    const e = wireEvent(dev.creds.deviceId, announce);
    await dev.publishEvents(e);
    await dev.ackOf(e.id as string);
    return { ...m, eventId: e.id as string };
  }
  const itemsOf = (acks: Ack[]) => acks.flatMap((a) => a.acks);

  it.each(CASES)('$limit: over → $mqtt', { timeout: 30_000 }, async (c) => {
    const dev = await device();
    const m = await prepareMqtt(dev, await c.over(dev.creds));
    const before = dev.acks.length;
    await publish(dev, m);
    await settle(dev);
    const after = dev.acks.slice(before);
    if (c.mqtt === 'empty_ack') expect(after.some((a) => a.acks.length === 0)).toBe(true);
    else {
      const rejected = itemsOf(after).filter((i) => i.status === 'rejected');
      expect(rejected.length, JSON.stringify(after).slice(0, 400)).toBeGreaterThan(0);
      expect(new Set(rejected.map((i) => i.code))).toEqual(new Set([c.mqtt.rejected]));
    }
    if (c.at) {
      const ok = await prepareMqtt(dev, await c.at(dev.creds));
      const n = dev.acks.length;
      await publish(dev, ok);
      await settle(dev);
      const items = itemsOf(dev.acks.slice(n));
      expect(
        items.filter((i) => i.status !== 'accepted'),
        JSON.stringify(items).slice(0, 400),
      ).toEqual([]);
      expect(items.length).toBeGreaterThan(1);
    }
  });

  it('MQTT_ENVELOPE_MAX_BYTES (ENVELOPE_OVERHEAD_BYTES included): a larger envelope is dropped, no ack', async () => {
    const dev = await device();
    const before = metrics.rejections.get('payload_too_large') ?? 0;
    const topic = eventsTopic(dev.creds.deviceId);
    await dev.publishRaw(topic, Buffer.alloc(LIMITS.MQTT_ENVELOPE_MAX_BYTES + 1, 0x20));
    await settle(dev);
    expect(dev.acks).toHaveLength(1); // the marker's only
    expect(metrics.rejections.get('payload_too_large')).toBe(before + 1);
  });
});
