import { describeError } from '../../shared/errors/index.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import {
  notificationValidator,
  PLATFORMS,
  tokenHint,
  type Notification,
  type Platform,
  type PushOutcome,
  type PushSender,
  type PushTarget,
} from './notification.js';

/**
 * Sends one notification to many targets: bounded concurrency, per-token retries of transient failures with
 * exponential backoff that honours the provider's Retry-After. Returns one result per target; recording outcomes
 * and pruning invalid tokens is the caller's job (it owns the token store).
 */
export interface PushResult {
  target: PushTarget;
  outcome: PushOutcome;
  /** Requests made for this target (0 when its platform is not configured). */
  attempts: number;
}

export interface PushServiceOptions {
  senders: PushSender[];
  /** Requests in flight at once (default 8). */
  concurrency?: number;
  /** Attempts per target for outcome `retry` (default 4). */
  maxAttempts?: number;
  /** First backoff without Retry-After, doubled per attempt (default 1 s). */
  backoffBaseMs?: number;
  /** Longest wait before a retry (default 2 min). A longer Retry-After ends the attempts with outcome `retry`. */
  maxRetryWaitMs?: number;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  /** 0..1, for backoff jitter; injectable for tests. */
  random?: () => number;
  logger?: Logger;
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class PushService {
  private readonly senders = new Map<Platform, PushSender>();
  private readonly concurrency: number;
  private readonly maxAttempts: number;
  private readonly backoffBaseMs: number;
  private readonly maxRetryWaitMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly log: Logger;

  constructor(options: PushServiceOptions) {
    for (const s of options.senders) this.senders.set(s.platform, s);
    this.concurrency = Math.max(1, options.concurrency ?? 8);
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 4);
    this.backoffBaseMs = options.backoffBaseMs ?? 1000;
    this.maxRetryWaitMs = options.maxRetryWaitMs ?? 120_000;
    this.sleep = options.sleep ?? realSleep;
    this.random = options.random ?? Math.random;
    this.log = options.logger ?? silentLogger();
    const missing = PLATFORMS.filter((p) => !this.senders.has(p));
    if (missing.length)
      this.log.info({ platforms: missing }, `push not configured for ${missing.join(', ')}; their tokens are skipped`);
  }

  /** Platforms with a sender. */
  platforms(): Platform[] {
    return [...this.senders.keys()];
  }

  /** Delivers `notification` to every target; never throws for delivery failures (only for an invalid notification). */
  async send(notification: Notification, targets: readonly PushTarget[]): Promise<PushResult[]> {
    const n = notificationValidator.parse(notification, 'notification');
    const results: PushResult[] = new Array(targets.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < targets.length) {
        const i = next++;
        const target = targets[i]!;
        results[i] = await this.deliver(target, n);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, targets.length) }, worker));
    const counts: Record<string, number> = {};
    for (const r of results) counts[r.outcome.status] = (counts[r.outcome.status] ?? 0) + 1;
    this.log.info({ event_id: n.event_id, targets: targets.length, ...counts }, 'push fan-out done');
    return results;
  }

  /** One target, with retries. */
  async deliver(target: PushTarget, n: Notification): Promise<PushResult> {
    const sender = this.senders.get(target.platform);
    if (!sender)
      return {
        target,
        attempts: 0,
        outcome: { status: 'failed', httpStatus: null, reason: 'platform_not_configured' },
      };
    let attempts = 0;
    for (;;) {
      attempts++;
      let outcome: PushOutcome;
      try {
        outcome = await sender.send(target, n);
      } catch (err) {
        // Senders report failures as outcomes; a throw is a bug or a broken key, not worth repeating.
        this.log.error(
          { platform: target.platform, token: tokenHint(target), err: describeError(err) },
          'push sender threw',
        );
        outcome = { status: 'failed', httpStatus: null, reason: 'sender_error' };
      }
      if (outcome.status !== 'retry' || attempts >= this.maxAttempts) return { target, attempts, outcome };
      const wait = this.retryDelay(attempts, outcome.retryAfterMs);
      if (wait === undefined) {
        this.log.info(
          { platform: target.platform, token: tokenHint(target), retry_after_ms: outcome.retryAfterMs },
          'push retry-after too long; leaving it to the caller',
        );
        return { target, attempts, outcome };
      }
      this.log.debug(
        {
          platform: target.platform,
          token: tokenHint(target),
          attempt: attempts,
          wait_ms: wait,
          reason: outcome.reason,
        },
        'push retry',
      );
      await this.sleep(wait);
    }
  }

  /**
   * Wait before attempt `attempts + 1`: the provider's Retry-After when given (never less), else exponential
   * backoff with jitter (half fixed, half random). Undefined when Retry-After exceeds maxRetryWaitMs.
   */
  retryDelay(attempts: number, retryAfterMs: number | undefined): number | undefined {
    if (retryAfterMs !== undefined) return retryAfterMs > this.maxRetryWaitMs ? undefined : retryAfterMs;
    const exp = Math.min(this.maxRetryWaitMs, this.backoffBaseMs * 2 ** (attempts - 1));
    return Math.round(exp / 2 + (exp / 2) * this.random());
  }

  async close(): Promise<void> {
    await Promise.all([...this.senders.values()].map((s) => s.close().catch(() => undefined)));
  }
}
