import { systemClock, type Clock } from '../../shared/clock/index.js';

export interface RateLimitOptions {
  perSecond: number;
  burst: number;
  maxTracked: number;
  clock?: Clock;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

/**
 * Per-device token buckets. `peek` is checked before a signature is verified (cheap early 429 for a device that is
 * already over its budget) and `take` only after it verified, so forged traffic naming a device cannot use up that
 * device's budget.
 */
export class DeviceRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly clock: Clock;

  constructor(private readonly options: RateLimitOptions) {
    this.clock = options.clock ?? systemClock;
  }

  private refill(deviceId: string): Bucket {
    const now = this.clock.now();
    let b = this.buckets.get(deviceId);
    if (!b) {
      b = { tokens: this.options.burst, atMs: now };
      if (this.buckets.size >= this.options.maxTracked) {
        // Map iteration order is insertion order: drop the least recently touched bucket.
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
    } else {
      b.tokens = Math.min(this.options.burst, b.tokens + ((now - b.atMs) / 1000) * this.options.perSecond);
      b.atMs = now;
      this.buckets.delete(deviceId);
    }
    this.buckets.set(deviceId, b);
    return b;
  }

  /** Seconds until one token is available (0 when one is available now). Takes nothing. */
  peek(deviceId: string): number {
    const b = this.refill(deviceId);
    return b.tokens >= 1 ? 0 : this.waitFor(b);
  }

  /** Takes one token; returns 0 on success, else the seconds to wait before retrying. */
  take(deviceId: string): number {
    const b = this.refill(deviceId);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return this.waitFor(b);
  }

  private waitFor(b: Bucket): number {
    return Math.max(1, Math.ceil((1 - b.tokens) / this.options.perSecond));
  }
}
