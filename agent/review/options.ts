import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/**
 * How review items are grouped, beyond the camera's review rules (labels and required zones): the merge gap.
 * Defaults live here once; a config that exposes them embeds this schema.
 */
export const ReviewGroupingSchema = Type.Object(
  {
    merge_gap_s: Type.Number({
      minimum: 0,
      maximum: 600,
      default: 5,
      description:
        'Seconds a review item stays open after its last object stopped being active (ended, or parked): a ' +
        'qualifying object that appears meanwhile joins it instead of starting a new item.',
    }),
  },
  { additionalProperties: false, default: {} },
);
export type ReviewGrouping = Static<typeof ReviewGroupingSchema>;
export const REVIEW_GROUPING_DEFAULTS: ReviewGrouping = Value.Default(ReviewGroupingSchema, {}) as ReviewGrouping;

/**
 * A camera's review rules (agent config `cameras[].review`, defaults filled): which objects make an alert and which
 * a detection. The config's ReviewConfig has this shape.
 */
export interface ReviewRules {
  alerts: { labels: readonly string[]; required_zones: readonly string[] };
  /** `labels` unset: every label. */
  detections: { labels?: readonly string[] | undefined; required_zones: readonly string[] };
}
