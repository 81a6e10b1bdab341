import { describe, expect, it } from 'vitest';
import { OffsetClock } from '../../shared/clock/index.js';
import { silentLogger } from '../../shared/log/index.js';
import {
  ClockCorrector,
  decideFailure,
  MessageRateLimit,
  type FailureDecision,
  type FailureInput,
  type FailurePolicy,
  type FailureState,
  type SendResult,
  type Transport,
  type TransportFailure,
} from '../uplink/index.js';

/**
 * The uplink's failure policy (agent/uplink/failure-policy.ts) as a table: the failure a send got, the bookkeeping
 * so far and the time → what becomes of the items and of the transport. Then its two neighbours, the message rate
 * limit and the clock corrector, without any network.
 */
const NOW = 1_767_225_600_000;
const POLICY: FailurePolicy = {
  maxSkewRetries: 3,
  rePairPauseMs: 60_000,
  transportBackoff: { baseMs: 1_000, maxMs: 60_000 },
};
const CLEAR: FailureState = { consecutiveSkew: 0, consecutiveFailures: 0, pausedUntilMs: 0 };

interface Case {
  name: string;
  failure: TransportFailure;
  state?: Partial<FailureState>;
  /** The random jitter in [0, 1) (default 0.5). */
  jitter?: number;
  want: Omit<FailureDecision, 'state'> & { state?: Partial<FailureState> };
}

const fail = (code: string, more: Partial<TransportFailure> = {}): TransportFailure => ({
  code,
  message: code,
  ...more,
});

const CASES: Case[] = [
  // clock skew: fix the clock (when the answer says the time) and retry at once, three times in a row
  {
    name: 'skew with the collector time: fix the clock, retry at once',
    failure: fail('timestamp_out_of_tolerance', { status: 401, serverTimeMs: NOW + 3_600_000 }),
    want: { action: 'fix_clock', retryInMs: 0, clockTo: NOW + 3_600_000, state: { consecutiveSkew: 1 } },
  },
  {
    name: 'skew refused in an ack (no time in it): retry at once, the ack already fixed the clock',
    failure: fail('timestamp_out_of_tolerance'),
    state: { consecutiveSkew: 1 },
    want: { action: 'fix_clock', retryInMs: 0, state: { consecutiveSkew: 2 } },
  },
  {
    name: 'skew for the fourth time in a row: no more retries at once, the items back off',
    failure: fail('timestamp_out_of_tolerance', { status: 401, serverTimeMs: NOW }),
    state: { consecutiveSkew: 3 },
    want: { action: 'backoff', state: { consecutiveSkew: 3, consecutiveFailures: 0, pausedUntilMs: 0 } },
  },
  // Retry-After: the items and the whole transport wait that long
  {
    name: '429 with Retry-After: wait that long, the transport too',
    failure: fail('rate_limited', { status: 429, retryAfterMs: 7_000 }),
    want: { action: 'wait', retryInMs: 7_000, state: { pausedUntilMs: NOW + 7_000 } },
  },
  {
    name: '503 with Retry-After while a longer pause runs: the longer pause stays',
    failure: fail('service_unavailable', { status: 503, retryAfterMs: 1_000 }),
    state: { pausedUntilMs: NOW + 30_000 },
    want: { action: 'wait', retryInMs: 1_000, state: { pausedUntilMs: NOW + 30_000 } },
  },
  {
    name: 'Retry-After after a run of network failures: the run ends (the collector answered), the wait stands',
    failure: fail('rate_limited', { status: 429, retryAfterMs: 7_000 }),
    state: { consecutiveFailures: 3, pausedUntilMs: NOW - 1 },
    want: { action: 'wait', retryInMs: 7_000, state: { consecutiveFailures: 0, pausedUntilMs: NOW + 7_000 } },
  },
  {
    name: 'Retry-After wins over a code the catalogue says to drop',
    failure: fail('invalid_message', { status: 400, retryAfterMs: 2_000 }),
    want: { action: 'wait', retryInMs: 2_000, state: { pausedUntilMs: NOW + 2_000 } },
  },
  // drop: the items are dead (kept, listed, retryable from the CLI)
  {
    name: 'drop advice (invalid_message): dead',
    failure: fail('invalid_message', { status: 400 }),
    want: { action: 'drop', state: CLEAR },
  },
  {
    name: 'drop advice in an ack item (event_conflict): dead',
    failure: fail('event_conflict', { status: 400 }),
    want: { action: 'drop' },
  },
  {
    name: 'an unknown code with a 4xx: dead',
    failure: fail('http_418', { status: 418 }),
    want: { action: 'drop' },
  },
  {
    name: 'drop advice without a status (an MQTT ack item): dead',
    failure: fail('thumbnail_mismatch'),
    want: { action: 'drop' },
  },
  // re_pair: keep everything, pause
  {
    name: 'credentials refused (unknown_device): keep the items, pause the transport',
    failure: fail('unknown_device', { status: 401 }),
    want: { action: 're_pair', retryInMs: 60_000, state: { pausedUntilMs: NOW + 60_000 } },
  },
  {
    name: 're_pair sets its own pause, even over a longer one',
    failure: fail('device_revoked', { status: 403 }),
    state: { pausedUntilMs: NOW + 600_000 },
    want: { action: 're_pair', retryInMs: 60_000, state: { pausedUntilMs: NOW + 60_000 } },
  },
  // transport-level trouble: the items back off and so does the whole transport
  {
    name: 'a network error (no catalogue advice): item backoff, transport pause 0.75 s at jitter 0.5',
    failure: fail('network_error'),
    want: { action: 'backoff', transportPauseMs: 750, state: { consecutiveFailures: 1, pausedUntilMs: NOW + 750 } },
  },
  {
    name: 'an HTTP 502 without a wire code: the transport pause doubles per failure',
    failure: fail('http_502', { status: 502 }),
    state: { consecutiveFailures: 3 },
    jitter: 0,
    want: { action: 'backoff', transportPauseMs: 4_000, state: { consecutiveFailures: 4, pausedUntilMs: NOW + 4_000 } },
  },
  {
    name: 'internal_error: transport-level although the catalogue advises retry_later',
    failure: fail('internal_error', { status: 500 }),
    jitter: 0.999,
    want: { action: 'backoff', transportPauseMs: 1_000, state: { consecutiveFailures: 1, pausedUntilMs: NOW + 1_000 } },
  },
  {
    name: 'the transport pause is capped (transportBackoff.maxMs)',
    failure: fail('timeout'),
    state: { consecutiveFailures: 20 },
    jitter: 0,
    want: {
      action: 'backoff',
      transportPauseMs: 30_000,
      state: { consecutiveFailures: 21, pausedUntilMs: NOW + 30_000 },
    },
  },
  {
    name: 'a transport failure during a pause (sent with the failure that began it): the items back off, no more',
    failure: fail('mqtt_publish_failed'),
    state: { consecutiveFailures: 2, pausedUntilMs: NOW + 1 },
    want: { action: 'backoff', state: { consecutiveFailures: 2, pausedUntilMs: NOW + 1 } },
  },
  {
    name: 'a transport failure as the pause ends: the next, longer pause',
    failure: fail('mqtt_publish_failed'),
    state: { consecutiveFailures: 2, pausedUntilMs: NOW },
    jitter: 0,
    want: { action: 'backoff', transportPauseMs: 2_000, state: { consecutiveFailures: 3, pausedUntilMs: NOW + 2_000 } },
  },
  // item-level trouble: only the items back off
  {
    name: 'retry_later advice (unknown_event: the thumbnail came first): only the items back off',
    failure: fail('unknown_event', { status: 404 }),
    state: { consecutiveFailures: 2, pausedUntilMs: NOW + 1_000 },
    want: { action: 'backoff', state: { consecutiveFailures: 2, pausedUntilMs: NOW + 1_000 } },
  },
  {
    name: 'nonce_replayed: only the items back off (the next attempt has a fresh nonce)',
    failure: fail('nonce_replayed', { status: 401 }),
    want: { action: 'backoff', state: CLEAR },
  },
];

describe('uplink failure policy (a pure function, as a table)', () => {
  it.each(CASES)('$name', (c) => {
    const state = { ...CLEAR, ...c.state };
    const input: FailureInput = { failure: c.failure, state, nowMs: NOW, jitter: c.jitter ?? 0.5 };
    const before = structuredClone(input);
    const d = decideFailure(input, POLICY);
    const { state: wantState, ...want } = c.want;
    expect(d).toEqual({ ...want, state: { ...state, ...wantState } });
    expect(input).toEqual(before); // the input is not changed
    expect(decideFailure(before, POLICY)).toEqual(d); // same input, same answer
  });
});

describe('message rate limit (token bucket)', () => {
  it('lets a burst go at once, then one message per 1/rate', () => {
    const r = new MessageRateLimit(20, 3, 0);
    for (let i = 0; i < 3; i++) {
      expect(r.waitMs(0)).toBe(0);
      r.take(0);
    }
    expect(r.waitMs(0)).toBe(50);
    expect(r.waitMs(25)).toBe(25);
    expect(r.waitMs(50)).toBe(0);
    r.take(50);
    expect(r.waitMs(50)).toBe(50);
  });

  it('refills up to the burst, not beyond', () => {
    const r = new MessageRateLimit(10, 2, 0);
    r.take(0);
    r.take(0);
    expect(r.waitMs(60_000)).toBe(0);
    r.take(60_000);
    r.take(60_000);
    expect(r.waitMs(60_000)).toBe(100);
  });

  it('with a rate of 0 never waits', () => {
    const r = new MessageRateLimit(0, 1, 0);
    for (let i = 0; i < 1_000; i++) r.take(0);
    expect(r.waitMs(0)).toBe(0);
  });
});

describe('clock corrector', () => {
  function corrector(clockSync?: Transport) {
    const clock = new OffsetClock();
    const seen = { corrected: [] as number[], resent: 0, heartbeats: 0 };
    const c = new ClockCorrector({
      clock,
      log: silentLogger(),
      slackMs: 5_000,
      ...(clockSync ? { clockSync } : {}),
      heartbeat: () => {
        seen.heartbeats++;
        return Buffer.from('{}');
      },
      onCorrected: (ms) => seen.corrected.push(ms),
      resendInFlight: () => void seen.resent++,
    });
    return { c, clock, seen };
  }

  it('leaves differences within the slack alone, follows larger ones', () => {
    const { c, clock, seen } = corrector();
    c.follow(clock.now() + 4_000, 'test');
    expect(clock.offsetMs).toBe(0);
    c.follow(clock.now() + 60_000, 'test');
    expect(Math.abs(clock.offsetMs - 60_000)).toBeLessThan(50);
    expect(seen.corrected).toHaveLength(1);
    expect(seen.resent).toBe(0);
  });

  it('after a correction of more than 250 s everything in flight is sent again', () => {
    const { c, clock, seen } = corrector();
    c.correct(clock.now() - 3_600_000, 'box booted in the future');
    expect(Math.abs(clock.offsetMs + 3_600_000)).toBeLessThan(50);
    expect(seen.resent).toBe(1);
  });

  it('learns the time over HTTPS at most every 10 s; after a skew refusal sends a heartbeat that counts', async () => {
    const serverMs = Date.now() + 7_200_000;
    const skew = { code: 'timestamp_out_of_tolerance', message: 'skew', serverTimeMs: serverMs };
    const answers: SendResult[] = [{ failure: skew }, {}];
    const sync = { sendHeartbeat: async () => answers.shift() ?? {} } as unknown as Transport;
    const { c, clock, seen } = corrector(sync);
    await c.syncOverHttps(0);
    expect(Math.abs(clock.offsetMs - 7_200_000)).toBeLessThan(1_000);
    expect(seen.heartbeats).toBe(2); // the one refused for the skew, then one that counts
    await c.syncOverHttps(0);
    expect(seen.heartbeats).toBe(2); // within 10 s: no second sync
  });

  it('without HTTPS takes the stale ack’s signed server_time', async () => {
    const { c, clock } = corrector();
    await c.syncOverHttps(Date.now() - 1_000_000);
    expect(Math.abs(clock.offsetMs + 1_000_000)).toBeLessThan(1_000);
  });
});
