import { systemClock, type Clock } from '../../shared/clock/index.js';

/**
 * Per-provider circuit breaker. After `threshold` consecutive failures the circuit opens and the provider is
 * skipped (the next one in the fallback order answers at once instead of every event waiting out a timeout).
 * After `cooldownMs` one trial request is let through (half-open): success closes the circuit, failure opens it
 * for another cool-down. While the trial is out, other events skip the provider.
 */
export type BreakerState = 'closed' | 'open' | 'half_open';

export class CircuitBreaker {
  private failures = 0;
  private openedAt: number | null = null;
  private trialOut = false;

  constructor(
    readonly threshold: number,
    readonly cooldownMs: number,
    private readonly clock: Clock = systemClock,
  ) {}

  get state(): BreakerState {
    if (this.openedAt === null) return 'closed';
    return this.clock.now() - this.openedAt >= this.cooldownMs ? 'half_open' : 'open';
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  /** True when a request may go now. In half-open, true once (the trial) until it is settled. */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.trialOut) return false;
    this.trialOut = true;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.openedAt = null;
    this.trialOut = false;
  }

  failure(): void {
    this.failures += 1;
    if (this.trialOut || this.failures >= this.threshold) this.openedAt = this.clock.now();
    this.trialOut = false;
  }

  /** Settles a request that says nothing about the provider's health (aborted by our own budget). */
  release(): void {
    this.trialOut = false;
  }
}
