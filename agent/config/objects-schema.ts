import { Type, type Static } from '@sinclair/typebox';
import { ZONE_NAME_PATTERN } from '../../firmware-protocol/patterns.js';
import { ZONES_MAX } from '../../firmware-protocol/limits.js';
import { polygonSchema } from '../geometry/polygon.js';
import { ReviewGroupingSchema } from '../review/options.js';

/**
 * What a camera looks for and where: the label set, per-label object filters, object masks, zones and the review
 * settings (which objects make an alert or a detection). Part of the camera entry of the agent config
 * (agent/config/schema.ts); checked beyond the schema by agent/config/camera-checks.ts.
 */

/*
 * Non-empty list defaults sit on the enclosing object (`default: { labels: [...] }`), never on the list itself:
 * TypeBox's Value.Default merges a list default into a list the user wrote (Object.assign), so `labels: [dog]`
 * with a list default of [person, car] would come out as [dog, car]. On the object, a written list replaces it.
 */

/** Labels a camera tracks when its config says nothing (`labels: all` tracks every label the model knows). */
export const DEFAULT_LABELS = ['person', 'car', 'bicycle', 'motorcycle', 'bus', 'truck', 'dog', 'cat'] as const;
/** Labels an object must have for a review item to be an alert, unless `review.alerts.labels` says otherwise. */
export const DEFAULT_ALERT_LABELS = ['person', 'car'] as const;

const Score = (description: string) => Type.Number({ minimum: 0, maximum: 1, description });
const Label = Type.String({ minLength: 1, description: 'An object label the model knows, e.g. person, car, dog' });
const ZoneName = Type.String({ pattern: ZONE_NAME_PATTERN, description: 'A zone name of this camera' });

export const ObjectMaskSchema = polygonSchema(
  'Object mask: a polygon, at least 3 [x, y] points normalised 0..1. A detection whose box has its bottom-centre ' +
    'inside is dropped before tracking (a parked car, a poster of a person).',
);

/** Box size and shape limits; areas in pixels of the detect frame, or a fraction of it when ≤ 1. */
const shapeLimits = (effect: string) => ({
  min_area: Type.Optional(
    Type.Number({
      minimum: 0,
      description:
        `Boxes smaller than this ${effect}: pixels of the detect frame (detect.width × detect.height), or a ` +
        'fraction of the frame when ≤ 1 (0.01 = 1%).',
    }),
  ),
  max_area: Type.Optional(
    Type.Number({
      exclusiveMinimum: 0,
      description: `Boxes larger than this ${effect}: pixels of the detect frame, or a fraction of it when ≤ 1.`,
    }),
  ),
  min_ratio: Type.Optional(
    Type.Number({
      exclusiveMinimum: 0,
      description: `Boxes whose width/height is below this ${effect} (a standing person is about 0.4).`,
    }),
  ),
  max_ratio: Type.Optional(
    Type.Number({ exclusiveMinimum: 0, description: `Boxes whose width/height is above this ${effect}.` }),
  ),
});

export const LabelFilterSchema = Type.Object(
  {
    min_score: Type.Optional(Score('Detections of this label scoring below this are ignored.')),
    threshold: Type.Optional(Score('Median score of this label needed to announce an event.')),
    ...shapeLimits('are dropped before tracking'),
    mask: Type.Optional(
      Type.Array(ObjectMaskSchema, {
        description: 'Object masks of this label only: its detections with the bottom-centre inside are dropped.',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'Gates of one label: scores, box size and shape, masks. Applied before tracking.',
  },
);
export type LabelFilterConfig = Static<typeof LabelFilterSchema>;

export const ZoneLabelFilterSchema = Type.Object(
  {
    min_score: Type.Optional(Score('Detections scoring below this do not count in the zone.')),
    ...shapeLimits('do not count in the zone'),
  },
  {
    additionalProperties: false,
    description: 'What a detection of one label needs to count in this zone (size, shape, score).',
  },
);
export type ZoneLabelFilterConfig = Static<typeof ZoneLabelFilterSchema>;

export const ZoneConfigSchema = Type.Object(
  {
    coordinates: polygonSchema(
      'The zone: a polygon, at least 3 [x, y] points normalised 0..1 (x right, y down from the top-left). An ' +
        'object is in it when the bottom-centre of its box is.',
    ),
    objects: Type.Optional(
      Type.Array(Label, {
        minItems: 1,
        uniqueItems: true,
        description: 'Labels that count in this zone, e.g. [person]. Unset: every label the camera tracks.',
      }),
    ),
    inertia: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 3,
      description:
        'Consecutive detected frames inside the zone before the object counts as in it, and outside before it ' +
        'counts as having left (a box that jitters over the edge neither enters nor leaves).',
    }),
    loitering_time: Type.Number({
      minimum: 0,
      maximum: 86400,
      default: 0,
      description: 'Seconds an object must stay inside before it counts as in the zone (0: as soon as inertia allows).',
    }),
    filters: Type.Record(Type.String({ minLength: 1 }), ZoneLabelFilterSchema, {
      default: {},
      keyName: 'label',
      description: 'Per label, what a detection needs to count in this zone, e.g. {person: {min_area: 0.005}}.',
    }),
  },
  {
    additionalProperties: false,
    // Never used as a value (a zone is always written): it makes Value.Default fill the zone's own defaults.
    default: {},
    description: 'A named zone of the camera; events say which zones their object entered (`zones`) and is in now.',
  },
);
export type ZoneConfig = Static<typeof ZoneConfigSchema>;

export const ZonesSchema = Type.Record(Type.String({ pattern: ZONE_NAME_PATTERN }), ZoneConfigSchema, {
  default: {},
  additionalProperties: false,
  maxProperties: ZONES_MAX,
  description:
    `Zones by name (letters, digits, _ and -; unique on the camera, not a camera's name; at most ${ZONES_MAX}): ` +
    '{porch: {coordinates: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]], objects: [person], inertia: 3, loitering_time: 0}}.',
});

export const ObjectsConfigSchema = Type.Object(
  {
    mask: Type.Array(ObjectMaskSchema, {
      default: [],
      description:
        'Object masks, every label: a detection whose bottom-centre is inside one is dropped before tracking. ' +
        'Unlike motion masks (`masks`), which hide changing pixels from the motion stage, an object mask only ' +
        'drops objects standing in it: a person walking past a masked parked car is still seen.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Object masks of this camera.' },
);
export type ObjectsConfig = Static<typeof ObjectsConfigSchema>;

/** Range and default of the merge gap come from agent/review (ReviewGroupingSchema), the one place they are set. */
const MERGE_GAP = ReviewGroupingSchema.properties.merge_gap_s;

const RequiredZones = (what: string) =>
  Type.Array(ZoneName, {
    default: [],
    uniqueItems: true,
    description:
      `Zones of this camera an object must have entered to make ${what}; empty: anywhere in the frame. Each must ` +
      'be a zone of this camera.',
  });

export const ReviewConfigSchema = Type.Object(
  {
    alerts: Type.Object(
      {
        labels: Type.Array(Label, {
          uniqueItems: true,
          description: `Labels whose objects make a review item an alert. Unset: ${DEFAULT_ALERT_LABELS.join(', ')}.`,
        }),
        required_zones: RequiredZones('an alert'),
      },
      {
        additionalProperties: false,
        default: { labels: [...DEFAULT_ALERT_LABELS] },
        description: 'What makes a review item an alert (pushed).',
      },
    ),
    detections: Type.Object(
      {
        labels: Type.Optional(
          Type.Array(Label, {
            uniqueItems: true,
            description: 'Labels whose objects make a detection. Unset: every label the camera tracks.',
          }),
        ),
        required_zones: RequiredZones('a detection'),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'What makes a review item a detection (kept, not pushed) when it is not an alert.',
      },
    ),
    merge_gap: Type.Number({
      minimum: MERGE_GAP.minimum,
      maximum: MERGE_GAP.maximum,
      default: MERGE_GAP.default,
      description:
        'Seconds: objects active within this gap of each other are one review item. An item stays open this long ' +
        'after its last object stopped being active (ended, or parked); a qualifying object that appears meanwhile ' +
        'joins it, a later one starts a new item. 0: an item ends as soon as its last object does.',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'Review items: overlapping objects of this camera form one item, an alert or a detection, by these rules.',
  },
);
export type ReviewConfig = Static<typeof ReviewConfigSchema>;

export const CameraLabelsSchema = Type.Union(
  [
    Type.Literal('all', { description: 'every label the model knows' }),
    Type.Array(Label, { minItems: 1, uniqueItems: true }),
  ],
  {
    description:
      `Labels to track, e.g. [person, car], or \`all\` (every label the model knows). Unset: ` +
      `${DEFAULT_LABELS.join(', ')}. Without a model only motion events are made.`,
  },
);
