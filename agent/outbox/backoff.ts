/**
 * Retry spacing: exponential in the attempt count, capped, with "equal jitter" (half fixed, half random) so a
 * fleet of boxes coming back after an outage does not retry in lockstep, yet no retry happens immediately.
 */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 5 * 60_000 };

export function backoffDelayMs(
  attempts: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, Math.min(30, attempts - 1)));
  return Math.round(exp / 2 + random() * (exp / 2));
}
