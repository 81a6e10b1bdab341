import { isIPv4, isIPv6 } from 'node:net';
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { systemClock, type Clock } from '../../shared/clock/index.js';
import { VigilError } from '../errors.js';
import type { Logger } from '../../shared/log/index.js';
import { DeviceRateLimiter } from '../ingest/rate-limit.js';

/**
 * Limits on `POST /v1/pair` attempts, against guessing codes: a token bucket per source AND one for the whole
 * collector. The per-source bucket keeps one client from taking the collector-wide budget alone; the collector-wide
 * one bounds the guesses of an attacker with many addresses (200 addresses × 10 guesses each stay inside every
 * per-source burst, not inside the global one). With the defaults (120 a minute) the chance of hitting one of N
 * pending codes (31^8 ≈ 8.5e11) is about N × 2e-7 a day.
 *
 * A source is an IPv4 address, or the /64 of an IPv6 address (one host usually owns a whole /64, so rotating inside
 * it is not a new source). The price of the global bucket: someone who keeps it empty holds pairing closed (never
 * open) while they do; the refusals are logged and counted in /metrics (`vigil_pairing_attempts_refused_total`).
 *
 * The buckets live in this process: with several collectors behind a balancer the bounds multiply by their number.
 */
export interface PairingLimitOptions {
  perSourcePerMinute: number;
  perSourceBurst: number;
  globalPerMinute: number;
  globalBurst: number;
  /** Sources remembered at once (least recently seen forgotten first). */
  maxSources?: number;
  clock?: Clock;
  log?: Logger;
}

export type PairingLimitScope = 'source' | 'global';

export type PairingLimitVerdict = { ok: true } | { ok: false; scope: PairingLimitScope; retryAfterS: number };

/** The rate-limit key of a client address: IPv4 as is (also when IPv4-mapped), IPv6 by its /64 prefix. */
export function sourceKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return ip;
  return `${expandIPv6(ip).slice(0, 4).join(':')}::/64`;
}

/** Eight 16-bit groups, lower-case hex without leading zeros (zone id dropped; embedded IPv4 converted). */
function expandIPv6(ip: string): string[] {
  let text = ip.split('%')[0]!.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = text.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => parseInt(g || '0', 16).toString(16));
}

const WARN_EVERY_MS = 60_000;

export class PairingAttemptLimiter {
  private readonly perSource: DeviceRateLimiter;
  private readonly global: DeviceRateLimiter;
  private readonly clock: Clock;
  private lastWarnMs = -Infinity;
  /** Attempts refused since start, by which bucket refused them. */
  readonly refused: Record<PairingLimitScope, number> = { source: 0, global: 0 };

  constructor(private readonly o: PairingLimitOptions) {
    this.clock = o.clock ?? systemClock;
    const clock = this.clock;
    const maxTracked = o.maxSources ?? 10_000;
    this.perSource = new DeviceRateLimiter({
      perSecond: o.perSourcePerMinute / 60,
      burst: o.perSourceBurst,
      maxTracked,
      clock,
    });
    this.global = new DeviceRateLimiter({
      perSecond: o.globalPerMinute / 60,
      burst: o.globalBurst,
      maxTracked: 1,
      clock,
    });
  }

  /**
   * Counts one attempt from `ip` against both buckets. A refused attempt costs nothing (it is not processed), so a
   * box refused while someone drains the global bucket has its own budget intact when that ends.
   */
  take(ip: string): PairingLimitVerdict {
    const source = sourceKey(ip);
    const own = this.perSource.peek(source);
    if (own > 0) return this.refuse('source', own, source);
    const all = this.global.peek('all');
    if (all > 0) return this.refuse('global', all, source);
    this.perSource.take(source);
    this.global.take('all');
    return { ok: true };
  }

  private refuse(scope: PairingLimitScope, retryAfterS: number, source: string): PairingLimitVerdict {
    this.refused[scope]++;
    const now = this.clock.now();
    if (scope === 'global' && now - this.lastWarnMs >= WARN_EVERY_MS) {
      this.lastWarnMs = now;
      const what = { refused_global: this.refused.global, refused_source: this.refused.source, last_source: source };
      this.o.log?.warn(
        { ...what, limit_per_minute: this.o.globalPerMinute },
        'pairing attempts over the collector-wide limit: someone may be guessing codes (pairing.global_attempts_*)',
      );
    }
    return { ok: false, scope, retryAfterS };
  }
}

/**
 * onRequest hook for `POST /v1/pair`: before the body is read, 429 `rate_limited` with `Retry-After` (seconds) and
 * `details: {scope: 'source' | 'global', retry_after_s}` when either bucket is empty.
 */
export function pairingAttemptGuard(limiter: PairingAttemptLimiter): onRequestAsyncHookHandler {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const verdict = limiter.take(req.ip);
    if (verdict.ok) return;
    reply.header('retry-after', String(verdict.retryAfterS));
    const who = verdict.scope === 'source' ? 'from this address' : 'on this collector (all addresses together)';
    throw new VigilError('rate_limited', `too many pairing attempts ${who}; retry after ${verdict.retryAfterS} s`, {
      details: { scope: verdict.scope, retry_after_s: verdict.retryAfterS },
    });
  };
}
