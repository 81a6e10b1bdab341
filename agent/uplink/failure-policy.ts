import { wireErrorInfo } from '../../firmware-protocol/errors.js';
import { backoffDelayMs, type BackoffPolicy } from '../outbox/backoff.js';
import { SKEW } from './clock-skew.js';
import type { TransportFailure } from './types.js';

/** The uplink's failure bookkeeping that a decision reads and replaces. */
export interface FailureState {
  /** Clock-skew refusals since the last ack that settled something. */
  consecutiveSkew: number;
  /** Transport-level failures in a row (5xx, timeouts, network, broker gone); reset by an answer. */
  consecutiveFailures: number;
  /** Nothing is sent before this moment (epoch ms; 0 = no pause). */
  pausedUntilMs: number;
}

export interface FailurePolicy {
  /** Skew refusals in a row that are retried at once with a corrected clock; after that they back off. */
  maxSkewRetries: number;
  /** Pause after the collector refused the device's credentials. */
  rePairPauseMs: number;
  /** Pause of the whole transport after consecutive transport-level failures. */
  transportBackoff: BackoffPolicy;
}

export interface FailureInput {
  /** What the send got: the failure of the whole send, or one rejected group of an ack. */
  failure: TransportFailure;
  state: FailureState;
  nowMs: number;
  /** A random number in [0, 1), the jitter of a transport pause (passed in: the decision is a pure function). */
  jitter: number;
}

/**
 * What becomes of the items and of the transport:
 * - `fix_clock`: set the clock to `clockTo` (when the answer told the time), retry the items at once;
 * - `wait`: the collector asked to wait (Retry-After): the items and the whole transport wait that long;
 * - `drop`: rejected for good (`drop` advice, unknown 4xx): the items are dead (kept, listed, retryable);
 * - `re_pair`: the credentials are refused: keep everything, pause, tell the operator;
 * - `backoff`: the items back off by their attempt count (`retryInMs` undefined); a transport-level failure also
 *   pauses the whole transport for `transportPauseMs`.
 */
export type FailureAction = 'fix_clock' | 'wait' | 'drop' | 're_pair' | 'backoff';

export interface FailureDecision {
  action: FailureAction;
  /** Retry the items after this many ms; undefined: the outbox's backoff for their attempt count (or dropped). */
  retryInMs?: number;
  /** Set the clock to the collector's time first. */
  clockTo?: number;
  /** With a transport-level failure: how long the whole transport pauses. */
  transportPauseMs?: number;
  /** The bookkeeping after this failure. */
  state: FailureState;
}

/**
 * The uplink's failure policy, from the firmware-protocol error catalogue's `retry` advice — a pure function of
 * the failure, the bookkeeping so far, the time and a random jitter:
 * - clock skew (`timestamp_out_of_tolerance`): correct the clock from the collector's time, retry at once (up to
 *   `maxSkewRetries` in a row, then as any retryable failure);
 * - Retry-After (429/503): wait that long, for these items and the whole transport;
 * - `drop` advice and unknown 4xx: the items are dead;
 * - `re_pair` (credentials refused): keep everything, pause the transport `rePairPauseMs`;
 * - anything else: the items back off; 5xx, timeouts, network errors and a gone broker (no catalogue advice, or
 *   `internal_error` / `service_unavailable`) also back the whole transport off, exponentially in the failures
 *   (a failure that comes in while that pause runs was sent with the one that began it, and does not count again).
 */
export function decideFailure(input: FailureInput, policy: FailurePolicy): FailureDecision {
  const { failure: f, state, nowMs } = input;
  const advice = wireErrorInfo(f.code)?.retry;
  if (f.code === SKEW && state.consecutiveSkew < policy.maxSkewRetries) {
    const next = { ...state, consecutiveSkew: state.consecutiveSkew + 1 };
    const clockTo = f.serverTimeMs !== undefined ? { clockTo: f.serverTimeMs } : {};
    return { action: 'fix_clock', retryInMs: 0, ...clockTo, state: next };
  }
  // Retry-After and refused credentials are answers: the collector is reachable, so a run of transport failures
  // ends here (and a heartbeat that gets through later does not cut this pause short: uplink.ts collectorBack).
  if (f.retryAfterMs !== undefined) {
    const pausedUntilMs = Math.max(state.pausedUntilMs, nowMs + f.retryAfterMs);
    return {
      action: 'wait',
      retryInMs: f.retryAfterMs,
      state: { ...state, consecutiveFailures: 0, pausedUntilMs },
    };
  }
  const is4xx = f.status !== undefined && f.status >= 400 && f.status < 500;
  if (advice === 'drop' || (is4xx && advice === undefined)) return { action: 'drop', state };
  if (advice === 're_pair') {
    const pausedUntilMs = nowMs + policy.rePairPauseMs;
    return {
      action: 're_pair',
      retryInMs: policy.rePairPauseMs,
      state: { ...state, consecutiveFailures: 0, pausedUntilMs },
    };
  }
  if (advice === undefined || f.code === 'internal_error' || f.code === 'service_unavailable') {
    // Transport-level trouble (5xx, timeout, network, broker): slow the whole transport down, not just these items.
    // No send starts during a pause, so a failure that comes in during one was on its way with the failure that
    // began it: sends that fail together count once, and the pause does not grow for each of them.
    if (nowMs < state.pausedUntilMs) return { action: 'backoff', state };
    const consecutiveFailures = state.consecutiveFailures + 1;
    const pause = backoffDelayMs(consecutiveFailures, policy.transportBackoff, () => input.jitter);
    const pausedUntilMs = Math.max(state.pausedUntilMs, nowMs + pause);
    return { action: 'backoff', transportPauseMs: pause, state: { ...state, consecutiveFailures, pausedUntilMs } };
  }
  return { action: 'backoff', state };
}
