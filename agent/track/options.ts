import { Type, type Static } from '@sinclair/typebox';

/** Tracker settings (the `tracker` config section). Times in ms. Defaults follow the event-quality rules. */
const LabelGate = Type.Object(
  {
    min_score: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  },
  { additionalProperties: false },
);

export const TrackerConfigSchema = Type.Object(
  {
    min_score: Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'Detections below this are ignored' }),
    threshold: Type.Number({ minimum: 0, maximum: 1, default: 0.7, description: 'Median of the last 10 scores needed to announce an event' }),
    labels: Type.Record(Type.String(), LabelGate, { default: {}, description: 'Per-label min_score/threshold' }),
    match_iou: Type.Number({ minimum: 0, maximum: 1, default: 0.3, description: 'Least overlap to continue a track' }),
    max_disappeared_ms: Type.Integer({ minimum: 0, default: 2000, description: 'A moving object missing this long ends' }),
    stationary_max_disappeared_ms: Type.Integer({ minimum: 0, default: 60000, description: 'A stationary object missing this long ends' }),
    stationary_iou: Type.Number({ minimum: 0, maximum: 1, default: 0.8, description: 'Overlap with its anchor position that counts as not moved' }),
    stationary_after_ms: Type.Integer({ minimum: 0, default: 5000, description: 'Unmoved this long → stationary' }),
    update_min_interval_ms: Type.Integer({ minimum: 0, default: 2000, description: 'Least time between update messages of one event' }),
    update_period_ms: Type.Integer({ minimum: 0, default: 10000, description: 'Periodic update while the event lasts' }),
    label_groups: Type.Array(Type.Array(Type.String({ minLength: 1 }), { minItems: 2, uniqueItems: true }), {
      default: [
        ['car', 'truck', 'bus'],
        ['bicycle', 'motorcycle'],
      ],
      description:
        'Labels a detector confuses for one object (each label in at most one group). A detection of another label of the group that overlaps a track by label_group_iou is that object seen again: no new event',
    }),
    label_group_iou: Type.Number({ minimum: 0, maximum: 1, default: 0.6, description: 'Least overlap for a confusable label to count as the same object' }),
  },
  { additionalProperties: false },
);
export type TrackerConfig = Static<typeof TrackerConfigSchema>;

export const TRACKER_DEFAULTS: TrackerConfig = {
  min_score: 0.5,
  threshold: 0.7,
  labels: {},
  match_iou: 0.3,
  max_disappeared_ms: 2000,
  stationary_max_disappeared_ms: 60000,
  stationary_iou: 0.8,
  stationary_after_ms: 5000,
  update_min_interval_ms: 2000,
  update_period_ms: 10000,
  label_groups: [
    ['car', 'truck', 'bus'],
    ['bicycle', 'motorcycle'],
  ],
  label_group_iou: 0.6,
};
