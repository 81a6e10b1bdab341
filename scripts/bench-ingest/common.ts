import { loadavg } from 'node:os';
import { sampleEvent } from '../../shared/testing/events.js';
import type { DeviceCredentials } from '../../shared/signing/index.js';

/**
 * What every phase of `npm run bench:ingest` shares: the run's settings (BENCH_SECONDS, warm-up, connections, broker
 * URL), the paired devices a collector child hands back, the event it sends, and how a figure is printed.
 */

export const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
export const WARMUP_MS = 1000;
export const CONNECTIONS = 4;
/** The HTTP phases' connection counts: a few boxes, and many (issue 15: "boxes are many"). */
export const HTTP_CONNECTIONS = [CONNECTIONS, 64] as const;
/** Which phases run: BENCH_PHASES=http,mqtt,pg (comma-separated; default all). */
export const PHASES = new Set((process.env.BENCH_PHASES ?? 'http,mqtt,pg').split(',').map((p) => p.trim()));
export const MQTT_URL = process.env.VIGIL_BENCH_MQTT_URL ?? 'mqtt://127.0.0.1:1883';

export type WireDevice = { deviceId: string; keyId: string; secret_b64: string };
export type ChildReady = { port?: number; devices?: WireDevice[] };

export function creds(d: WireDevice): DeviceCredentials {
  return { deviceId: d.deviceId, keyId: d.keyId, secret: Buffer.from(d.secret_b64, 'base64') };
}

export function event(deviceId: string): Record<string, unknown> {
  return sampleEvent(deviceId, { score: 0.87, box: [0.12, 0.2, 0.35, 0.9], sent_at: new Date().toISOString() });
}

export interface LoadResult {
  requests: number;
  events: number;
  seconds: number;
  latencies: number[];
  failures: number;
}

export function pct(xs: number[], p: number): string {
  if (xs.length === 0) return '-';
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(2);
}

export const load = (): string => `load ${loadavg()[0]!.toFixed(2)}`;

export function line(label: string, r: LoadResult, unit: 'req' | 'events'): number {
  const rate = (unit === 'req' ? r.requests : r.events) / r.seconds;
  console.log(
    `${label.padEnd(48)} ${rate.toFixed(0).padStart(8)} ${unit}/s   (${r.requests} requests in ${r.seconds} s; ` +
      `latency p50 ${pct(r.latencies, 50)} ms, p99 ${pct(r.latencies, 99)} ms; ${load()})`,
  );
  return rate;
}
