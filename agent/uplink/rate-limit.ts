/**
 * The uplink's message rate limit: a token bucket of `burst` tokens refilled at `perSecond`, one token per message
 * (an event batch or a thumbnail). It keeps the box under the collector's per-device limit, above which MQTT
 * messages are simply not acked. `perSecond` 0 turns it off. Times are passed in (epoch ms), so it is tested
 * without waiting.
 */
export class MessageRateLimit {
  private tokens: number;
  private at: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    nowMs: number = Date.now(),
  ) {
    this.tokens = burst;
    this.at = nowMs;
  }

  /** Milliseconds until a message may go (0: now). */
  waitMs(nowMs: number): number {
    return this.refill(nowMs) ? 0 : Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }

  /** Spends a token for a message that goes now (call after `waitMs` answered 0). */
  take(nowMs: number): void {
    if (this.refill(nowMs) && this.perSecond > 0) this.tokens -= 1;
  }

  /** Adds what accrued since the last call; true when a token is available (or there is no limit). */
  private refill(nowMs: number): boolean {
    if (this.perSecond <= 0) return true;
    this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.at) / 1000) * this.perSecond);
    this.at = nowMs;
    return this.tokens >= 1;
  }
}
