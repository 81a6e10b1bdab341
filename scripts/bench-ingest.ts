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
 *
 * The phases are in bench-ingest/ (http.ts, mqtt.ts, postgres.ts), the child side in bench-ingest/roles.ts.
 */
import { loadavg } from 'node:os';
import { benchHttp } from './bench-ingest/http.js';
import { benchMqtt } from './bench-ingest/mqtt.js';
import { benchPostgres } from './bench-ingest/postgres.js';
import { roleBare, roleCollector } from './bench-ingest/roles.js';
import { SECONDS, WARMUP_MS } from './bench-ingest/common.js';

async function main(): Promise<void> {
  const roleAt = process.argv.indexOf('--role');
  if (roleAt >= 0) {
    const [role, dir, mode, group, synchronous] = process.argv.slice(roleAt + 1);
    if (role === 'bare') return roleBare();
    return roleCollector(dir!, mode as 'http' | 'mqtt', group!, synchronous === 'normal' ? 'normal' : 'full');
  }
  const [l1, l5, l15] = loadavg().map((x) => x.toFixed(2));
  console.log(
    `bench:ingest — loopback, ${SECONDS} s per phase after ${WARMUP_MS / 1000} s warm-up, node ` +
      `${process.version}, load average ${l1} ${l5} ${l15}`,
  );
  const http = await benchHttp();
  const ratio = (x: number): string => (x / http.bare).toFixed(2);
  console.log(
    `ratios to bare req/s: 1 event/request FULL ${ratio(http.singleFull)} (goal ≥ 0.5), NORMAL ` +
      `${ratio(http.singleNormal)}; 20 events/request FULL ${ratio(http.batchFull)}`,
  );
  const mq = await benchMqtt();
  const pgRate = await benchPostgres();
  console.log(
    `summary: bare_req_per_s=${http.bare.toFixed(0)} http_full_events_per_s=${http.singleFull.toFixed(0)} ` +
      `ratio_full=${ratio(http.singleFull)} ` +
      `http_normal_events_per_s=${http.singleNormal.toFixed(0)} ratio_normal=${ratio(http.singleNormal)} ` +
      `http_batch20_full_events_per_s=${http.batchFull.toFixed(0)} ` +
      `mqtt_events_per_s=${mq === undefined ? 'skipped' : mq.toFixed(0)} ` +
      `pg_batch100_events_per_s=${pgRate === undefined ? 'skipped' : pgRate.toFixed(0)} ` +
      `load1=${loadavg()[0]!.toFixed(2)}`,
  );
}

await main();
