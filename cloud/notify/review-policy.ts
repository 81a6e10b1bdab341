import { parseDuration } from '../../shared/clock/index.js';
import { SUMMARY_MAX } from '../reclassify/answer.js';
import { edgeSummary, truncate } from '../reclassify/classification.js';
import type { NotifyConfig } from './config.js';
import { quietHoursFor, type PushContent, type Verdict } from './policy.js';
import { inQuietHours } from './quiet-hours.js';

/**
 * The push policy of a review item (a box that groups its objects into review items), pure: given the item, the
 * verify-job verdicts of its objects, the camera's snooze and what was pushed already, decide whether the phone
 * gets a push now, an update of the push it has, or nothing. No I/O, no clock reads — the caller passes `now`.
 *
 *   disabled / detection (unless notify.push_detections) / too old (first push only) / camera snoozed → nothing;
 *   an object already pushed on its own (a box's first items, decided before it was known to send review items)
 *   → nothing: that push stands for the item
 *   its objects' verdicts (./policy.ts judge, per event, with the LLM):
 *     one verified or unverified-but-pushable object → push; none yet but some unchecked → wait for them, at most
 *     notify.review_verdict_wait from the event's arrival, then the llm_down rule decides for the unchecked ones;
 *     every object rejected or skipped → nothing (not_confirmed)
 *   quiet hours (unless a verified object's threat is high enough) → nothing
 *   the first push is `pushed` (high priority); later ones, when its title or body changed (objects joined, a label
 *   or zone came), are `updated`: same collapse id (the review id), normal priority, quiet on the phone
 *
 * No cooldown: one item is one push (updated in place); the box's grouping is what keeps a scene from buzzing twice.
 */
export interface PolicyReview {
  id: string;
  tenantId: string;
  camera: string;
  severity: 'alert' | 'detection';
  labels: readonly string[];
  zones: readonly string[];
  objectCount: number;
  startedAt: number;
}

/** One object of the item with its verify job's outcome. */
export interface ReviewObject {
  eventId: string;
  /** The event's label, when the event is stored. */
  label: string | null;
  /** The verify job's verdict; null while it has not decided. */
  verdict: Verdict | null;
  /** Its decision reason (verified, edge_only, llm_down_push_unverified, llm_disagrees …). */
  reason: string | null;
  summary: string | null;
  confidence: number | null;
  threat: number | null;
  /** The event was pushed on its own (decided before its box was known to send review items). */
  pushed: boolean;
  /** Until when its verdict is waited for (the event's arrival + notify.review_verdict_wait). */
  dueBy: number;
}

export interface ReviewPolicyInput {
  review: PolicyReview;
  objects: readonly ReviewObject[];
  /** The camera's snooze end, when one was set (it holds while it is later than now). */
  snoozedUntil: number | null;
  /** Pushes already sent for the item (0: none yet). */
  pushesSoFar: number;
  /** The last push sent for the item. */
  lastSent: { title: string; body: string } | null;
  now: number;
}

export type ReviewDecisionReason =
  | 'disabled'
  | 'detection'
  | 'too_old'
  | 'object_pushed'
  | 'snoozed'
  | 'waiting'
  | 'not_confirmed'
  | 'llm_down_hold'
  | 'quiet_hours'
  | 'unchanged'
  | 'pushed'
  | 'updated';

export interface ReviewDecision {
  push: boolean;
  reason: ReviewDecisionReason;
  /** One line for logs and the API. */
  detail: string;
  /** For `waiting`: decide again at the latest then. */
  until?: number;
  /** Set when push is true; `update` for every push after the first. */
  content?: PushContent & { update: boolean };
  /** The object whose verdict titles the push (a verified one), for its thumbnail. */
  leadEventId?: string;
}

const skip = (reason: ReviewDecisionReason, detail: string, until?: number): ReviewDecision => ({
  push: false,
  reason,
  detail,
  ...(until !== undefined ? { until } : {}),
});

const PUSHABLE = new Set<Verdict>(['verified', 'unverified']);
const BODY_MAX = 1000;

export function decideReview(input: ReviewPolicyInput, config: NotifyConfig): ReviewDecision {
  const { review, objects, now } = input;
  if (!config.enabled) return skip('disabled', 'notifications are disabled');
  if (review.severity === 'detection' && !config.push_detections)
    return skip('detection', 'a detection, not an alert (notify.push_detections is off)');
  const first = input.pushesSoFar === 0;
  // The first item of a box new to review items may hold an event that was pushed on its own already: that push
  // was the item's one push (a second, under another collapse id, would show twice on the phone).
  if (first && objects.some((o) => o.pushed))
    return skip('object_pushed', 'an object of the item was already pushed on its own; that push stands for it');
  const maxAge = parseDuration(config.max_event_age);
  if (first && now - review.startedAt > maxAge)
    return skip(
      'too_old',
      `item started ${Math.round((now - review.startedAt) / 1000)} s ago (max ${config.max_event_age})`,
    );
  if (input.snoozedUntil !== null && input.snoozedUntil > now)
    return skip('snoozed', `camera ${review.camera} is snoozed until ${new Date(input.snoozedUntil).toISOString()}`);

  let confirmed = objects.filter((o) => o.verdict !== null && PUSHABLE.has(o.verdict));
  let unverifiedTitle = confirmed.some((o) => o.reason === 'llm_down_push_unverified');
  // llm_down: push — confirmed on the box's word but shown as verified (like ./policy.ts does per event).
  let asVerified = confirmed.length > 0 && confirmed.every((o) => o.reason === 'llm_down_push');
  if (confirmed.length === 0) {
    const pending = objects.filter((o) => o.verdict === null);
    const waiting = pending.filter((o) => o.dueBy > now);
    if (waiting.length > 0) {
      const until = Math.min(...waiting.map((o) => o.dueBy));
      return skip('waiting', `waiting for the vision check of ${waiting.length} object(s)`, until);
    }
    if (pending.length === 0) {
      const why = [...new Set(objects.map((o) => o.reason ?? 'unknown'))].join(', ');
      return skip('not_confirmed', `no object passed the vision check (${why})`);
    }
    // Unchecked past the wait: the llm_down rule speaks for them.
    if (config.llm_down === 'hold')
      return skip('llm_down_hold', `${pending.length} object(s) not verified in time; held by rule llm_down: hold`);
    confirmed = pending;
    unverifiedTitle = config.llm_down === 'push_unverified';
    asVerified = config.llm_down === 'push';
  }

  const verified = confirmed.filter((o) => o.verdict === 'verified');
  const quiet = quietHoursFor(config, review.tenantId);
  if (quiet && inQuietHours(now, quiet)) {
    const threat = Math.max(-1, ...verified.map((o) => o.threat ?? -1));
    const bypass = quiet.bypass_threat !== undefined && threat >= quiet.bypass_threat;
    if (!bypass) return skip('quiet_hours', `quiet hours ${quiet.start}-${quiet.end} (${quiet.time_zone})`);
  }

  const lead = [...verified].sort((a, b) => (b.confidence ?? 0) - (a.confidence ?? 0))[0];
  const label = lead?.label ?? confirmed.find((o) => o.label !== null)?.label ?? review.labels[0] ?? 'object';
  const edge = edgeSummary(label, review.camera);
  const title = lead?.summary
    ? truncate(lead.summary, SUMMARY_MAX)
    : unverifiedTitle
      ? truncate(`Unverified: ${edge}`, SUMMARY_MAX)
      : edge;
  const parts = [`${review.camera}: ${review.labels.join(', ')}`];
  if (review.objectCount > 1) parts.push(`${review.objectCount} objects`);
  if (review.zones.length > 0) parts.push(`in ${review.zones.join(', ')}`);
  const body = truncate(parts.join(' · '), BODY_MAX);
  if (!first && input.lastSent?.title === title && input.lastSent.body === body)
    return skip('unchanged', 'the push already shows this');
  return {
    push: true,
    reason: first ? 'pushed' : 'updated',
    detail: `${title} — ${body}`,
    content: {
      title,
      body,
      unverified: verified.length === 0 && !asVerified,
      priority: first ? 'high' : 'normal',
      update: !first,
    },
    ...(lead ? { leadEventId: lead.eventId } : {}),
  };
}
