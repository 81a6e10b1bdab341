import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

/** Score gates of one label. */
const LabelGate = Type.Object(
  {
    min_score: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  },
  { additionalProperties: false },
);

/**
 * The tracker's settings, as one TypeBox schema holding their defaults (the event-quality rules) and descriptions.
 * Times in ms. A camera's config sets the score gates (agent/config/cameras.ts: `trackerConfigFor`); the rest are
 * these defaults (`TRACKER_DEFAULTS`, filled in from the schema).
 */
export const TrackerConfigSchema = Type.Object(
  {
    min_score: Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'Detections below this are ignored' }),
    threshold: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.7,
      description: 'Median of the last 10 scores needed to announce an event',
    }),
    labels: Type.Record(Type.String(), LabelGate, { default: {}, description: 'Per-label min_score/threshold' }),
    match_iou: Type.Number({ minimum: 0, maximum: 1, default: 0.3, description: 'Least overlap to continue a track' }),
    max_disappeared_ms: Type.Integer({
      minimum: 0,
      default: 2000,
      description: 'A moving object missing this long ends',
    }),
    stationary_max_disappeared_ms: Type.Integer({
      minimum: 0,
      default: 60000,
      description: 'A stationary object missing this long ends',
    }),
    stationary_iou: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.8,
      description: 'Overlap with its anchor position that counts as not moved',
    }),
    stationary_after_ms: Type.Integer({ minimum: 0, default: 5000, description: 'Unmoved this long → stationary' }),
    update_min_interval_ms: Type.Integer({
      minimum: 0,
      default: 2000,
      description: 'Least time between update messages of one event',
    }),
    update_period_ms: Type.Integer({
      minimum: 0,
      default: 10000,
      description: 'Periodic update while the event lasts',
    }),
    label_groups: Type.Array(Type.Array(Type.String({ minLength: 1 }), { minItems: 2, uniqueItems: true }), {
      default: [
        ['car', 'truck', 'bus'],
        ['bicycle', 'motorcycle'],
      ],
      description:
        'Labels a detector confuses for one object (each label in at most one group). A detection of another label ' +
        'of the group that overlaps a track by label_group_iou is that object seen again: no new event',
    }),
    label_group_iou: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.6,
      description: 'Least overlap for a confusable label to count as the same object',
    }),
  },
  { additionalProperties: false },
);
export type TrackerConfig = Static<typeof TrackerConfigSchema>;

/** Every tracker setting at its default, from the schema (the one place they are written). */
export const TRACKER_DEFAULTS: TrackerConfig = Value.Default(TrackerConfigSchema, {}) as TrackerConfig;
