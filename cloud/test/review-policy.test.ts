import { describe, expect, it } from 'vitest';
import { notifyConfig } from '../notify/config.js';
import { decide, judge, type PolicyEvent } from '../notify/policy.js';
import { decideReview, type ReviewObject, type ReviewPolicyInput } from '../notify/review-policy.js';
import type { Classification } from '../reclassify/index.js';

/**
 * The review item's push policy, pure: severity, snooze, the objects' verdicts (wait, llm_down rule, rejected),
 * quiet hours, first push vs update in place; and the per-event policy's snooze gate (boxes without review items).
 */
const NOON = Date.UTC(2026, 2, 2, 12, 0);
const SEC = 1000;

function obj(over: Partial<ReviewObject> = {}): ReviewObject {
  return {
    eventId: 'evt_a',
    label: 'person',
    verdict: 'verified',
    reason: 'verified',
    summary: 'Person at the front door',
    confidence: 0.93,
    threat: 1,
    pushed: false,
    dueBy: NOON + 30 * SEC,
    ...over,
  };
}

function input(over: Partial<ReviewPolicyInput> = {}): ReviewPolicyInput {
  return {
    review: {
      id: 'rev_1',
      tenantId: 'default',
      camera: 'front_door',
      severity: 'alert',
      labels: ['person'],
      zones: ['porch'],
      objectCount: 1,
      startedAt: NOON - 5 * SEC,
    },
    objects: [obj()],
    snoozedUntil: null,
    pushesSoFar: 0,
    lastSent: null,
    now: NOON,
    ...over,
  };
}

const config = notifyConfig();

describe('review item push policy', () => {
  it('an alert with a verified object: the first push, titled by the LLM, high priority', () => {
    const d = decideReview(input(), config);
    expect(d).toMatchObject({
      push: true,
      reason: 'pushed',
      leadEventId: 'evt_a',
      content: {
        title: 'Person at the front door',
        body: 'front_door: person · in porch',
        unverified: false,
        priority: 'high',
        update: false,
      },
    });
  });

  it('a detection never pushes unless notify.push_detections', () => {
    const detection = input({ review: { ...input().review, severity: 'detection' } });
    expect(decideReview(detection, config)).toMatchObject({ push: false, reason: 'detection' });
    expect(decideReview(detection, notifyConfig({ push_detections: true }))).toMatchObject({ push: true });
  });

  it('a snoozed camera pushes nothing until the snooze ends', () => {
    const snoozed = input({ snoozedUntil: NOON + 60 * SEC });
    expect(decideReview(snoozed, config)).toMatchObject({ push: false, reason: 'snoozed' });
    expect(decideReview({ ...snoozed, now: NOON + 61 * SEC }, config)).toMatchObject({ push: true });
    // An update of an item pushed before the snooze is held too.
    const update = { ...snoozed, pushesSoFar: 1, lastSent: { title: 'x', body: 'y' } };
    expect(decideReview(update, config)).toMatchObject({ push: false, reason: 'snoozed' });
  });

  it('waits for unchecked objects, at most until their due time; then the llm_down rule speaks for them', () => {
    const pending = input({ objects: [obj({ verdict: null, reason: null, summary: null, dueBy: NOON + 10 * SEC })] });
    expect(decideReview(pending, config)).toMatchObject({ push: false, reason: 'waiting', until: NOON + 10 * SEC });
    const late = { ...pending, now: NOON + 11 * SEC };
    expect(decideReview(late, config)).toMatchObject({
      push: true,
      content: { title: 'Unverified: Person at front_door', unverified: true },
    });
    expect(decideReview(late, notifyConfig({ llm_down: 'hold' }))).toMatchObject({
      push: false,
      reason: 'llm_down_hold',
    });
    expect(decideReview(late, notifyConfig({ llm_down: 'push' }))).toMatchObject({
      push: true,
      content: { title: 'Person at front_door', unverified: false },
    });
  });

  it('one confirmed object is enough, even while another is unchecked; all rejected → not confirmed', () => {
    const mixed = input({
      objects: [
        obj({ eventId: 'evt_a', verdict: null, reason: null }),
        obj({ eventId: 'evt_b', verdict: 'verified', summary: 'A man at the door' }),
      ],
    });
    expect(decideReview(mixed, config)).toMatchObject({ push: true, leadEventId: 'evt_b' });
    const rejected = input({
      objects: [
        obj({ verdict: 'rejected', reason: 'llm_disagrees' }),
        obj({ eventId: 'evt_b', verdict: 'skipped', reason: 'label_not_notified' }),
      ],
    });
    expect(decideReview(rejected, config)).toMatchObject({
      push: false,
      reason: 'not_confirmed',
      detail: 'no object passed the vision check (llm_disagrees, label_not_notified)',
    });
  });

  it("a box's first item holding an event pushed on its own: that push stands for the item", () => {
    const raced = input({ objects: [obj({ pushed: true }), obj({ eventId: 'evt_b' })] });
    expect(decideReview(raced, config)).toMatchObject({ push: false, reason: 'object_pushed' });
    // Once the item has pushed, objects pushed on their own do not stop its updates.
    const later = { ...raced, pushesSoFar: 1, lastSent: { title: 'x', body: 'y' } };
    expect(decideReview(later, config)).toMatchObject({ push: true, reason: 'updated' });
  });

  it('edge-only verdicts (no LLM configured) push on the box word, marked unverified', () => {
    const edge = input({ objects: [obj({ verdict: 'unverified', reason: 'edge_only', summary: null })] });
    expect(decideReview(edge, config)).toMatchObject({
      push: true,
      content: { title: 'Person at front_door', unverified: true },
    });
  });

  it('more objects joining: an update in place (normal priority, quiet); the same content again: nothing', () => {
    const first = decideReview(input(), config);
    const sent = { title: first.content!.title, body: first.content!.body };
    const grown = input({
      review: { ...input().review, labels: ['person', 'car'], objectCount: 2 },
      objects: [obj(), obj({ eventId: 'evt_b', label: 'car', verdict: null, reason: null })],
      pushesSoFar: 1,
      lastSent: sent,
    });
    expect(decideReview(grown, config)).toMatchObject({
      push: true,
      reason: 'updated',
      content: { body: 'front_door: person, car · 2 objects · in porch', priority: 'normal', update: true },
    });
    expect(decideReview(input({ pushesSoFar: 1, lastSent: sent }), config)).toMatchObject({
      push: false,
      reason: 'unchanged',
    });
  });

  it('quiet hours hold it unless a verified object is threatening enough; too old holds the first push only', () => {
    const quiet = notifyConfig({ quiet_hours: { start: '11:00', end: '13:00', bypass_threat: 2 } });
    expect(decideReview(input(), quiet)).toMatchObject({ push: false, reason: 'quiet_hours' });
    expect(decideReview(input({ objects: [obj({ threat: 2 })] }), quiet)).toMatchObject({ push: true });
    const old = input({ review: { ...input().review, startedAt: NOON - 20 * 60 * SEC } });
    expect(decideReview(old, config)).toMatchObject({ push: false, reason: 'too_old' });
    expect(decideReview({ ...old, pushesSoFar: 1, lastSent: { title: 'x', body: 'y' } }, config)).toMatchObject({
      push: true,
      reason: 'updated',
    });
  });
});

describe('per-event policy (boxes without review items)', () => {
  const EVENT: PolicyEvent = {
    id: 'evt_1',
    tenantId: 'default',
    deviceId: 'dev_1',
    camera: 'front_door',
    label: 'person',
    score: 0.8,
    startedAt: NOON - 5 * SEC,
  };
  const classification: Classification = {
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
  };
  const history = { pushed: false, lastPushAt: null };

  it('a snoozed camera: verified, not pushed; after the snooze it pushes', () => {
    const base = { event: EVENT, history, classification, now: NOON };
    expect(decide({ ...base, snoozedUntil: NOON + SEC }, config)).toMatchObject({
      push: false,
      verdict: 'verified',
      reason: 'snoozed',
    });
    expect(decide({ ...base, snoozedUntil: NOON - SEC }, config)).toMatchObject({ push: true });
  });

  it('judge gives the verdict without cooldown, snooze or quiet hours (what a review item reads)', () => {
    const gated = { event: EVENT, history: { pushed: false, lastPushAt: NOON - SEC }, classification, now: NOON };
    expect(decide(gated, config)).toMatchObject({ push: false, reason: 'cooldown' });
    expect(judge({ ...gated, snoozedUntil: NOON + SEC }, config)).toMatchObject({ push: true, reason: 'verified' });
  });
});
