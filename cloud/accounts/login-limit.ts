import { systemClock, type Clock } from '../../shared/clock/index.js';
import { sourceKey } from '../pairing/rate-limit.js';

/**
 * Limits on `POST /v1/session`, against password guessing: a token bucket per email address (whether or not an
 * account has it, so a 429 tells nothing about which addresses exist) and one per source (an IPv4 address or an
 * IPv6 /64, as for pairing). Both are checked before the password is hashed, so a refused attempt costs no scrypt
 * work; an attempt takes a token from both. A successful login refills its account's bucket (the owner who mistyped
 * twice is not held back on the next device).
 *
 * The buckets live in this process: with several collectors behind a balancer the bounds multiply by their number.
 * Someone who keeps an address's bucket empty holds that account's logins closed while they do (API tokens keep
 * working); the refusals are logged.
 */
export interface LoginLimitOptions {
  accountBurst: number;
  accountPerHour: number;
  sourceBurst: number;
  sourcePerMinute: number;
  /** Keys remembered per kind (least recently used forgotten first). */
  maxTracked?: number;
  clock?: Clock;
}

export type LoginLimitVerdict =
  | { ok: true }
  | { ok: false; scope: 'account' | 'source'; retryAfterS: number; source: string };

interface Bucket {
  tokens: number;
  atMs: number;
}

/** Token buckets by key, least recently used dropped beyond `maxTracked`. */
class Buckets {
  private readonly map = new Map<string, Bucket>();

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly maxTracked: number,
    private readonly clock: Clock,
  ) {}

  private current(key: string): Bucket {
    const now = this.clock.now();
    let b = this.map.get(key);
    if (b) {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.atMs) / 1000) * this.perSecond);
      b.atMs = now;
      this.map.delete(key);
    } else {
      b = { tokens: this.burst, atMs: now };
      if (this.map.size >= this.maxTracked) {
        const oldest = this.map.keys().next().value;
        if (oldest !== undefined) this.map.delete(oldest);
      }
    }
    this.map.set(key, b);
    return b;
  }

  /** Seconds until a token is there (0: now). */
  wait(key: string): number {
    const b = this.current(key);
    return b.tokens >= 1 ? 0 : Math.max(1, Math.ceil((1 - b.tokens) / this.perSecond));
  }

  take(key: string): void {
    this.current(key).tokens -= 1;
  }

  refill(key: string): void {
    this.map.delete(key);
  }
}

export class LoginAttemptLimiter {
  private readonly accounts: Buckets;
  private readonly sources: Buckets;
  /** Attempts refused since start, by the bucket that refused them. */
  readonly refused = { account: 0, source: 0 };

  constructor(o: LoginLimitOptions) {
    const clock = o.clock ?? systemClock;
    const max = o.maxTracked ?? 100_000;
    this.accounts = new Buckets(o.accountBurst, o.accountPerHour / 3600, max, clock);
    this.sources = new Buckets(o.sourceBurst, o.sourcePerMinute / 60, max, clock);
  }

  /** Counts one attempt for `email` from `ip`, or refuses it (and then counts nothing). */
  take(email: string, ip: string): LoginLimitVerdict {
    const account = email.trim().toLowerCase();
    const source = sourceKey(ip);
    const fromSource = this.sources.wait(source);
    if (fromSource > 0) {
      this.refused.source++;
      return { ok: false, scope: 'source', retryAfterS: fromSource, source };
    }
    const forAccount = this.accounts.wait(account);
    if (forAccount > 0) {
      this.refused.account++;
      return { ok: false, scope: 'account', retryAfterS: forAccount, source };
    }
    this.sources.take(source);
    this.accounts.take(account);
    return { ok: true };
  }

  /** After a successful login: the account's bucket is full again. */
  succeeded(email: string): void {
    this.accounts.refill(email.trim().toLowerCase());
  }
}
