/**
 * `npm run bench:fleet` — a simulated fleet against one, then three `vigil-cloud serve` processes, on loopback only,
 * bounded in time.
 *
 *   npm run bench:fleet -- [--boxes 2000] [--duration 20] [--warmup 3] [--idle 10] [--event-every 10]
 *                          [--heartbeat 30] [--thumb-kb 20] [--mqtt-share 0.5] [--blob s3|fs] [--collectors 1,3]
 *
 * Setup: a fresh PostgreSQL schema (127.0.0.1:5432, database `test`, dropped at the end), s3rver in its own process
 * (or, with --blob fs, one shared thumbnail directory), a private Mosquitto on a free port (anonymous; the collectors
 * share the traffic in their deployment's group), and the built collector (`npm run build` first), each with a data
 * dir of its own, verify-then-notify on with its defaults (no LLM configured, no push tokens: the job still runs for
 * every event).
 *
 * The fleet: --boxes simulated boxes (cloud/test/support-scale/sim-box.ts), each paired through the API with its own
 * credentials; --mqtt-share of them on MQTT (one broker connection each), the rest on HTTP (requests spread
 * round-robin over the collectors through 32 keep-alive connections per collector, as a load balancer would). A
 * box sends a heartbeat every --heartbeat seconds and starts events at random (exponential gaps, mean --event-every
 * seconds): `new` announcing a --thumb-kb JPEG, the JPEG, `end`. Like the agent's outbox it has one message in flight
 * and queues the rest, so a saturated collector shows as fewer events per second and longer queues, not as an ever
 * longer backlog in flight.
 *
 * Phases: `idle` (one collector, heartbeats only, --idle seconds: CPU per heartbeat), then one phase per entry of
 * --collectors (--warmup seconds, then --duration seconds measured). Printed per phase: events/s (all three
 * messages acked), messages/s, ack latency p50/p99 (event messages and thumbnails, first send to ack), CPU of each
 * collector (user+system from /proc/<pid>/stat, as % of one core), collector CPU-ms per event, the CPU of what they
 * lean on (their PostgreSQL backends, told apart by application_name; the broker; s3rver), the load generator's own
 * CPU, and the 1-minute load average; at the end the scaling ratio (events/s with N collectors ÷ with 1) and
 * "boxes per collector core" (README, Operations). Everything shares this machine's cores: the figures are worth
 * what the load average says.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createApiToken } from '../cloud/auth/tokens.js';
import { openStore } from '../cloud/store/index.js';
import { dropSchema } from '../cloud/test/support/backends.js';
import { PrivateBroker, freePort } from '../cloud/test/support-ingest/broker.js';
import { CollectorProcess, processCpuSeconds } from '../cloud/test/support-scale/collectors.js';
import { jpegOfAbout } from '../cloud/test/support-scale/jpeg.js';
import { startS3Process } from '../cloud/test/support-scale/s3-process.js';
import { CollectorPools, SimBox, pairThroughApi, type AckRecord } from '../cloud/test/support-scale/sim-box.js';
import { POSTGRES_URL, tcpReachable } from '../shared/testing/index.js';

const { values: flags } = parseArgs({
  options: {
    boxes: { type: 'string', default: '2000' },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    idle: { type: 'string', default: '10' },
    'event-every': { type: 'string', default: '10' },
    heartbeat: { type: 'string', default: '30' },
    'thumb-kb': { type: 'string', default: '20' },
    'mqtt-share': { type: 'string', default: '0.5' },
    blob: { type: 'string', default: 's3' },
    collectors: { type: 'string', default: '1,3' },
  },
});
const BOXES = Number(flags.boxes);
const DURATION_MS = Number(flags.duration) * 1000;
const WARMUP_MS = Number(flags.warmup) * 1000;
const IDLE_MS = Number(flags.idle) * 1000;
const EVENT_EVERY_MS = Number(flags['event-every']) * 1000;
const HEARTBEAT_MS = Number(flags.heartbeat) * 1000;
const THUMB_BYTES = Number(flags['thumb-kb']) * 1000;
const MQTT_SHARE = Number(flags['mqtt-share']);
const BLOB = flags.blob === 'fs' ? 'fs' : 's3';
const PHASES = String(flags.collectors).split(',').map(Number);

const cleanup: (() => Promise<unknown>)[] = [];
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const load = (): string => loadavg()[0]!.toFixed(2);

/** CPU seconds so far of every process whose command line contains `needle` (PostgreSQL backends, the broker, s3rver). */
function cpuOfProcesses(needle: string): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(needle)) continue;
    } catch {
      continue;
    }
    total += processCpuSeconds(Number(entry)) ?? 0;
  }
  return total;
}

function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

async function main(): Promise<void> {
  if (![BOXES, DURATION_MS, EVENT_EVERY_MS, HEARTBEAT_MS, THUMB_BYTES].every((n) => Number.isFinite(n) && n > 0) || !(MQTT_SHARE >= 0 && MQTT_SHARE <= 1)) {
    throw new Error('flags must be positive numbers (--mqtt-share 0..1)');
  }
  if (!(await tcpReachable('127.0.0.1', Number(new URL(POSTGRES_URL).port || 5432)))) throw new Error(`PostgreSQL is not reachable at ${POSTGRES_URL}`);
  say(`bench:fleet — ${BOXES} boxes (${Math.round(BOXES * MQTT_SHARE)} MQTT, ${BOXES - Math.round(BOXES * MQTT_SHARE)} HTTP), an event every ${EVENT_EVERY_MS / 1000} s per box with a ${THUMB_BYTES / 1000} KB thumbnail, heartbeat every ${HEARTBEAT_MS / 1000} s; blobs ${BLOB}; ${cpus().length} cores, load ${load()}`);

  const dir = mkdtempSync(join(tmpdir(), 'vigil-fleet-'));
  cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  const schema = `vigil_fleet_${process.pid}`;
  await dropSchema(schema);
  cleanup.push(() => dropSchema(schema));
  const broker = await PrivateBroker.start();
  cleanup.push(() => broker.close());
  let s3Pid: number | undefined;
  const blob =
    BLOB === 's3'
      ? await (async () => {
          const s3 = await startS3Process('vigil-fleet');
          s3Pid = s3.pid;
          cleanup.push(() => s3.close());
          return { kind: 's3', s3: { bucket: s3.bucket, endpoint: s3.endpoint, access_key_id: s3.accessKeyId, secret_access_key: s3.secretAccessKey } };
        })()
      : { kind: 'fs', dir: join(dir, 'thumbnails') };
  // The collectors' PostgreSQL connections carry an application name, so their backends' CPU can be told apart.
  const appName = `vigil-fleet-${process.pid}`;
  const dbUrl = `${POSTGRES_URL}${POSTGRES_URL.includes('?') ? '&' : '?'}application_name=${appName}`;
  const monitor = new pg.Client({ connectionString: POSTGRES_URL });
  await monitor.connect();
  cleanup.push(() => monitor.end());
  const backendPids = async (): Promise<number[]> =>
    (await monitor.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [appName])).rows.map((r) => r.pid);
  /** CPU seconds so far of what the collectors lean on: their PostgreSQL backends, the broker, s3rver. */
  const others = async (pids: Set<number>): Promise<{ pg: number; broker: number; s3: number }> => {
    for (const pid of await backendPids()) pids.add(pid);
    let pgCpu = 0;
    for (const pid of pids) pgCpu += processCpuSeconds(pid) ?? 0;
    return { pg: pgCpu, broker: cpuOfProcesses(broker.dir), s3: s3Pid !== undefined ? (processCpuSeconds(s3Pid) ?? 0) : 0 };
  };
  const configFile = join(dir, 'cloud.yaml');
  writeFileSync(
    configFile,
    JSON.stringify({
      database: { url: dbUrl, schema },
      blob,
      secrets: { key: Buffer.alloc(32, 5).toString('base64') },
      log: { level: 'warn' },
      mqtt: { url: broker.url },
      pairing: { mqtt_url: broker.url, attempts_burst: 100_000, attempts_per_minute: 1_000_000, global_attempts_burst: 100_000, global_attempts_per_minute: 1_000_000 },
    }),
  );
  const most = Math.max(...PHASES);
  const ports = await Promise.all(Array.from({ length: most }, () => freePort()));
  // A data dir each, as on separate hosts (the MQTT client id of each is kept there; the group comes from the database).
  const collectors = ports.map((p, i) => new CollectorProcess(`c${i + 1}`, p, configFile, { VIGIL_CLOUD__DATA_DIR: join(dir, `data-c${i + 1}`) }));
  cleanup.push(() => Promise.all(collectors.map((c) => c.kill('SIGTERM', 5000))));
  await collectors[0]!.start();

  const store = await openStore({ dataDir: dir, url: POSTGRES_URL, schema, poolMax: 1 });
  const admin = (await createApiToken(store, { tenantId: 'default', name: 'fleet', role: 'admin' })).token;
  await store.close();

  let active = 1;
  const pools = new CollectorPools(() => collectors.slice(0, active).map((c) => c.url), 32);
  cleanup.push(() => pools.close());
  const jpeg = await jpegOfAbout(THUMB_BYTES);
  const mqttBoxes = Math.round(BOXES * MQTT_SHARE);
  const boxes: SimBox[] = [];
  const pairStart = Date.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < BOXES) {
        const i = next++;
        const paired = await pairThroughApi(collectors[0]!.url, admin, `sim${i}`);
        boxes[i] = i < mqttBoxes ? await SimBox.mqtt(paired, broker.url, { ackTimeoutMs: 30_000 }) : await SimBox.http(paired, pools);
      }
    }),
  );
  cleanup.push(() => Promise.all(boxes.map((b) => b.close())));
  say(`paired and connected ${BOXES} boxes through the API in ${((Date.now() - pairStart) / 1000).toFixed(1)} s; thumbnail ${jpeg.length} bytes`);

  // Each box runs until `until`: heartbeats on their period, events with exponential gaps, one message at a time.
  const run = (until: number, events: boolean): Promise<unknown> =>
    Promise.all(
      boxes.map(async (box) => {
        let nextHb = Date.now() + Math.random() * HEARTBEAT_MS;
        let nextEvent = events ? Date.now() - EVENT_EVERY_MS * Math.log(Math.random()) : Infinity;
        for (;;) {
          const due = Math.min(nextHb, nextEvent);
          if (due >= until || Date.now() >= until) return; // a backlog left at the end is not drained
          if (due > Date.now()) await sleep(due - Date.now());
          if (nextHb <= Date.now()) {
            nextHb += HEARTBEAT_MS;
            hbSent.push(Date.now());
            await box.sendHeartbeat();
          }
          if (nextEvent <= Date.now()) {
            nextEvent += -EVENT_EVERY_MS * Math.log(Math.random());
            await box.sendEvent({ camera: 'front', jpeg });
          }
        }
      }),
    );
  const hbSent: number[] = [];
  const acksIn = (t0: number, t1: number): AckRecord[] => boxes.flatMap((b) => b.log.filter((a) => a.ackedAt >= t0 && a.ackedAt < t1));

  const results: Array<{ collectors: number; eventsPerS: number; cpuMsPerEvent: number; cpuMsPerEventOnly: number }> = [];
  let hbCpuMs = NaN;
  if (IDLE_MS > 0) {
    const t0 = Date.now();
    const cpu0 = collectors[0]!.cpuSeconds();
    await run(t0 + IDLE_MS, false);
    const t1 = Date.now();
    const hbs = hbSent.filter((t) => t >= t0 && t < t1).length;
    const cpu = collectors[0]!.cpuSeconds() - cpu0;
    hbCpuMs = (cpu * 1000) / Math.max(1, hbs);
    say(`idle   1 collector: ${(hbs / ((t1 - t0) / 1000)).toFixed(1)} heartbeats/s, collector CPU ${((cpu / ((t1 - t0) / 1000)) * 100).toFixed(1)}% of a core = ${hbCpuMs.toFixed(2)} ms per heartbeat; load ${load()}`);
  }

  for (const n of PHASES) {
    while (active < n) await collectors[active++]!.start();
    active = n;
    const start = Date.now();
    const until = start + WARMUP_MS + DURATION_MS;
    const running = run(until, true);
    await sleep(WARMUP_MS);
    const t0 = Date.now();
    const cpu0 = collectors.slice(0, n).map((c) => c.cpuSeconds());
    const pgPids = new Set<number>();
    const others0 = await others(pgPids);
    const self0 = process.cpuUsage();
    await sleep(DURATION_MS);
    const t1 = Date.now();
    const cpu = collectors.slice(0, n).map((c, i) => c.cpuSeconds() - cpu0[i]!);
    const others1 = await others(pgPids);
    const self = process.cpuUsage(self0);
    const loadNow = load();
    await running;
    const seconds = (t1 - t0) / 1000;
    const share = (cpuSeconds: number): string => `${((cpuSeconds / seconds) * 100).toFixed(0)}%`;
    const acks = acksIn(t0, t1);
    const bad = acks.filter((a) => a.status !== 'accepted' && a.status !== 'duplicate');
    const ended = acks.filter((a) => a.kind === 'event' && a.rev === 1).length;
    const latEvents = acks.filter((a) => a.kind === 'event').map((a) => a.ackedAt - a.sentAt);
    const latThumbs = acks.filter((a) => a.kind === 'thumbnail').map((a) => a.ackedAt - a.sentAt);
    const eventsPerS = ended / seconds;
    const cpuTotal = cpu.reduce((a, b) => a + b, 0);
    const offered = (BOXES * 1000) / EVENT_EVERY_MS;
    const hbs = hbSent.filter((t) => t >= t0 && t < t1).length;
    const cpuMsPerEventOnly = Number.isFinite(hbCpuMs) ? (cpuTotal * 1000 - hbCpuMs * hbs) / Math.max(1, ended) : NaN;
    results.push({ collectors: n, eventsPerS, cpuMsPerEvent: (cpuTotal * 1000) / Math.max(1, ended), cpuMsPerEventOnly });
    say(
      [
        `run    ${n} collector${n > 1 ? 's' : ' '}: ${eventsPerS.toFixed(1)} events/s (offered ${offered.toFixed(1)}), ${(acks.length / seconds).toFixed(1)} messages/s acked`,
        `       ack latency events p50 ${pct(latEvents, 50)} ms p99 ${pct(latEvents, 99)} ms; thumbnails p50 ${pct(latThumbs, 50)} ms p99 ${pct(latThumbs, 99)} ms`,
        `       CPU ${collectors
          .slice(0, n)
          .map((c, i) => `${c.name} ${((cpu[i]! / seconds) * 100).toFixed(0)}%`)
          .join(', ')} = ${((cpuTotal * 1000) / Math.max(1, ended)).toFixed(2)} collector CPU-ms per event (heartbeats included)`,
        `       PostgreSQL backends ${share(others1.pg - others0.pg)}, broker ${share(others1.broker - others0.broker)}${BLOB === 's3' ? `, s3rver ${share(others1.s3 - others0.s3)}` : ''}, load generator ${share((self.user + self.system) / 1e6)}`,
        `       load ${loadNow}; not acked ${bad.length}`,
      ].join('\n'),
    );
  }

  const base = results[0];
  for (const r of results.slice(1)) {
    if (base) say(`scaling ${base.collectors} → ${r.collectors} collectors: ${(r.eventsPerS / base.eventsPerS).toFixed(2)}× events/s (${r.collectors / base.collectors}× would be linear)`);
  }
  const best = results.reduce((a, b) => (b.cpuMsPerEvent < a.cpuMsPerEvent ? b : a), results[0]!);
  if (best) {
    const eventsPerBoxS = 1000 / EVENT_EVERY_MS;
    const atThisRate = 1 / ((best.cpuMsPerEvent / 1000) * eventsPerBoxS);
    say(`sizing: ${best.cpuMsPerEvent.toFixed(2)} collector CPU-ms per event (with its thumbnail, job and share of heartbeats) → about ${Math.round(atThisRate)} boxes per collector core at one event per ${EVENT_EVERY_MS / 1000} s per box`);
    if (Number.isFinite(best.cpuMsPerEventOnly)) {
      for (const perHour of [6, 60]) {
        const coreShare = (hbCpuMs * (3600_000 / HEARTBEAT_MS) + best.cpuMsPerEventOnly * perHour) / 3600_000;
        say(`        ${perHour} events per box per hour: about ${Math.round(1 / coreShare)} boxes per collector core (${best.cpuMsPerEventOnly.toFixed(2)} ms per event without heartbeats, ${hbCpuMs.toFixed(2)} ms per heartbeat)`);
      }
    }
  }
}

const stop = async (): Promise<void> => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
};
process.once('SIGINT', () => void stop().then(() => process.exit(130)));
main()
  .then(stop)
  .then(() => process.exit(0))
  .catch(async (err: unknown) => {
    process.stderr.write(`bench:fleet: ${(err as Error).stack ?? String(err)}\n`);
    await stop();
    process.exit(1);
  });
