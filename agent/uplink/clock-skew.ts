import type { OffsetClock } from '../../shared/clock/index.js';

/**
 * Clock correction. A box without a battery-backed clock may boot in 1970; the collector rejects signatures more
 * than ±300 s off and tells its own time (HTTP `Date` / error `server_time`, MQTT ack `server_time`). The agent
 * keeps a correction offset and signs with the corrected clock; nothing queued is dropped for a wrong clock.
 */

/** Sets the offset so that `clock.now()` reads `serverMs` at this moment. Returns the change in ms. */
export function adjustToServerTime(clock: OffsetClock, serverMs: number): number {
  const base = clock.now() - clock.offsetMs;
  const before = clock.offsetMs;
  clock.offsetMs = Math.round(serverMs - base);
  return clock.offsetMs - before;
}

/** Collector time from an HTTP error: `details.server_time` (unix s) is exact; the `Date` header has 1 s resolution. */
export function serverTimeFromHttp(dateHeader: string | undefined, details: Record<string, unknown> | undefined): number | undefined {
  const st = details?.server_time;
  if (typeof st === 'number' && Number.isFinite(st)) return st * 1000 + 500;
  if (typeof st === 'string' && !Number.isNaN(Date.parse(st))) return Date.parse(st);
  if (dateHeader) {
    const t = Date.parse(dateHeader);
    if (!Number.isNaN(t)) return t + 500; // the header truncates to the second
  }
  return undefined;
}

/** Parses a Retry-After header (delta seconds or HTTP date) into milliseconds from `nowMs`. */
export function retryAfterMs(header: string | undefined, nowMs: number): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const t = Date.parse(header);
  return Number.isNaN(t) ? undefined : Math.max(0, t - nowMs);
}
