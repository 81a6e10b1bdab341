/**
 * `npm run bench:ingest` — signed ingest throughput of the collector, on loopback only, bounded in time.
 *
 * 1. Bare node:http server answering 200 (the ceiling of this machine for the same request shape).
 * 2. HTTP ingest: signed single-event POSTs into SQLite (WAL) through the real routes and the real store sink,
 *    keep-alive, undici Pool of 4 connections with 4 requests in flight: with `synchronous=FULL` (the default: every
 *    commit fsynced) and with `NORMAL` (WAL fsynced at checkpoints only); batches of 20 events per request with
 *    FULL. Printed as events/s and as a ratio to (1) — goal ≥ 0.5 for single events.
 * 3. MQTT ingest through Mosquitto at 127.0.0.1:1883 (SQLite FULL): 4 devices, each with up to 16 unacked events in
 *    flight, counted when the signed ack comes back (end to end: broker → collector → SQLite → ack → device).
 * 4. PostgreSQL (127.0.0.1:5432, when reachable): the store alone, 4 writers storing 100-event batches.
 *
 * Servers run in child processes (this file with --role), the load generator in this one, so they do not share an
 * event loop. Each phase runs BENCH_SECONDS (default 5) after a 1 s warm-up. At the end the collector counts the
 * rows it stored, which must cover every ack. The 1-minute load average is printed with every figure: on a shared
 * machine it says how much the figures are worth.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { Pool } from 'undici';
import { newEventId } from '../shared/ids/index.js';
import { signHttpRequest, signMqttMessage, type DeviceCredentials } from '../shared/signing/index.js';
import { acksTopic, eventsTopic } from '../firmware-protocol/topics.js';
import { POSTGRES_URL, tcpReachable } from '../shared/testing/index.js';
import type { EventCursor } from '../cloud/store/store.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_MS = 1000;
const CONNECTIONS = 4;
const MQTT_URL = process.env.VIGIL_BENCH_MQTT_URL ?? 'mqtt://127.0.0.1:1883';

type WireDevice = { deviceId: string; keyId: string; secret_b64: string };
type ChildReady = { port?: number; devices?: WireDevice[] };

function creds(d: WireDevice): DeviceCredentials {
  return { deviceId: d.deviceId, keyId: d.keyId, secret: Buffer.from(d.secret_b64, 'base64') };
}

function event(deviceId: string): Record<string, unknown> {
  return {
    v: 1,
    id: newEventId(),
    device_id: deviceId,
    camera: 'front',
    type: 'new',
    rev: 0,
    label: 'person',
    score: 0.87,
    box: [0.12, 0.2, 0.35, 0.9],
    started_at: new Date().toISOString(),
    sent_at: new Date().toISOString(),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Child roles
// ---------------------------------------------------------------------------------------------------------------

async function roleBare(): Promise<void> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.send!({ port: (server.address() as { port: number }).port } satisfies ChildReady);
  process.on('message', () => server.close(() => process.exit(0)));
}

async function roleCollector(
  dataDir: string,
  mode: 'http' | 'mqtt',
  group: string,
  synchronous: 'full' | 'normal',
): Promise<void> {
  const Fastify = (await import('fastify')).default;
  const { openStore } = await import('../cloud/store/index.js');
  const { StoreIngestSink } = await import('../cloud/server/ingest-sink.js');
  const { FsBlobStore } = await import('../cloud/blob/fs.js');
  const { LocalEventBus } = await import('../cloud/live/event-bus.js');
  const { SecretBox } = await import('../cloud/pairing/secret-box.js');
  const { pairDevice } = await import('../cloud/pairing/devices.js');
  const { codeDigest } = await import('../cloud/pairing/codes.js');
  const { registerIngestRoutes, startMqttIngest, ingestConfig, mqttConfig, resolveIngestDeps } = await import(
    '../cloud/ingest/index.js'
  );

  const store = await openStore({ dataDir, sqliteSynchronous: synchronous });
  const secrets = new SecretBox(randomBytes(32));
  const sink = new StoreIngestSink({
    store,
    blobs: new FsBlobStore(join(dataDir, 'blobs')),
    secrets,
    bus: new LocalEventBus(),
  });
  const devices: WireDevice[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const code = randomBytes(4).toString('hex').toUpperCase();
    const now = Date.now();
    await store.createPairingCode({
      tenantId: 'default',
      name: null,
      codeSha256: codeDigest(secrets, code),
      hint: '',
      now,
      expiresAt: now + 60_000,
    });
    const r = await pairDevice(store, secrets, { v: 1, code }, { https: 'http://127.0.0.1' }, now);
    devices.push({ deviceId: r.device_id, keyId: r.key_id, secret_b64: r.secret_b64 });
  }
  const deps = resolveIngestDeps({ sink, config: ingestConfig({ rate_limit: { per_second: 1e6, burst: 1e6 } }) });
  const count = async (): Promise<number> => {
    let n = 0;
    for (const d of devices) {
      let after: EventCursor | undefined;
      do {
        const page = await store.listEvents('default', { deviceId: d.deviceId }, 1000, after);
        n += page.events.length;
        after = page.next ?? undefined;
      } while (after);
    }
    return n;
  };
  let stop: () => Promise<void>;
  if (mode === 'http') {
    const app = Fastify({ logger: false, keepAliveTimeout: 60_000 });
    await registerIngestRoutes(app, deps);
    await app.listen({ host: '127.0.0.1', port: 0 });
    process.send!({ port: (app.server.address() as { port: number }).port, devices } satisfies ChildReady);
    stop = () => app.close();
  } else {
    const ingest = startMqttIngest({
      ...deps,
      mqtt: mqttConfig({ url: MQTT_URL, client_id: `vigil-bench-${group}`, shared_group: group, session_expiry_s: 0 }),
    });
    await ingest.ready;
    process.send!({ devices } satisfies ChildReady);
    stop = () => ingest.close();
  }
  process.on('message', (msg: unknown) => {
    void (async () => {
      if (msg === 'count') {
        process.send!({ stored: await count() });
        return;
      }
      await stop();
      await store.close();
      process.exit(0);
    })();
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Load generator
// ---------------------------------------------------------------------------------------------------------------

function startChild(args: string[]): Promise<{ child: ChildProcess; ready: ChildReady }> {
  const child = fork(fileURLToPath(import.meta.url), args, {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (ready) => resolve({ child, ready: ready as ChildReady }));
    child.once('exit', (code) => reject(new Error(`bench child ${args.join(' ')} exited with ${code}`)));
  });
}

async function ask<T>(child: ChildProcess, msg: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    child.send(msg);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.send('stop');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

interface LoadResult {
  requests: number;
  events: number;
  seconds: number;
  latencies: number[];
  failures: number;
}

/** CONNECTIONS workers, one request in flight each, for SECONDS after a warm-up. */
async function httpLoad(
  port: number,
  makeRequest: (worker: number) => { path: string; headers: Record<string, string>; body: Buffer; events: number },
): Promise<LoadResult> {
  const pool = new Pool(`http://127.0.0.1:${port}`, {
    connections: CONNECTIONS,
    pipelining: 1,
    keepAliveTimeout: 60_000,
  });
  const result: LoadResult = { requests: 0, events: 0, seconds: SECONDS, latencies: [], failures: 0 };
  const start = Date.now();
  const measureFrom = start + WARMUP_MS;
  const end = measureFrom + SECONDS * 1000;
  let firstFailure = '';
  const worker = async (w: number): Promise<void> => {
    while (Date.now() < end) {
      const r = makeRequest(w);
      const t0 = performance.now();
      const res = await pool.request({ method: 'POST', path: r.path, headers: r.headers, body: r.body });
      const text = await res.body.text();
      const t1 = Date.now();
      if (res.statusCode !== 200) {
        result.failures++;
        firstFailure ||= `${res.statusCode} ${text.slice(0, 200)}`;
        continue;
      }
      if (t1 >= measureFrom && t1 < end) {
        result.requests++;
        result.events += r.events;
        result.latencies.push(performance.now() - t0);
      }
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, w) => worker(w)));
  await pool.close();
  if (firstFailure) console.error(`  ${result.failures} failed requests, first: ${firstFailure}`);
  return result;
}

function pct(xs: number[], p: number): string {
  if (xs.length === 0) return '-';
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(2);
}

const load = (): string => `load ${loadavg()[0]!.toFixed(2)}`;

function line(label: string, r: LoadResult, unit: 'req' | 'events'): number {
  const rate = (unit === 'req' ? r.requests : r.events) / r.seconds;
  console.log(
    `${label.padEnd(48)} ${rate.toFixed(0).padStart(8)} ${unit}/s   (${r.requests} requests in ${r.seconds} s; latency p50 ${pct(r.latencies, 50)} ms, p99 ${pct(r.latencies, 99)} ms; ${load()})`,
  );
  return rate;
}

interface HttpFigures {
  bare: number;
  singleFull: number;
  singleNormal: number;
  batchFull: number;
}

/** Signed single-event (and optionally 20-event) load against a collector child with the given synchronous mode. */
async function benchCollector(
  synchronous: 'full' | 'normal',
  withBatch: boolean,
): Promise<{ single: number; batch?: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  const col = await startChild(['--role', 'collector', dir, 'http', 'x', synchronous]);
  try {
    const devices = col.ready.devices!.map(creds);
    const signedPost = (w: number, body: unknown, events: number) => {
      const d = devices[w % devices.length]!;
      const path = `/v1/devices/${d.deviceId}/events`;
      const bytes = Buffer.from(JSON.stringify(body));
      return {
        path,
        headers: { ...signHttpRequest(d, 'POST', path, bytes), 'content-type': 'application/json' },
        body: bytes,
        events,
      };
    };
    const mode = synchronous.toUpperCase();
    const single = await httpLoad(col.ready.port!, (w) =>
      signedPost(w, event(devices[w % devices.length]!.deviceId), 1),
    );
    const singleRate = line(`HTTP ingest, 1 event/request, SQLite ${mode}`, single, 'events');
    let batch: LoadResult | undefined;
    let batchRate: number | undefined;
    if (withBatch) {
      batch = await httpLoad(col.ready.port!, (w) => {
        const id = devices[w % devices.length]!.deviceId;
        return signedPost(w, { v: 1, events: Array.from({ length: 20 }, () => event(id)) }, 20);
      });
      batchRate = line(`HTTP ingest, 20 events/request, SQLite ${mode}`, batch, 'events');
    }
    const { stored } = await ask<{ stored: number }>(col.child, 'count');
    const acked = single.events + (batch?.events ?? 0);
    console.log(
      `  stored rows ${stored} ≥ acked in the measured windows ${acked}: ${stored >= acked ? 'ok' : 'MISSING ROWS'}`,
    );
    return { single: singleRate, ...(batchRate !== undefined ? { batch: batchRate } : {}) };
  } finally {
    await stopChild(col.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchHttp(): Promise<HttpFigures> {
  const sampleBody = Buffer.from(JSON.stringify(event('dev_bench')));
  const bare = await startChild(['--role', 'bare']);
  let bareRate: number;
  try {
    const r = await httpLoad(bare.ready.port!, () => ({
      path: '/v1/devices/dev_bench/events',
      headers: { 'content-type': 'application/json' },
      body: sampleBody,
      events: 1,
    }));
    bareRate = line('bare node:http 200', r, 'req');
  } finally {
    await stopChild(bare.child);
  }
  const full = await benchCollector('full', true);
  const normal = await benchCollector('normal', false);
  return { bare: bareRate, singleFull: full.single, singleNormal: normal.single, batchFull: full.batch! };
}

/** The PostgreSQL store alone: 4 writers, each storing 100-event batches back to back. */
async function benchPostgres(): Promise<number | undefined> {
  const u = new URL(POSTGRES_URL);
  if (!(await tcpReachable(u.hostname, Number(u.port || 5432)))) {
    console.log(`PostgreSQL store: skipped (no server at ${u.host})`);
    return undefined;
  }
  const { openStore } = await import('../cloud/store/index.js');
  const { eventFingerprint } = await import('../firmware-protocol/fingerprint.js');
  const { newDeviceId } = await import('../shared/ids/index.js');
  const pg = (await import('pg')).default;
  const schema = `vigil_bench_${randomBytes(4).toString('hex')}`;
  const store = await openStore({ url: POSTGRES_URL, dataDir: tmpdir(), schema, poolMax: 10 });
  try {
    const ids: string[] = [];
    for (let i = 0; i < CONNECTIONS; i++) {
      const now = Date.now();
      const codeSha256 = randomBytes(32).toString('hex');
      await store.createPairingCode({
        tenantId: 'default',
        name: null,
        codeSha256,
        hint: 'BN',
        now,
        expiresAt: now + 60_000,
      });
      const deviceId = newDeviceId(now);
      await store.consumePairingCode({
        codeSha256,
        now,
        deviceId,
        deviceName: null,
        key: { keyId: 'k1', secretSealed: 'unused' },
      });
      ids.push(deviceId);
    }
    const message = (deviceId: string) => {
      const e = event(deviceId);
      return { id: e.id as string, rev: 0, contentSha256: eventFingerprint(e as never), event: e };
    };
    const start = Date.now();
    const measureFrom = start + WARMUP_MS;
    const end = measureFrom + SECONDS * 1000;
    let stored = 0;
    const latencies: number[] = [];
    await Promise.all(
      ids.map(async (deviceId) => {
        while (Date.now() < end) {
          const batch = Array.from({ length: 100 }, () => message(deviceId));
          const t0 = performance.now();
          await store.storeEventMessages(deviceId, batch, Date.now());
          if (Date.now() >= measureFrom && Date.now() < end) {
            stored += batch.length;
            latencies.push(performance.now() - t0);
          }
        }
      }),
    );
    const rate = stored / SECONDS;
    console.log(
      `${'PostgreSQL store, 100-event batches, 4 writers'.padEnd(48)} ${rate.toFixed(0).padStart(8)} events/s   (${latencies.length} batches in ${SECONDS} s; latency p50 ${pct(latencies, 50)} ms, p99 ${pct(latencies, 99)} ms; ${load()})`,
    );
    return rate;
  } finally {
    await store.close();
    const c = new pg.Client({ connectionString: POSTGRES_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => c.end());
  }
}

async function benchMqtt(): Promise<number | undefined> {
  const u = new URL(MQTT_URL);
  if (!(await tcpReachable(u.hostname, Number(u.port || 1883)))) {
    console.log(`MQTT ingest: skipped (no broker at ${MQTT_URL})`);
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  const group = `bench${randomBytes(4).toString('hex')}`;
  const col = await startChild(['--role', 'collector', dir, 'mqtt', group, 'full']);
  const WINDOW = 16;
  const clients: mqtt.MqttClient[] = [];
  try {
    const devices = col.ready.devices!.map(creds);
    let acked = 0;
    let ackedInWindow = 0;
    const latencies: number[] = [];
    const start = Date.now();
    const measureFrom = start + WARMUP_MS;
    const end = measureFrom + SECONDS * 1000;
    await Promise.all(
      devices.map(async (d) => {
        const client = await mqtt.connectAsync(MQTT_URL, {
          clientId: `${d.deviceId}-bench`,
          clean: true,
          protocolVersion: 5,
        });
        clients.push(client);
        const topic = eventsTopic(d.deviceId);
        const inflight = new Map<string, number>();
        let done!: () => void;
        const finished = new Promise<void>((r) => (done = r));
        const sendOne = (): void => {
          if (Date.now() >= end) {
            if (inflight.size === 0) done();
            return;
          }
          const e = event(d.deviceId);
          inflight.set(e.id as string, performance.now());
          const env = signMqttMessage(d, topic, Buffer.from(JSON.stringify(e)));
          client.publish(topic, JSON.stringify(env), { qos: 1 });
        };
        client.on('message', (_t, payload) => {
          const env = JSON.parse(payload.toString()) as { body_b64: string };
          const ack = JSON.parse(Buffer.from(env.body_b64, 'base64').toString()) as {
            acks: { id: string; status: string }[];
          };
          const now = Date.now();
          for (const item of ack.acks) {
            const t0 = inflight.get(item.id);
            if (t0 === undefined || item.status === 'rejected') continue;
            inflight.delete(item.id);
            acked++;
            if (now >= measureFrom && now < end) {
              ackedInWindow++;
              latencies.push(performance.now() - t0);
            }
            sendOne();
          }
        });
        await client.subscribeAsync(acksTopic(d.deviceId), { qos: 1 });
        for (let i = 0; i < WINDOW; i++) sendOne();
        // Bounded: give up on stragglers 10 s after the window.
        await Promise.race([finished, new Promise((r) => setTimeout(r, end - Date.now() + 10_000))]);
      }),
    );
    const rate = ackedInWindow / SECONDS;
    console.log(
      `${'MQTT ingest via Mosquitto, acked end to end'.padEnd(48)} ${rate.toFixed(0).padStart(8)} events/s   (${ackedInWindow} acks in ${SECONDS} s; ${CONNECTIONS} devices × ${WINDOW} in flight; latency p50 ${pct(latencies, 50)} ms, p99 ${pct(latencies, 99)} ms; ${load()})`,
    );
    const { stored } = await ask<{ stored: number }>(col.child, 'count');
    console.log(`  stored rows ${stored} ≥ acked ${acked}: ${stored >= acked ? 'ok' : 'MISSING ROWS'}`);
    return rate;
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await stopChild(col.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const roleAt = process.argv.indexOf('--role');
  if (roleAt >= 0) {
    const [role, dir, mode, group, synchronous] = process.argv.slice(roleAt + 1);
    if (role === 'bare') return roleBare();
    return roleCollector(dir!, mode as 'http' | 'mqtt', group!, synchronous === 'normal' ? 'normal' : 'full');
  }
  const [l1, l5, l15] = loadavg().map((x) => x.toFixed(2));
  console.log(
    `bench:ingest — loopback, ${SECONDS} s per phase after ${WARMUP_MS / 1000} s warm-up, node ${process.version}, load average ${l1} ${l5} ${l15}`,
  );
  const http = await benchHttp();
  const ratio = (x: number): string => (x / http.bare).toFixed(2);
  console.log(
    `ratios to bare req/s: 1 event/request FULL ${ratio(http.singleFull)} (goal ≥ 0.5), NORMAL ${ratio(http.singleNormal)}; 20 events/request FULL ${ratio(http.batchFull)}`,
  );
  const mq = await benchMqtt();
  const pgRate = await benchPostgres();
  console.log(
    `summary: bare_req_per_s=${http.bare.toFixed(0)} http_full_events_per_s=${http.singleFull.toFixed(0)} ratio_full=${ratio(http.singleFull)} ` +
      `http_normal_events_per_s=${http.singleNormal.toFixed(0)} ratio_normal=${ratio(http.singleNormal)} http_batch20_full_events_per_s=${http.batchFull.toFixed(0)} ` +
      `mqtt_events_per_s=${mq === undefined ? 'skipped' : mq.toFixed(0)} pg_batch100_events_per_s=${pgRate === undefined ? 'skipped' : pgRate.toFixed(0)} load1=${loadavg()[0]!.toFixed(2)}`,
  );
}

await main();
