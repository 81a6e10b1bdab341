import { Type, type Static } from '@sinclair/typebox';
import { REVIEW_OBJECTS_MAX, ZONES_MAX } from '../../firmware-protocol/limits.js';
import {
  CAMERA_NAME_PATTERN,
  EVENT_ID_PATTERN,
  REVIEW_ID_PATTERN,
  ZONE_NAME_PATTERN,
} from '../../firmware-protocol/patterns.js';

/**
 * The review messages the review stage emits (agent/review/tracker.ts): one review item id lives through `new` →
 * `update`* → `end`, like an event. The wire builder (agent/wire/review-builder.ts) turns them into protocol
 * Reviews; `analyze --json` prints them as they are.
 */
export const ReviewMessageSchema = Type.Object(
  {
    kind: Type.Literal('review', { description: 'Tells a review line from an event line' }),
    type: Type.Union([Type.Literal('new'), Type.Literal('update'), Type.Literal('end')]),
    id: Type.String({ pattern: REVIEW_ID_PATTERN, description: 'Stable review item id (rev_<ULID>)' }),
    camera: Type.String({ pattern: CAMERA_NAME_PATTERN }),
    severity: Type.Union([Type.Literal('alert'), Type.Literal('detection')], {
      description: 'alert or detection by the camera review settings; fixed for the item (two lanes per camera)',
    }),
    started_at: Type.String({
      format: 'date-time',
      description: "Wall clock of the first object's start, or of the frame where it qualified if later",
    }),
    ended_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'Wall clock when the last object stopped being active; end only',
    }),
    objects: Type.Array(Type.String({ pattern: EVENT_ID_PATTERN }), {
      minItems: 1,
      maxItems: REVIEW_OBJECTS_MAX,
      description: 'Event ids in order of joining (the first 64)',
    }),
    labels: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      maxItems: REVIEW_OBJECTS_MAX,
      description: 'Labels of the objects, in order of first appearance',
    }),
    zones: Type.Array(Type.String({ pattern: ZONE_NAME_PATTERN }), {
      maxItems: ZONES_MAX,
      description: 'Zones the objects entered, in order of entry',
    }),
    thumbnail_event: Type.Optional(
      Type.String({ pattern: EVENT_ID_PATTERN, description: "The object whose thumbnail is the item's best" }),
    ),
    media_start: Type.Optional(
      Type.Number({ minimum: 0, description: 'File inputs: seconds into the file when the item started' }),
    ),
    media_end: Type.Optional(
      Type.Union([Type.Number({ minimum: 0 }), Type.Null()], {
        description: 'File inputs: seconds into the file when the item ended; end only',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ReviewMessage = Static<typeof ReviewMessageSchema>;
export type ReviewSeverity = ReviewMessage['severity'];
