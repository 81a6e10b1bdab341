/**
 * `npm run bench:ingest` — signed ingest throughput of the collector, on loopback only, bounded in time.
 *
 * 1. Bare node:http server answering 200 (the ceiling of this machine for the same request shape).
 * 2. HTTP ingest: signed single-event POSTs into SQLite (WAL) through the real routes and the real store sink,
 *    keep-alive, undici Pool with one request in flight per connection, at 4 and at 64 connections: with
 *    `synchronous=FULL` (the default: every commit fsynced) and with `NORMAL` (WAL fsynced at checkpoints only);
 *    batches of 20 events per request with FULL at 4 connections. Printed as events/s and as a ratio to (1) at the
 *    same connection count, measured in the same run (issue 15 goals: FULL ≥ 0.25 at 4, ≥ 0.35 at 64; NORMAL ≥ 0.35).
 * 3. MQTT ingest through Mosquitto at 127.0.0.1:1883 (SQLite FULL): 4 devices, each with up to 16 unacked events in
 *    flight, counted when the signed ack comes back (end to end: broker → collector → SQLite → ack → device).
 * 4. PostgreSQL (127.0.0.1:5432, when reachable): the store alone, 4 writers storing 100-event batches.
 *
 * Servers run in child processes (this file with --role), the load generator in this one, so they do not share an
 * event loop. Each phase runs BENCH_SECONDS (default 5) after a 1 s warm-up. BENCH_PHASES=http,mqtt,pg (default all)
 * picks phases. At the end the collector counts the
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
import { HTTP_CONNECTIONS, PHASES, SECONDS, WARMUP_MS } from './bench-ingest/common.js';

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
  const http = PHASES.has('http') ? await benchHttp() : undefined;
  const figures: string[] = [];
  if (http) {
    const ratios: string[] = [];
    for (const n of HTTP_CONNECTIONS) {
      const ratio = (x: number | undefined): string => ((x ?? 0) / http.bare[n]!).toFixed(2);
      ratios.push(
        `${n} conns: 1 event/request FULL ${ratio(http.singleFull[n])}, NORMAL ${ratio(http.singleNormal[n])}`,
      );
      figures.push(
        `bare_req_per_s_${n}=${http.bare[n]!.toFixed(0)} http_full_events_per_s_${n}=` +
          `${http.singleFull[n]!.toFixed(0)} ratio_full_${n}=${ratio(http.singleFull[n])} ` +
          `http_normal_events_per_s_${n}=${http.singleNormal[n]!.toFixed(0)} ratio_normal_${n}=` +
          `${ratio(http.singleNormal[n])}`,
      );
    }
    const first = HTTP_CONNECTIONS[0];
    console.log(
      `ratios to bare req/s at the same connection count: ${ratios.join('; ')}; 20 events/request FULL ` +
        `${(http.batchFull / http.bare[first]!).toFixed(2)} (goals: FULL ≥ 0.25 at 4 and ≥ 0.35 at 64, NORMAL ≥ 0.35)`,
    );
    figures.push(`http_batch20_full_events_per_s=${http.batchFull.toFixed(0)}`);
  }
  const mq = PHASES.has('mqtt') ? await benchMqtt() : undefined;
  const pgRate = PHASES.has('pg') ? await benchPostgres() : undefined;
  console.log(
    `summary: ${figures.join(' ')} ` +
      `mqtt_events_per_s=${mq === undefined ? 'skipped' : mq.toFixed(0)} ` +
      `pg_batch100_events_per_s=${pgRate === undefined ? 'skipped' : pgRate.toFixed(0)} ` +
      `load1=${loadavg()[0]!.toFixed(2)}`,
  );
}

await main();
