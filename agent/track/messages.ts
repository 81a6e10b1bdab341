import { Type, type Static } from '@sinclair/typebox';
import { ZONES_MAX } from '../../firmware-protocol/limits.js';
import { ZONE_NAME_PATTERN } from '../../firmware-protocol/patterns.js';

/**
 * The event messages the vision pipeline emits (and the outbox stores and sends). One event id lives through
 * `new` → `update`* → `end`.
 */
export const EventMessageSchema = Type.Object(
  {
    type: Type.Union([Type.Literal('new'), Type.Literal('update'), Type.Literal('end')]),
    id: Type.String({ pattern: '^evt_[0-9A-HJKMNP-TV-Z]{26}$', description: 'Stable event id (evt_<ULID>)' }),
    camera: Type.String({ minLength: 1 }),
    label: Type.String({ minLength: 1, description: "Object class, or 'motion' for motion-only events" }),
    score: Type.Number({
      minimum: 0,
      maximum: 1,
      description: 'Median of the last 10 detection scores (the gate value)',
    }),
    top_score: Type.Number({ minimum: 0, maximum: 1, description: 'Highest median so far' }),
    box: Type.Tuple([Type.Number(), Type.Number(), Type.Number(), Type.Number()], {
      description: 'Latest box, normalized 0..1: [x1, y1, x2, y2]',
    }),
    started_at: Type.String({ format: 'date-time', description: 'Wall clock (UTC) of the first detection' }),
    ended_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'Wall clock of the last detection; end only',
    }),
    media_start: Type.Optional(
      Type.Number({ minimum: 0, description: 'File inputs: seconds into the file of the first detection' }),
    ),
    media_end: Type.Optional(
      Type.Union([Type.Number({ minimum: 0 }), Type.Null()], {
        description: 'File inputs: seconds of the last detection; end only',
      }),
    ),
    duration: Type.Optional(Type.Number({ minimum: 0, description: 'Seconds from first to last detection; end only' })),
    end_reason: Type.Optional(
      Type.Union([Type.Literal('left'), Type.Literal('agent_stop')], {
        description:
          'End only: left = the object was gone for the disappearance time; agent_stop = the agent stopped the ' +
          'camera (shutdown, reload) with the event open. Absent when the input itself ended (end of file) or failed.',
      }),
    ),
    stationary: Type.Boolean({ description: 'The object has not moved for a while (parked car)' }),
    moved: Type.Optional(
      Type.Boolean({
        description:
          'The object left its first position at least once (a car parked since it was first seen has not); ' +
          'object events always say, motion events are true. Review items count only objects that moved.',
      }),
    ),
    zones: Type.Array(Type.String({ pattern: ZONE_NAME_PATTERN }), {
      maxItems: ZONES_MAX,
      uniqueItems: true,
      description: 'Zones the object entered so far, in order of entry (motion-only events: none)',
    }),
    current_zones: Type.Array(Type.String({ pattern: ZONE_NAME_PATTERN }), {
      maxItems: ZONES_MAX,
      uniqueItems: true,
      description: 'Zones the object is in at the time of this message (each also in `zones`)',
    }),
    attributes: Type.Optional(
      Type.Record(
        Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' }),
        Type.Union([Type.String({ maxLength: 256 }), Type.Number(), Type.Boolean()]),
        {
          description:
            'Extra facts about the object, e.g. alt_label/alt_score: the runner-up label of a confusable group ' +
            '(car/truck) and its mean score over the last 10 frames',
        },
      ),
    ),
    thumbnail: Type.Optional(Type.String({ description: 'JPEG crop around the object (best so far)' })),
    snapshot: Type.Optional(Type.String({ description: 'Full-frame JPEG with the box drawn (best so far)' })),
  },
  { additionalProperties: false },
);
export type EventMessage = Static<typeof EventMessageSchema>;
export type EventMessageType = EventMessage['type'];
/** Why the pipeline ended an event (see `end_reason`). */
export type PipelineEndReason = NonNullable<EventMessage['end_reason']>;

/**
 * A request to keep part of the current frame for an event's pictures (the thumbnail store copies it).
 * `best`: a better view of the object: keep its crop, and the whole frame too once the event is announced.
 * `snapshot`: the event was just announced and its best crop is older: keep this whole frame for the snapshot.
 * Tracks that have not passed the gate never hold a whole frame (most never pass it).
 */
export interface ThumbnailCandidate {
  id: string;
  /** Box in frame pixels. */
  box: [number, number, number, number];
  score: number;
  kind: 'best' | 'snapshot';
  /** The event is announced (or is announced by this frame's message). */
  announced: boolean;
}

export interface TrackerOutput {
  messages: EventMessage[];
  thumbnails: ThumbnailCandidate[];
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

export function round(v: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
