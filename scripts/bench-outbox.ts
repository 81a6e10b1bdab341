/**
 * `npm run bench:outbox` — the agent's store-and-forward path, on loopback only, bounded in size.
 *
 * 1. Enqueue rate into the SQLite outbox (WAL, synchronous=FULL per enqueue): events with a 20 KB thumbnail each,
 *    and events alone.
 * 2. Drain rate to a local collector (the real createCloud, SQLite store, in a child process so it does not share
 *    the agent's event loop) over MQTT (Mosquitto at 127.0.0.1:1883, or a private one if that is not running) and
 *    over HTTPS (plain HTTP on loopback): event records only, and events + 20 KB thumbnails. An item counts when
 *    the collector's end-to-end ack settled it in the outbox.
 *    The same drain against an in-process transport that acks at once gives the agent side's own ceiling.
 * 3. Time to drain a 10,000-event backlog built while the uplink was offline, over each transport.
 *
 * The collector's per-device rate limit is raised for the bench (its default of 20 messages/s, burst 200, would
 * cap thumbnails at 20/s — see the note printed at the end). Sizes: BENCH_EVENTS (default 5000), BENCH_THUMBS
 * (default 1000), BENCH_BACKLOG (default 10000).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OffsetClock } from '../shared/clock/index.js';
import { sampleEvent } from '../shared/testing/events.js';
import { silentLogger } from '../shared/log/index.js';
import { TEST_JPEG_MIN_BYTES, tcpReachable, testJpeg } from '../shared/testing/index.js';
import { sha256Hex, type DeviceCredentials } from '../shared/signing/index.js';
import { validateEvent } from '../firmware-protocol/messages.js';
import { Outbox, type OutboxEvent } from '../agent/outbox/index.js';
import { HttpsTransport, MqttTransport, Uplink, type SendResult, type Transport } from '../agent/uplink/index.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 5_000);
const THUMBS = Number(process.env.BENCH_THUMBS ?? 1_000);
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 10_000);
const THUMB_BYTES = 20 * 1024;

interface ChildReady {
  url: string;
  device: { deviceId: string; keyId: string; secret_b64: string };
}

// ------------------------------------------------------------------------------------------------ collector child

async function roleCollector(dataDir: string, mqttUrl: string): Promise<void> {
  const { cloudConfig } = await import('../cloud/config.js');
  const { createCloud } = await import('../cloud/server/app.js');
  const { createPairingCode } = await import('../cloud/pairing/codes.js');
  const tag = `${process.pid}`;
  const cloud = await createCloud(
    cloudConfig({
      data_dir: dataDir,
      server: { host: '127.0.0.1', port: 0 },
      log: { level: 'silent' },
      ingest: { rate_limit: { per_second: 100_000, burst: 100_000 } },
      mqtt: { url: mqttUrl, client_id: `bench-outbox-${tag}`, shared_group: `bench-outbox-${tag}` },
    }),
    { logger: silentLogger() },
  );
  await cloud.mqtt?.ready;
  const { code } = await createPairingCode(cloud.store, cloud.secrets, { tenantId: 'default', ttlMs: 60_000 });
  const res = await fetch(`${cloud.url}/v1/pair`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ v: 1, code }),
  });
  const p = (await res.json()) as { device_id: string; key_id: string; secret_b64: string };
  process.send!({
    url: cloud.url,
    device: { deviceId: p.device_id, keyId: p.key_id, secret_b64: p.secret_b64 },
  } satisfies ChildReady);
  process.on('message', () => void cloud.close().then(() => process.exit(0)));
}

// ------------------------------------------------------------------------------------------------ agent side

function jpeg(bytes: number, seed: number): Buffer {
  // A real (decodable) JPEG when big enough: the collector opens every thumbnail it stores.
  if (bytes >= TEST_JPEG_MIN_BYTES) return testJpeg(bytes, seed);
  const b = Buffer.alloc(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  b[0] = 0xff;
  b[1] = 0xd8;
  b[2] = 0xff;
  b[3] = 0xe0;
  return b;
}

function event(deviceId: string, thumb?: Buffer): OutboxEvent {
  const e: OutboxEvent = sampleEvent(deviceId, { box: [0.1, 0.2, 0.3, 0.4] });
  if (thumb)
    e.thumbnail = { sha256: sha256Hex(thumb), size: thumb.length, width: 320, height: 240, content_type: 'image/jpeg' };
  return e;
}

function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

const rate = (n: number, ms: number): string => `${Math.round((n / ms) * 1000).toLocaleString('en-US')}/s`;
const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

function benchEnqueue(): void {
  const dir = tmp('bench-outbox-');
  const ob = Outbox.open({
    path: join(dir, 'outbox.db'),
    budgetBytes: 4 * 1024 ** 3,
    validateEvent: (e) => void validateEvent.parse(e),
  });
  const n = Math.min(THUMBS * 2, 2_000);
  const thumbs = Array.from({ length: n }, (_, i) => jpeg(THUMB_BYTES, i + 1));
  let t = performance.now();
  for (let i = 0; i < n; i++) ob.enqueue(event('dev_bench', thumbs[i]), thumbs[i]);
  let ms = performance.now() - t;
  console.log(
    `enqueue, event + 20 KB thumbnail (synchronous=FULL): ${n} in ${secs(ms)} = ${rate(n, ms)} events ` +
      `(${((n * THUMB_BYTES) / 1024 / 1024 / (ms / 1000)).toFixed(1)} MB/s)`,
  );
  t = performance.now();
  for (let i = 0; i < EVENTS; i++) ob.enqueue(event('dev_bench'));
  ms = performance.now() - t;
  console.log(
    `enqueue, event record alone (synchronous=FULL):      ${EVENTS} in ${secs(ms)} = ${rate(EVENTS, ms)} events`,
  );
  ob.close();
  rmSync(dir, { recursive: true, force: true });
}

/** An in-process transport that acks everything at once: the agent side's own ceiling (outbox + uplink). */
function instantTransport(): Transport {
  const ack = (items: Array<{ id: string; rev: number; kind: 'event' | 'thumbnail' | 'result' }>): SendResult => ({
    ack: {
      v: 1,
      acks: items.map((i) => ({ ...i, status: 'accepted' as const })),
      server_time: new Date().toISOString(),
    },
  });
  return {
    name: 'https',
    start: async (_onAck, onReady) => onReady(),
    isReady: () => true,
    sendEvents: async (body) => {
      const v = JSON.parse(body.toString('utf8')) as {
        events?: Array<{ id: string; rev: number }>;
        id: string;
        rev: number;
      };
      return ack((v.events ?? [v]).map((e) => ({ id: e.id, rev: e.rev, kind: 'event' as const })));
    },
    sendThumbnail: async (id) => ack([{ id, rev: 0, kind: 'thumbnail' }]),
    sendHeartbeat: async () => ({}),
    sendResult: async (id) => ack([{ id, rev: 0, kind: 'result' }]),
    close: async () => undefined,
  };
}

async function benchAgentCeiling(): Promise<void> {
  for (const withThumbs of [false, true]) {
    const dir = tmp('bench-outbox-');
    const ob = Outbox.open({ path: join(dir, 'outbox.db'), budgetBytes: 4 * 1024 ** 3 });
    const n = withThumbs ? THUMBS : EVENTS;
    for (let i = 0; i < n; i++) {
      const thumb = withThumbs ? jpeg(THUMB_BYTES, i + 1) : undefined;
      ob.enqueue(event('dev_bench', thumb), thumb);
    }
    const clock = new OffsetClock();
    const up = new Uplink({
      outbox: ob,
      transport: instantTransport(),
      deviceId: 'dev_bench',
      clock,
      heartbeatIntervalMs: 0,
      idlePollMs: 50,
      messagesPerSecond: 0,
    });
    const t = performance.now();
    await up.start();
    await drained(ob, 600_000);
    const ms = performance.now() - t;
    await up.stop();
    ob.close();
    rmSync(dir, { recursive: true, force: true });
    console.log(
      '  agent ceiling (instant acks), ' +
        `${withThumbs ? `events + 20 KB thumbnails: ${n} + ${n}` : `event records: ${n}`} in ${secs(ms)} = ` +
        `${rate(n, ms)} events`,
    );
  }
}

interface Collector {
  child: ChildProcess;
  url: string;
  device: DeviceCredentials;
}

async function startCollector(mqttUrl: string): Promise<Collector> {
  const dataDir = tmp('bench-outbox-cloud-');
  const child = fork(fileURLToPath(import.meta.url), ['--role', 'collector', dataDir, mqttUrl], {
    execArgv: ['--import', 'tsx'],
    stdio: 'inherit',
  });
  const ready = await new Promise<ChildReady>((resolve, reject) => {
    child.once('message', (m) => resolve(m as ChildReady));
    child.once('exit', (code) => reject(new Error(`collector exited (${code})`)));
  });
  child.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
  return {
    child,
    url: ready.url,
    device: {
      deviceId: ready.device.deviceId,
      keyId: ready.device.keyId,
      secret: Buffer.from(ready.device.secret_b64, 'base64'),
    },
  };
}

async function stopCollector(c: Collector): Promise<void> {
  const exited = new Promise((r) => c.child.once('exit', r));
  c.child.send('stop');
  await exited;
}

function makeUplink(kind: 'mqtt' | 'https', c: Collector, mqttUrl: string, ob: Outbox): Uplink {
  const clock = new OffsetClock();
  const transport: Transport =
    kind === 'mqtt'
      ? new MqttTransport({ url: mqttUrl, identity: c.device, clock })
      : new HttpsTransport({ baseUrl: c.url, identity: c.device, clock });
  return new Uplink({
    outbox: ob,
    transport,
    deviceId: c.device.deviceId,
    clock,
    heartbeatIntervalMs: 0,
    idlePollMs: 50,
    ackTimeoutMs: 30_000,
    messagesPerSecond: 0,
  });
}

async function drained(ob: Outbox, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (ob.depth() > 0) {
    if (Date.now() > end) throw new Error(`not drained in ${timeoutMs} ms: ${JSON.stringify(ob.stats().total)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Enqueues first (uplink offline), then starts the uplink and times the drain. */
async function drain(
  kind: 'mqtt' | 'https',
  c: Collector,
  mqttUrl: string,
  events: number,
  withThumbs: boolean,
): Promise<number> {
  const dir = tmp('bench-outbox-');
  const ob = Outbox.open({ path: join(dir, 'outbox.db'), budgetBytes: 4 * 1024 ** 3 });
  for (let i = 0; i < events; i++) {
    const thumb = withThumbs ? jpeg(THUMB_BYTES, i + 1) : undefined;
    ob.enqueue(event(c.device.deviceId, thumb), thumb);
  }
  const up = makeUplink(kind, c, mqttUrl, ob);
  const t = performance.now();
  await up.start();
  await drained(ob, 600_000);
  const ms = performance.now() - t;
  await up.stop();
  ob.close();
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

async function main(): Promise<void> {
  if (process.argv[2] === '--role') {
    await roleCollector(process.argv[4]!, process.argv[5]!);
    return;
  }
  console.log(
    `bench:outbox — node ${process.version}, ${EVENTS} events, ${THUMBS} thumbnails of 20 KB, backlog ${BACKLOG}\n`,
  );
  benchEnqueue();
  console.log('\ndrain without a network (outbox + uplink only)');
  await benchAgentCeiling();

  let privateBroker: ChildProcess | undefined;
  let mqttUrl = 'mqtt://127.0.0.1:1883';
  if (!(await tcpReachable('127.0.0.1', 1883))) {
    const { spawn } = await import('node:child_process');
    const port = 18_000 + (process.pid % 1000);
    privateBroker = spawn('mosquitto', ['-p', String(port)], { stdio: 'ignore' });
    mqttUrl = `mqtt://127.0.0.1:${port}`;
    for (let i = 0; i < 50 && !(await tcpReachable('127.0.0.1', port)); i++)
      await new Promise((r) => setTimeout(r, 100));
  }
  console.log(`\ndrain to a local collector (createCloud, SQLite) — broker ${mqttUrl}`);
  const c = await startCollector(mqttUrl);
  try {
    for (const kind of ['mqtt', 'https'] as const) {
      const ms = await drain(kind, c, mqttUrl, EVENTS, false);
      console.log(
        `  ${kind.padEnd(5)} event records:          ${EVENTS} in ${secs(ms)} = ${rate(EVENTS, ms)} events acked ` +
          'end to end',
      );
      const msT = await drain(kind, c, mqttUrl, THUMBS, true);
      console.log(
        `  ${kind.padEnd(5)} events + 20 KB thumbnails: ${THUMBS} + ${THUMBS} in ${secs(msT)} = ` +
          `${rate(THUMBS, msT)} events with thumbnail`,
      );
    }
    console.log(`\nbacklog of ${BACKLOG} events built offline, time to drain after reconnect`);
    for (const kind of ['mqtt', 'https'] as const) {
      const ms = await drain(kind, c, mqttUrl, BACKLOG, false);
      console.log(`  ${kind.padEnd(5)} ${secs(ms)} (${rate(BACKLOG, ms)})`);
    }
  } finally {
    await stopCollector(c);
    privateBroker?.kill('SIGTERM');
  }
  console.log(
    '\nnote: the collector rate limit and the uplink message limit were lifted for this bench. At their defaults ' +
      '(collector 20 messages/s' +
      ' per device, burst 200; uplink 18/s, burst 180) event records still drain at up to ~1,800/s (100 per ' +
      'message), but thumbnails' +
      ' (one per message) at ~18/s.',
  );
}

await main();
