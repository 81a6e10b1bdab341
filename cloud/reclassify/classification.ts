import { SUMMARY_MAX } from './answer.js';

/**
 * The outcome of re-classifying one event, as stored on the event and shown by the API (`verification`).
 *
 * `status: verified` — a vision LLM answered with a valid answer (maybe from the cache); the classify_* fields are
 * its answer. `status: unverified` — nobody verified the picture; the classify_* fields repeat the box's label and
 * score, `classify_threat` and `agrees_with_edge` are null, and `reason` says why:
 *   provider_none       no LLM is configured (the embedded default): the box's word is all there is
 *   no_thumbnail        the event has no picture (yet) to show an LLM
 *   thumbnail_unreadable the picture could not be decoded
 *   unavailable         every configured LLM failed, or its circuit is open
 *   over_budget         the latency budget ran out before a valid answer
 * The notify policy treats `provider_none` as the owner's choice and the other reasons as "LLM down".
 */
export type UnverifiedReason =
  | 'provider_none'
  | 'no_thumbnail'
  | 'thumbnail_unreadable'
  | 'unavailable'
  | 'over_budget';

export interface ClassificationAttempt {
  provider: string;
  /** null on success; else the `llm_*` code (or `llm_circuit_open`, `thumbnail_unreadable`). */
  code: string | null;
  message: string | null;
  ms: number;
}

export interface Classification {
  status: 'verified' | 'unverified';
  reason: UnverifiedReason | null;
  classify_label: string;
  classify_confidence: number;
  classify_summary: string;
  classify_threat: number | null;
  agrees_with_edge: boolean | null;
  provider: string;
  model: string | null;
  /** Wall time spent on this event's re-classification, ms. */
  ms: number;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  /** True when the answer came from the cache (nothing was paid for). */
  cached: boolean;
  prompt_version: string | null;
  image_sha256: string | null;
  attempts: ClassificationAttempt[];
}

/** A title for a push when no LLM wrote one: "Person at front_door", at most SUMMARY_MAX chars. */
export function edgeSummary(label: string, camera: string): string {
  const text = `${label.charAt(0).toUpperCase()}${label.slice(1)} at ${camera}`;
  return truncate(text, SUMMARY_MAX);
}

export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}
