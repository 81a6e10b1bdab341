import { parseDuration } from '../../shared/clock/index.js';
import { SUMMARY_MAX } from '../reclassify/answer.js';
import { edgeSummary, truncate, type Classification } from '../reclassify/classification.js';
import type { LabelRule, NotifyConfig, QuietHours } from './config.js';
import { inQuietHours } from './quiet-hours.js';

/**
 * The push policy, pure: given an event, what the vision LLM said about it and the push history, decide whether
 * the owner's phone buzzes and how the event is marked. No I/O, no clock reads — the caller passes `now`.
 *
 * Two steps, so nothing is paid for an event that could never notify:
 *   prefilter(event)            before re-classification: already pushed, label not notified, edge score too low,
 *                               too old → decided (verdict skipped); otherwise null = go and ask the LLM
 *   decide(event, classification)
 *     verified:   LLM disagrees / other label / not confident enough → no push, verdict rejected
 *     unverified: provider none → push on the box's word; LLM down/over budget/no picture → the llm_down rule
 *     then:       camera snoozed, cooldown per device+camera+label, quiet hours (unless the threat is high
 *                 enough) → no push
 *
 * One push per event: once pushed, an event never pushes again (updates and `end` included); a resend after a
 * crash carries the event id as collapse id, so the phone shows one notification.
 */
export interface PolicyEvent {
  id: string;
  tenantId: string;
  deviceId: string;
  camera: string;
  /** The box's label. */
  label: string;
  /** The box's best score for the event (cloud/store/event-view.ts bestScore: top_score when sent, else score). */
  score: number;
  startedAt: number;
}

export interface PushHistory {
  /** This event already produced a push. */
  pushed: boolean;
  /** Time of the last push for the same device + camera + label (another event), or null. */
  lastPushAt: number | null;
}

/** How the event is marked after the decision. */
export type Verdict = 'verified' | 'unverified' | 'rejected' | 'held' | 'skipped';

export type DecisionReason =
  | 'verified'
  | 'edge_only'
  | 'llm_down_push'
  | 'llm_down_push_unverified'
  | 'llm_down_hold'
  | 'llm_disagrees'
  | 'label_mismatch'
  | 'low_confidence'
  | 'label_not_notified'
  | 'low_edge_score'
  | 'too_old'
  | 'already_pushed'
  | 'cooldown'
  | 'quiet_hours'
  | 'snoozed'
  | 'disabled';

export interface PushContent {
  title: string;
  body: string;
  /** True when no LLM confirmed the detection. */
  unverified: boolean;
  priority: 'high' | 'normal';
}

export interface Decision {
  push: boolean;
  verdict: Verdict;
  reason: DecisionReason;
  /** One line for logs and the API. */
  detail: string;
  /** Set when push is true. */
  content?: PushContent;
}

export interface PolicyInput {
  event: PolicyEvent;
  history: PushHistory;
  now: number;
  /** The camera's snooze end, when one was set: no push while it is later than now. */
  snoozedUntil?: number | null;
}

function ruleOf(config: NotifyConfig, label: string): LabelRule | undefined {
  return config.labels[label] ?? config.labels[label.toLowerCase()];
}

export function quietHoursFor(config: NotifyConfig, tenantId: string): QuietHours | undefined {
  return config.tenants[tenantId]?.quiet_hours ?? config.quiet_hours;
}

const pct = (x: number): string => `${Math.round(x * 100)}%`;
const skip = (verdict: Verdict, reason: DecisionReason, detail: string): Decision => ({
  push: false,
  verdict,
  reason,
  detail,
});

/** Decides without the LLM when the answer could not matter; null means "re-classify, then decide()". */
export function prefilter(input: PolicyInput, config: NotifyConfig): Decision | null {
  const { event, history, now } = input;
  if (!config.enabled) return skip('skipped', 'disabled', 'notifications are disabled');
  if (history.pushed) return skip('skipped', 'already_pushed', 'this event was already pushed');
  const rule = ruleOf(config, event.label);
  if (!rule) return skip('skipped', 'label_not_notified', `label "${event.label}" is not in notify.labels`);
  const minScore = rule.min_score ?? config.min_score;
  if (event.score < minScore)
    return skip('skipped', 'low_edge_score', `edge score ${event.score} below ${minScore} for ${event.label}`);
  const maxAge = parseDuration(config.max_event_age);
  if (now - event.startedAt > maxAge)
    return skip(
      'skipped',
      'too_old',
      `event started ${Math.round((now - event.startedAt) / 1000)} s ago (max ${config.max_event_age})`,
    );
  return null;
}

function sameLabel(rule: LabelRule, edge: string, llm: string): boolean {
  const norm = (s: string): string => s.trim().toLowerCase();
  const l = norm(llm);
  return l === norm(edge) || (rule.aliases ?? []).some((a) => norm(a) === l);
}

/** The full decision after re-classification: the verdict (judge), then cooldown and quiet hours. */
export function decide(input: PolicyInput & { classification: Classification }, config: NotifyConfig): Decision {
  const verdict = judge(input, config);
  if (!verdict.push) return verdict;
  return gate(verdict, input, config);
}

/**
 * The verdict alone: prefilter, then what the LLM said (or the llm_down rule). `push: true` means the event is
 * confirmed and would notify but for the cooldown and quiet hours (`gate`). An event of a box that sends review
 * items is judged only: its review item pushes (./review-policy.ts), with the verdicts of its objects.
 */
export function judge(input: PolicyInput & { classification: Classification }, config: NotifyConfig): Decision {
  const early = prefilter(input, config);
  if (early) return early;
  const { event, classification: c } = input;
  const rule = ruleOf(config, event.label)!;
  let verdict: Verdict;
  let reason: DecisionReason;
  let content: PushContent;

  if (c.status === 'verified') {
    const minConfidence = rule.min_confidence ?? config.min_confidence;
    if (c.agrees_with_edge === false)
      return skip('rejected', 'llm_disagrees', `LLM does not see a ${event.label}: "${c.classify_summary}"`);
    if (!sameLabel(rule, event.label, c.classify_label))
      return skip('rejected', 'label_mismatch', `LLM says ${c.classify_label}, box said ${event.label}`);
    if (c.classify_confidence < minConfidence)
      return skip('rejected', 'low_confidence', `LLM confidence ${c.classify_confidence} below ${minConfidence}`);
    verdict = 'verified';
    reason = 'verified';
    content = {
      title: truncate(c.classify_summary, SUMMARY_MAX),
      body: `${event.camera}: ${event.label}, ${pct(c.classify_confidence)} sure`,
      unverified: false,
      priority: (c.classify_threat ?? 1) >= 1 ? 'high' : 'normal',
    };
  } else if (c.reason === 'provider_none') {
    verdict = 'unverified';
    reason = 'edge_only';
    content = {
      title: edgeSummary(event.label, event.camera),
      body: `${event.camera}: ${event.label}, score ${pct(event.score)}`,
      unverified: true,
      priority: 'high',
    };
  } else {
    const why =
      c.reason === 'over_budget'
        ? 'vision check took too long'
        : c.reason === 'no_thumbnail'
          ? 'no picture to check'
          : 'vision check unavailable';
    switch (config.llm_down) {
      case 'hold':
        return skip('held', 'llm_down_hold', `not verified (${why}); held by rule llm_down: hold`);
      case 'push':
        verdict = 'unverified';
        reason = 'llm_down_push';
        content = {
          title: edgeSummary(event.label, event.camera),
          body: `${event.camera}: ${event.label}, score ${pct(event.score)}`,
          unverified: false,
          priority: 'high',
        };
        break;
      case 'push_unverified':
        verdict = 'unverified';
        reason = 'llm_down_push_unverified';
        content = {
          title: truncate(`Unverified: ${edgeSummary(event.label, event.camera)}`, SUMMARY_MAX),
          body: `${event.camera}: ${event.label}, score ${pct(event.score)} — not verified (${why})`,
          unverified: true,
          priority: 'high',
        };
        break;
    }
  }

  return { push: true, verdict, reason, detail: content.title, content };
}

/** The camera's snooze, cooldown per device + camera + label, quiet hours (unless the LLM's threat bypasses them). */
function gate(
  judged: Decision,
  input: PolicyInput & { classification: Classification },
  config: NotifyConfig,
): Decision {
  const { event, history, now, classification: c } = input;
  const verdict = judged.verdict;
  const snoozed = input.snoozedUntil ?? null;
  if (snoozed !== null && snoozed > now)
    return skip(verdict, 'snoozed', `camera ${event.camera} is snoozed until ${new Date(snoozed).toISOString()}`);
  const cooldownMs = parseDuration(config.cooldown);
  if (history.lastPushAt !== null && now - history.lastPushAt < cooldownMs) {
    return skip(
      verdict,
      'cooldown',
      `a ${event.label} on ${event.camera} was pushed ${Math.round((now - history.lastPushAt) / 1000)} s ago ` +
        `(cooldown ${config.cooldown})`,
    );
  }
  const quiet = quietHoursFor(config, event.tenantId);
  if (quiet && inQuietHours(now, quiet)) {
    const threat = c.status === 'verified' ? c.classify_threat : null;
    const bypass = quiet.bypass_threat !== undefined && threat !== null && threat >= quiet.bypass_threat;
    if (!bypass) return skip(verdict, 'quiet_hours', `quiet hours ${quiet.start}-${quiet.end} (${quiet.time_zone})`);
  }
  return judged;
}
