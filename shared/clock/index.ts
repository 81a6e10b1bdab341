/**
 * Clocks. Everything that reads the time takes a Clock so tests can move time and the agent can correct its
 * offset against the collector's `Date` header (boxes without a hardware clock boot in 1970).
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that adds a correction to another clock. The agent sets `offsetMs` from the collector's Date. */
export class OffsetClock implements Clock {
  offsetMs = 0;
  constructor(private readonly base: Clock = systemClock) {}
  now(): number {
    return this.base.now() + this.offsetMs;
  }
}

/** A clock that only moves when told to. For tests. */
export class ManualClock implements Clock {
  constructor(private t: number = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.t;
  }
  set(ms: number): void {
    this.t = ms;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export function unixSeconds(clock: Clock = systemClock): number {
  return Math.floor(clock.now() / 1000);
}

export function isoNow(clock: Clock = systemClock): string {
  return new Date(clock.now()).toISOString();
}

/** Parses durations like `90s`, `15m`, `2h`, `7d`, `500ms` or a bare number of seconds into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) throw new RangeError(`not a duration: "${text}" (expected e.g. 500ms, 90s, 15m, 2h, 7d)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit] ?? 1000;
  return Math.round(n * factor);
}

/** Waits `ms`, or less when `signal` aborts (then resolves at once; never rejects). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}
