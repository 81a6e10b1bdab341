import type { ReviewSeverity } from './messages.js';
import type { ReviewRules } from './options.js';

/** Which review severity an object qualifies for, by the camera's review rules (pure). */

/** `alert` > `detection` > nothing. */
export function severityRank(s: ReviewSeverity | undefined): number {
  return s === 'alert' ? 2 : s === 'detection' ? 1 : 0;
}

const enteredOneOf = (required: readonly string[], entered: readonly string[]): boolean =>
  required.length === 0 || required.some((z) => entered.includes(z));

/**
 * `alert` when the label is an alert label and the object entered one of the alert's required zones (any place when
 * none is required); else `detection` by the detection labels (unset: every label) and required zones; else none.
 */
export function qualify(rules: ReviewRules, label: string, entered: readonly string[]): ReviewSeverity | undefined {
  if (rules.alerts.labels.includes(label) && enteredOneOf(rules.alerts.required_zones, entered)) return 'alert';
  const detectionLabel = rules.detections.labels === undefined || rules.detections.labels.includes(label);
  if (detectionLabel && enteredOneOf(rules.detections.required_zones, entered)) return 'detection';
  return undefined;
}
