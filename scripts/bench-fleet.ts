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
const MQTT_BOXES = Math.round(BOXES * MQTT_SHARE);

const cleanup: (() => Promise<unknown>)[] = [];
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const load = (): string => loadavg()[0]!.toFixed(2);
/** CPU seconds over `seconds` as % of one core. */
const share = (cpuSeconds: number, seconds: number): string => `${((cpuSeconds / seconds) * 100).toFixed(0)}%`;

/** CPU seconds so far of every process whose command line contains `needle`. */
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

interface OthersCpu {
  pg: number;
  broker: number;
  s3: number;
}

/** The services and the collectors (not started), on loopback. */
interface Setup {
  collectors: CollectorProcess[];
  broker: PrivateBroker;
  /** CPU seconds so far of what the collectors lean on; `pids` collects the PostgreSQL backends seen. */
  others(pids: Set<number>): Promise<OthersCpu>;
  adminToken(): Promise<string>;
}

async function setUp(): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-fleet-'));
  cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  const schema = `vigil_fleet_${process.pid}`;
  await dropSchema(schema);
  cleanup.push(() => dropSchema(schema));
  const broker = await PrivateBroker.start();
  cleanup.push(() => broker.close());
  let s3Pid: number | undefined;
  let blob: Record<string, unknown> = { kind: 'fs', dir: join(dir, 'thumbnails') };
  if (BLOB === 's3') {
    const s3 = await startS3Process('vigil-fleet');
    cleanup.push(() => s3.close());
    s3Pid = s3.pid;
    const { bucket, endpoint, accessKeyId, secretAccessKey } = s3;
    blob = { kind: 's3', s3: { bucket, endpoint, access_key_id: accessKeyId, secret_access_key: secretAccessKey } };
  }
  // The collectors' PostgreSQL connections carry an application name, so their backends' CPU can be told apart.
  const appName = `vigil-fleet-${process.pid}`;
  const dbUrl = `${POSTGRES_URL}${POSTGRES_URL.includes('?') ? '&' : '?'}application_name=${appName}`;
  const monitor = new pg.Client({ connectionString: POSTGRES_URL });
  await monitor.connect();
  cleanup.push(() => monitor.end());
  const many = 1_000_000;
  const configFile = join(dir, 'cloud.yaml');
  const config = {
    database: { url: dbUrl, schema },
    blob,
    secrets: { key: Buffer.alloc(32, 5).toString('base64') },
    log: { level: 'warn' },
    mqtt: { url: broker.url },
    pairing: {
      mqtt_url: broker.url,
      attempts_burst: many,
      attempts_per_minute: many,
      global_attempts_burst: many,
      global_attempts_per_minute: many,
    },
  };
  writeFileSync(configFile, JSON.stringify(config));
  const ports = await Promise.all(Array.from({ length: Math.max(...PHASES) }, () => freePort()));
  // A data dir each, as on separate hosts (each keeps its MQTT client id there; the group comes from the database).
  const collectors = ports.map((p, i) => {
    const name = `c${i + 1}`;
    return new CollectorProcess(name, p, configFile, { VIGIL_CLOUD__DATA_DIR: join(dir, `data-${name}`) });
  });
  cleanup.push(() => Promise.all(collectors.map((c) => c.kill('SIGTERM', 5000))));
  return {
    collectors,
    broker,
    async others(pids) {
      const sql = 'SELECT pid FROM pg_stat_activity WHERE application_name = $1';
      for (const r of (await monitor.query<{ pid: number }>(sql, [appName])).rows) pids.add(r.pid);
      let pgCpu = 0;
      for (const pid of pids) pgCpu += processCpuSeconds(pid) ?? 0;
      const s3 = s3Pid !== undefined ? (processCpuSeconds(s3Pid) ?? 0) : 0;
      return { pg: pgCpu, broker: cpuOfProcesses(broker.dir), s3 };
    },
    async adminToken() {
      const store = await openStore({ dataDir: dir, url: POSTGRES_URL, schema, poolMax: 1 });
      try {
        return (await createApiToken(store, { tenantId: 'default', name: 'fleet', role: 'admin' })).token;
      } finally {
        await store.close();
      }
    },
  };
}

/** Pairs every box through the first collector's API (16 at a time) and connects the MQTT ones. */
async function pairFleet(s: Setup, pools: CollectorPools): Promise<SimBox[]> {
  const admin = await s.adminToken();
  const boxes: SimBox[] = [];
  cleanup.push(() => Promise.all(boxes.map((b) => b.close())));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < BOXES) {
      const i = next++;
      const paired = await pairThroughApi(s.collectors[0]!.url, admin, `sim${i}`);
      const mqtt = i < MQTT_BOXES;
      boxes[i] = mqtt
        ? await SimBox.mqtt(paired, s.broker.url, { ackTimeoutMs: 30_000 })
        : await SimBox.http(paired, pools);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return boxes;
}

/**
 * Every box until `until`: heartbeats on their period, events (if `events`) with exponential gaps, one message at a
 * time; what is still queued at `until` is dropped (never drained). Heartbeat send times go to `hbSent`.
 */
function runFleet(boxes: SimBox[], jpeg: Buffer, until: number, events: boolean, hbSent: number[]): Promise<unknown> {
  const gap = (): number => -EVENT_EVERY_MS * Math.log(Math.random());
  return Promise.all(
    boxes.map(async (box) => {
      let nextHb = Date.now() + Math.random() * HEARTBEAT_MS;
      let nextEvent = events ? Date.now() + gap() : Infinity;
      for (;;) {
        const due = Math.min(nextHb, nextEvent);
        if (due >= until || Date.now() >= until) return;
        if (due > Date.now()) await sleep(due - Date.now());
        if (nextHb <= Date.now()) {
          nextHb += HEARTBEAT_MS;
          hbSent.push(Date.now());
          await box.sendHeartbeat();
        }
        if (nextEvent <= Date.now()) {
          nextEvent += gap();
          await box.sendEvent({ camera: 'front', jpeg });
        }
      }
    }),
  );
}

interface PhaseResult {
  collectors: number;
  eventsPerS: number;
  /** Collector CPU per fully acked event, heartbeats of the window included. */
  cpuMsPerEvent: number;
  /** The same without the heartbeats' share (NaN without an idle phase). */
  cpuMsPerEventOnly: number;
}

async function loadPhase(s: Setup, n: number, boxes: SimBox[], jpeg: Buffer, hbCpuMs: number): Promise<PhaseResult> {
  const active = s.collectors.slice(0, n);
  const hbSent: number[] = [];
  const running = runFleet(boxes, jpeg, Date.now() + WARMUP_MS + DURATION_MS, true, hbSent);
  await sleep(WARMUP_MS);
  const t0 = Date.now();
  const cpu0 = active.map((c) => c.cpuSeconds());
  const pgPids = new Set<number>();
  const others0 = await s.others(pgPids);
  const self0 = process.cpuUsage();
  await sleep(DURATION_MS);
  const t1 = Date.now();
  const cpu = active.map((c, i) => c.cpuSeconds() - cpu0[i]!);
  const others1 = await s.others(pgPids);
  const self = process.cpuUsage(self0);
  const loadNow = load();
  await running;

  const seconds = (t1 - t0) / 1000;
  const acks: AckRecord[] = boxes.flatMap((b) => b.log.filter((a) => a.ackedAt >= t0 && a.ackedAt < t1));
  const bad = acks.filter((a) => a.status !== 'accepted' && a.status !== 'duplicate').length;
  const ended = Math.max(1, acks.filter((a) => a.kind === 'event' && a.rev === 1).length);
  const latency = (kind: AckRecord['kind']): number[] =>
    acks.filter((a) => a.kind === kind).map((a) => a.ackedAt - a.sentAt);
  const [events, thumbs] = [latency('event'), latency('thumbnail')];
  const cpuTotal = cpu.reduce((a, b) => a + b, 0);
  const hbs = hbSent.filter((t) => t >= t0 && t < t1).length;
  const result: PhaseResult = {
    collectors: n,
    eventsPerS: ended / seconds,
    cpuMsPerEvent: (cpuTotal * 1000) / ended,
    cpuMsPerEventOnly: (cpuTotal * 1000 - hbCpuMs * hbs) / ended,
  };
  const offered = (BOXES * 1000) / EVENT_EVERY_MS;
  const perCollector = active.map((c, i) => `${c.name} ${share(cpu[i]!, seconds)}`).join(', ');
  const s3 = BLOB === 's3' ? `, s3rver ${share(others1.s3 - others0.s3, seconds)}` : '';
  say(
    [
      `run    ${n} collector${n > 1 ? 's' : ' '}: ${result.eventsPerS.toFixed(1)} events/s ` +
        `(offered ${offered.toFixed(1)}), ` +
        `${(acks.length / seconds).toFixed(1)} messages/s acked`,
      `       ack latency events p50 ${pct(events, 50)} ms p99 ${pct(events, 99)} ms; ` +
        `thumbnails p50 ${pct(thumbs, 50)} ms p99 ${pct(thumbs, 99)} ms`,
      `       CPU ${perCollector} = ${result.cpuMsPerEvent.toFixed(2)} collector CPU-ms per event ` +
        '(heartbeats included)',
      `       PostgreSQL backends ${share(others1.pg - others0.pg, seconds)}, ` +
        `broker ${share(others1.broker - others0.broker, seconds)}${s3}, ` +
        `load generator ${share((self.user + self.system) / 1e6, seconds)}`,
      `       load ${loadNow}; not acked ${bad}`,
    ].join('\n'),
  );
  return result;
}

/** Heartbeats only, one collector: its CPU per heartbeat. */
async function idlePhase(s: Setup, boxes: SimBox[], jpeg: Buffer): Promise<number> {
  const c = s.collectors[0]!;
  const hbSent: number[] = [];
  const t0 = Date.now();
  const cpu0 = c.cpuSeconds();
  await runFleet(boxes, jpeg, t0 + IDLE_MS, false, hbSent);
  const seconds = (Date.now() - t0) / 1000;
  const cpu = c.cpuSeconds() - cpu0;
  const hbCpuMs = (cpu * 1000) / Math.max(1, hbSent.length);
  say(
    `idle   1 collector: ${(hbSent.length / seconds).toFixed(1)} heartbeats/s, collector CPU ${share(cpu, seconds)} ` +
      `of a core = ${hbCpuMs.toFixed(2)} ms per heartbeat; load ${load()}`,
  );
  return hbCpuMs;
}

function report(results: PhaseResult[], hbCpuMs: number): void {
  const base = results[0];
  if (!base) return;
  for (const r of results.slice(1)) {
    const ratio = (r.eventsPerS / base.eventsPerS).toFixed(2);
    const linear = r.collectors / base.collectors;
    say(`scaling ${base.collectors} → ${r.collectors} collectors: ${ratio}× events/s (${linear}× would be linear)`);
  }
  const best = results.reduce((a, b) => (b.cpuMsPerEvent < a.cpuMsPerEvent ? b : a), base);
  const atThisRate = 1 / ((best.cpuMsPerEvent / 1000) * (1000 / EVENT_EVERY_MS));
  say(
    `sizing: ${best.cpuMsPerEvent.toFixed(2)} collector CPU-ms per event (with its thumbnail, job and share of ` +
      `heartbeats) → about ${Math.round(atThisRate)} boxes per collector core ` +
      `at one event per ${EVENT_EVERY_MS / 1000} s per box`,
  );
  if (!Number.isFinite(best.cpuMsPerEventOnly)) return;
  for (const perHour of [6, 60]) {
    const coreShare = (hbCpuMs * (3600_000 / HEARTBEAT_MS) + best.cpuMsPerEventOnly * perHour) / 3600_000;
    say(
      `        ${perHour} events per box per hour: about ${Math.round(1 / coreShare)} boxes per collector core ` +
        `(${best.cpuMsPerEventOnly.toFixed(2)} ms per event without heartbeats, ` +
        `${hbCpuMs.toFixed(2)} ms per heartbeat)`,
    );
  }
}

async function main(): Promise<void> {
  const numbers = [BOXES, DURATION_MS, EVENT_EVERY_MS, HEARTBEAT_MS, THUMB_BYTES];
  if (!numbers.every((n) => Number.isFinite(n) && n > 0) || !(MQTT_SHARE >= 0 && MQTT_SHARE <= 1)) {
    throw new Error('flags must be positive numbers (--mqtt-share 0..1)');
  }
  const pgPort = Number(new URL(POSTGRES_URL).port || 5432);
  if (!(await tcpReachable('127.0.0.1', pgPort))) throw new Error(`PostgreSQL is not reachable at ${POSTGRES_URL}`);
  say(
    `bench:fleet — ${BOXES} boxes (${MQTT_BOXES} MQTT, ${BOXES - MQTT_BOXES} HTTP), ` +
      `an event every ${EVENT_EVERY_MS / 1000} s ` +
      `per box with a ${THUMB_BYTES / 1000} KB thumbnail, heartbeat every ${HEARTBEAT_MS / 1000} s; blobs ${BLOB}; ` +
      `${cpus().length} cores, load ${load()}`,
  );
  const s = await setUp();
  await s.collectors[0]!.start();
  let active = 1;
  const pools = new CollectorPools(() => s.collectors.slice(0, active).map((c) => c.url), 32);
  cleanup.push(() => pools.close());
  const jpeg = await jpegOfAbout(THUMB_BYTES);
  const pairStart = Date.now();
  const boxes = await pairFleet(s, pools);
  const pairS = ((Date.now() - pairStart) / 1000).toFixed(1);
  say(`paired and connected ${BOXES} boxes through the API in ${pairS} s; thumbnail ${jpeg.length} bytes`);

  const hbCpuMs = IDLE_MS > 0 ? await idlePhase(s, boxes, jpeg) : NaN;
  const results: PhaseResult[] = [];
  for (const n of PHASES) {
    while (active < n) await s.collectors[active++]!.start();
    active = n;
    results.push(await loadPhase(s, n, boxes, jpeg, hbCpuMs));
  }
  report(results, hbCpuMs);
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
