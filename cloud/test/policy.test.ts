import { describe, expect, it } from 'vitest';
import { notifyConfig, type NotifyConfig } from '../notify/config.js';
import { decide, prefilter, type PolicyEvent, type PushHistory } from '../notify/policy.js';
import { inQuietHours, localMinuteOfDay } from '../notify/quiet-hours.js';
import type { Classification } from '../reclassify/index.js';

// 2026-03-02 12:00 UTC, a Monday.
const NOON = Date.UTC(2026, 2, 2, 12, 0);
const at = (h: number, m = 0): number => Date.UTC(2026, 2, 2, h, m);

const EVENT: PolicyEvent = {
  id: 'evt_1',
  tenantId: 'default',
  deviceId: 'dev_1',
  camera: 'front_door',
  label: 'person',
  score: 0.8,
  startedAt: NOON - 5_000,
};
const FRESH: PushHistory = { pushed: false, lastPushAt: null };

function verified(over: Partial<Classification> = {}): Classification {
  return {
    status: 'verified',
    reason: null,
    classify_label: 'person',
    classify_confidence: 0.93,
    classify_summary: 'Person at the front door',
    classify_threat: 1,
    agrees_with_edge: true,
    provider: 'openai',
    model: 'vision-1',
    ms: 300,
    prompt_tokens: 800,
    completion_tokens: 40,
    cached: false,
    prompt_version: 'abc',
    image_sha256: 'f'.repeat(64),
    attempts: [],
    ...over,
  };
}

function unverified(reason: Classification['reason']): Classification {
  return {
    ...verified(),
    status: 'unverified',
    reason,
    classify_label: 'person',
    classify_confidence: 0.8,
    classify_summary: 'Person at front_door',
    classify_threat: null,
    agrees_with_edge: null,
    provider: 'none',
    model: null,
  };
}

interface Row {
  name: string;
  config?: Record<string, unknown>;
  event?: Partial<PolicyEvent>;
  history?: Partial<PushHistory>;
  now?: number;
  classification: Classification;
  push: boolean;
  verdict: string;
  reason: string;
  title?: string | RegExp;
  unverified?: boolean;
  priority?: string;
}

const ROWS: Row[] = [
  {
    name: 'verified person pushes with the LLM summary as title',
    classification: verified(),
    push: true,
    verdict: 'verified',
    reason: 'verified',
    title: 'Person at the front door',
    unverified: false,
    priority: 'high',
  },
  {
    name: 'threat 0 pushes at normal priority',
    classification: verified({ classify_threat: 0 }),
    push: true,
    verdict: 'verified',
    reason: 'verified',
    priority: 'normal',
  },
  {
    name: 'LLM sees no person → rejected',
    classification: verified({ classify_label: 'none', agrees_with_edge: false }),
    push: false,
    verdict: 'rejected',
    reason: 'llm_disagrees',
  },
  {
    name: 'agrees_with_edge false alone → rejected',
    classification: verified({ agrees_with_edge: false }),
    push: false,
    verdict: 'rejected',
    reason: 'llm_disagrees',
  },
  {
    name: 'other label → rejected',
    classification: verified({ classify_label: 'dog' }),
    push: false,
    verdict: 'rejected',
    reason: 'label_mismatch',
  },
  {
    name: 'label compared case-insensitively',
    classification: verified({ classify_label: ' Person ' }),
    push: true,
    verdict: 'verified',
    reason: 'verified',
  },
  {
    name: 'alias counts as the same label',
    config: { labels: { person: { aliases: ['human'] } } },
    classification: verified({ classify_label: 'human' }),
    push: true,
    verdict: 'verified',
    reason: 'verified',
  },
  {
    name: 'confidence below the default minimum → rejected',
    classification: verified({ classify_confidence: 0.55 }),
    push: false,
    verdict: 'rejected',
    reason: 'low_confidence',
  },
  {
    name: 'per-label minimum confidence',
    config: { labels: { person: { min_confidence: 0.95 } } },
    classification: verified(),
    push: false,
    verdict: 'rejected',
    reason: 'low_confidence',
  },
  {
    name: 'label not in the whitelist → skipped',
    event: { label: 'bicycle' },
    classification: verified({ classify_label: 'bicycle' }),
    push: false,
    verdict: 'skipped',
    reason: 'label_not_notified',
  },
  {
    name: 'edge score below the default minimum → skipped',
    event: { score: 0.4 },
    classification: verified(),
    push: false,
    verdict: 'skipped',
    reason: 'low_edge_score',
  },
  {
    name: 'per-label minimum edge score',
    config: { labels: { person: { min_score: 0.9 } } },
    classification: verified(),
    push: false,
    verdict: 'skipped',
    reason: 'low_edge_score',
  },
  {
    name: 'already pushed → never again',
    history: { pushed: true },
    classification: verified(),
    push: false,
    verdict: 'skipped',
    reason: 'already_pushed',
  },
  {
    name: 'event older than max_event_age → skipped',
    event: { startedAt: NOON - 16 * 60_000 },
    classification: verified(),
    push: false,
    verdict: 'skipped',
    reason: 'too_old',
  },
  {
    name: 'disabled → skipped',
    config: { enabled: false },
    classification: verified(),
    push: false,
    verdict: 'skipped',
    reason: 'disabled',
  },
  {
    name: 'cooldown: same device+camera+label 30 s ago',
    history: { lastPushAt: NOON - 30_000 },
    classification: verified(),
    push: false,
    verdict: 'verified',
    reason: 'cooldown',
  },
  {
    name: 'cooldown over after 60 s',
    history: { lastPushAt: NOON - 60_000 },
    classification: verified(),
    push: true,
    verdict: 'verified',
    reason: 'verified',
  },
  {
    name: 'rejection wins over cooldown',
    history: { lastPushAt: NOON - 1_000 },
    classification: verified({ agrees_with_edge: false }),
    push: false,
    verdict: 'rejected',
    reason: 'llm_disagrees',
  },
  {
    name: 'quiet hours (offset) hold a verified push',
    config: { quiet_hours: { start: '22:00', end: '07:00', time_zone: '+02:00' } },
    now: at(21, 30), // 23:30 local
    event: { startedAt: at(21, 29) },
    classification: verified(),
    push: false,
    verdict: 'verified',
    reason: 'quiet_hours',
  },
  {
    name: 'outside quiet hours pushes',
    config: { quiet_hours: { start: '22:00', end: '07:00', time_zone: '+02:00' } },
    now: at(5, 30), // 07:30 local
    event: { startedAt: at(5, 29) },
    classification: verified(),
    push: true,
    verdict: 'verified',
    reason: 'verified',
  },
  {
    name: 'high threat bypasses quiet hours',
    config: { quiet_hours: { start: '22:00', end: '07:00', time_zone: '+02:00', bypass_threat: 2 } },
    now: at(1, 0),
    event: { startedAt: at(0, 59) },
    classification: verified({ classify_threat: 2 }),
    push: true,
    verdict: 'verified',
    reason: 'verified',
  },
  {
    name: 'per-tenant quiet hours override the global ones',
    config: {
      quiet_hours: { start: '00:00', end: '23:59' },
      tenants: { acme: { quiet_hours: { start: '20:00', end: '21:00' } } },
    },
    event: { tenantId: 'acme' },
    classification: verified(),
    push: true,
    verdict: 'verified',
    reason: 'verified',
  },
  {
    name: "provider none pushes on the box's word, flagged unverified",
    classification: unverified('provider_none'),
    push: true,
    verdict: 'unverified',
    reason: 'edge_only',
    title: 'Person at front_door',
    unverified: true,
  },
  {
    name: 'LLM down + push_unverified (default) → titled Unverified',
    classification: unverified('unavailable'),
    push: true,
    verdict: 'unverified',
    reason: 'llm_down_push_unverified',
    title: 'Unverified: Person at front_door',
    unverified: true,
  },
  {
    name: 'LLM over budget + push → as if verified',
    config: { llm_down: 'push' },
    classification: unverified('over_budget'),
    push: true,
    verdict: 'unverified',
    reason: 'llm_down_push',
    title: 'Person at front_door',
    unverified: false,
  },
  {
    name: 'LLM down + hold → held',
    config: { llm_down: 'hold' },
    classification: unverified('unavailable'),
    push: false,
    verdict: 'held',
    reason: 'llm_down_hold',
  },
  {
    name: 'no thumbnail follows the llm_down rule',
    config: { llm_down: 'hold' },
    classification: unverified('no_thumbnail'),
    push: false,
    verdict: 'held',
    reason: 'llm_down_hold',
  },
  {
    name: 'unverified push respects cooldown',
    history: { lastPushAt: NOON - 10_000 },
    classification: unverified('unavailable'),
    push: false,
    verdict: 'unverified',
    reason: 'cooldown',
  },
  {
    name: 'long camera names keep the title within 50 characters',
    event: { camera: 'a_very_long_camera_name_for_the_back_garden_gate_north' },
    classification: unverified('unavailable'),
    push: true,
    verdict: 'unverified',
    reason: 'llm_down_push_unverified',
    title: /^Unverified: Person at a_very_long.*…$/,
  },
];

describe('push policy', () => {
  it.each(ROWS)('$name', (row) => {
    const config: NotifyConfig = notifyConfig(row.config ?? {});
    const d = decide(
      {
        event: { ...EVENT, ...row.event },
        history: { ...FRESH, ...row.history },
        now: row.now ?? NOON,
        classification: row.classification,
      },
      config,
    );
    expect({ push: d.push, verdict: d.verdict, reason: d.reason }).toEqual({
      push: row.push,
      verdict: row.verdict,
      reason: row.reason,
    });
    expect(d.detail.length).toBeGreaterThan(0);
    if (d.push) {
      expect(d.content).toBeDefined();
      expect(Array.from(d.content!.title).length).toBeLessThanOrEqual(50);
      if (typeof row.title === 'string') expect(d.content!.title).toBe(row.title);
      else if (row.title) expect(d.content!.title).toMatch(row.title);
      if (row.unverified !== undefined) expect(d.content!.unverified).toBe(row.unverified);
      if (row.priority) expect(d.content!.priority).toBe(row.priority);
    } else expect(d.content).toBeUndefined();
  });

  it('prefilter decides only what needs no LLM', () => {
    const config = notifyConfig();
    expect(prefilter({ event: EVENT, history: FRESH, now: NOON }, config)).toBeNull();
    expect(prefilter({ event: { ...EVENT, label: 'bird' }, history: FRESH, now: NOON }, config)?.reason).toBe(
      'label_not_notified',
    );
    expect(prefilter({ event: EVENT, history: { pushed: true, lastPushAt: null }, now: NOON }, config)?.reason).toBe(
      'already_pushed',
    );
    // Cooldown is not a prefilter reason: the event still gets verified (the app shows the verdict).
    expect(prefilter({ event: EVENT, history: { pushed: false, lastPushAt: NOON - 1 }, now: NOON }, config)).toBeNull();
  });
});

describe('quiet hours', () => {
  it.each([
    ['+00:00', at(12, 0), 12 * 60],
    ['+05:30', at(20, 0), 1 * 60 + 30],
    ['-05:00', at(3, 0), 22 * 60],
    ['Europe/Berlin', at(12, 0), 13 * 60], // CET in March before DST
    ['Europe/Berlin', Date.UTC(2026, 6, 1, 12, 0), 14 * 60], // CEST
    ['America/New_York', at(12, 0), 7 * 60],
  ])('local minute of day in %s', (tz, now, expected) => {
    expect(localMinuteOfDay(now, tz)).toBe(expected);
  });

  it.each([
    [{ start: '22:00', end: '07:00', time_zone: '+00:00' }, at(23, 0), true],
    [{ start: '22:00', end: '07:00', time_zone: '+00:00' }, at(6, 59), true],
    [{ start: '22:00', end: '07:00', time_zone: '+00:00' }, at(7, 0), false],
    [{ start: '22:00', end: '07:00', time_zone: '+00:00' }, at(21, 59), false],
    [{ start: '09:00', end: '17:00', time_zone: '+00:00' }, at(12, 0), true],
    [{ start: '09:00', end: '17:00', time_zone: '+00:00' }, at(17, 0), false],
    [{ start: '09:00', end: '09:00', time_zone: '+00:00' }, at(9, 0), false],
  ])('window %o at %i → %s', (q, now, expected) => {
    expect(inQuietHours(now, q)).toBe(expected);
  });

  it('an unknown time zone is a config error naming it', () => {
    expect(() => localMinuteOfDay(0, 'Mars/Olympus')).toThrow(/Mars\/Olympus/);
  });
});
