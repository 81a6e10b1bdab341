import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { signHttpRequest } from '../../shared/signing/index.js';
import { ask, startChild, stopChild } from './children.js';
import { creds, event, HTTP_CONNECTIONS, line, SECONDS, WARMUP_MS, type LoadResult } from './common.js';

/**
 * The HTTP phases: a bare node:http server (the machine's ceiling for the request shape), then signed ingest into a
 * collector child with SQLite `synchronous=FULL` (single events and 20-event batches) and `NORMAL` (single events).
 * Every single-event phase runs at each of HTTP_CONNECTIONS (4 and 64 connections, one request in flight each), and
 * the bare server is measured at the same counts, so each ratio compares like with like in the same run. Each
 * single-event phase also prints the collector's CPU per request (from /proc, Linux).
 */

/**
 * CPU time (user + system, ms, all threads) of a process so far, from /proc (Linux; undefined elsewhere). On a shared
 * machine it says more than a rate: what one request costs the collector, whatever else runs.
 */
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime in USER_HZ (100 per second)
  } catch {
    return undefined;
  }
}

/** `connections` workers, one request in flight each, for SECONDS after a warm-up; `pid`: whose CPU to count. */
async function httpLoad(
  port: number,
  connections: number,
  makeRequest: (worker: number) => { path: string; headers: Record<string, string>; body: Buffer; events: number },
  pid?: number,
): Promise<LoadResult & { cpuMsPerRequest?: number }> {
  const pool = new Pool(`http://127.0.0.1:${port}`, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
  });
  const result: LoadResult = { requests: 0, events: 0, seconds: SECONDS, latencies: [], failures: 0 };
  const start = Date.now();
  const measureFrom = start + WARMUP_MS;
  const end = measureFrom + SECONDS * 1000;
  let firstFailure = '';
  let cpuFrom: number | undefined;
  const cpuStart = setTimeout(() => {
    cpuFrom = cpuMs(pid);
  }, WARMUP_MS);
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
  await Promise.all(Array.from({ length: connections }, (_, w) => worker(w)));
  const cpuTo = cpuMs(pid);
  clearTimeout(cpuStart);
  await pool.close();
  if (firstFailure) console.error(`  ${result.failures} failed requests, first: ${firstFailure}`);
  if (cpuFrom === undefined || cpuTo === undefined || result.requests === 0) return result;
  return { ...result, cpuMsPerRequest: (cpuTo - cpuFrom) / result.requests };
}

/** Rates keyed by connection count. */
export type ByConnections = Record<number, number>;

export interface HttpFigures {
  /** Bare node:http req/s at each connection count. */
  bare: ByConnections;
  singleFull: ByConnections;
  singleNormal: ByConnections;
  /** 20 events/request, FULL, at the first connection count. */
  batchFull: number;
}

/** Signed single-event load at each connection count (and optionally 20-event batches) against a collector child. */
async function benchCollector(
  synchronous: 'full' | 'normal',
  withBatch: boolean,
): Promise<{ single: ByConnections; batch?: number }> {
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
    const single: ByConnections = {};
    let acked = 0;
    for (const n of HTTP_CONNECTIONS) {
      const r = await httpLoad(
        col.ready.port!,
        n,
        (w) => signedPost(w, event(devices[w % devices.length]!.deviceId), 1),
        col.child.pid,
      );
      single[n] = line(`HTTP ingest, 1 event/request, SQLite ${mode}, ${n} conns`, r, 'events');
      if (r.cpuMsPerRequest !== undefined) {
        console.log(
          `  collector CPU ${(r.cpuMsPerRequest * 1000).toFixed(0)} µs/request (all threads, kernel included)`,
        );
      }
      acked += r.events;
    }
    let batchRate: number | undefined;
    if (withBatch) {
      const n = HTTP_CONNECTIONS[0];
      const batch = await httpLoad(col.ready.port!, n, (w) => {
        const id = devices[w % devices.length]!.deviceId;
        return signedPost(w, { v: 1, events: Array.from({ length: 20 }, () => event(id)) }, 20);
      });
      batchRate = line(`HTTP ingest, 20 events/request, SQLite ${mode}, ${n} conns`, batch, 'events');
      acked += batch.events;
    }
    const { stored } = await ask<{ stored: number }>(col.child, 'count');
    console.log(
      `  stored rows ${stored} ≥ acked in the measured windows ${acked}: ${stored >= acked ? 'ok' : 'MISSING ROWS'}`,
    );
    return { single, ...(batchRate !== undefined ? { batch: batchRate } : {}) };
  } finally {
    await stopChild(col.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchHttp(): Promise<HttpFigures> {
  const sampleBody = Buffer.from(JSON.stringify(event('dev_bench')));
  const bare = await startChild(['--role', 'bare']);
  const bareRates: ByConnections = {};
  try {
    for (const n of HTTP_CONNECTIONS) {
      const r = await httpLoad(bare.ready.port!, n, () => ({
        path: '/v1/devices/dev_bench/events',
        headers: { 'content-type': 'application/json' },
        body: sampleBody,
        events: 1,
      }));
      bareRates[n] = line(`bare node:http 200, ${n} conns`, r, 'req');
    }
  } finally {
    await stopChild(bare.child);
  }
  const full = await benchCollector('full', true);
  const normal = await benchCollector('normal', false);
  return { bare: bareRates, singleFull: full.single, singleNormal: normal.single, batchFull: full.batch! };
}
