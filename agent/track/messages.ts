import { Type, type Static } from '@sinclair/typebox';

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
    score: Type.Number({ minimum: 0, maximum: 1, description: 'Median of the last 10 detection scores (the gate value)' }),
    top_score: Type.Number({ minimum: 0, maximum: 1, description: 'Highest median so far' }),
    box: Type.Tuple([Type.Number(), Type.Number(), Type.Number(), Type.Number()], {
      description: 'Latest box, normalized 0..1: [x1, y1, x2, y2]',
    }),
    started_at: Type.String({ format: 'date-time', description: 'Wall clock (UTC) of the first detection' }),
    ended_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'Wall clock of the last detection; end only' }),
    media_start: Type.Optional(Type.Number({ minimum: 0, description: 'File inputs: seconds into the file of the first detection' })),
    media_end: Type.Optional(Type.Union([Type.Number({ minimum: 0 }), Type.Null()], { description: 'File inputs: seconds of the last detection; end only' })),
    duration: Type.Optional(Type.Number({ minimum: 0, description: 'Seconds from first to last detection; end only' })),
    stationary: Type.Boolean({ description: 'The object has not moved for a while (parked car)' }),
    thumbnail: Type.Optional(Type.String({ description: 'JPEG crop around the object (best so far)' })),
    snapshot: Type.Optional(Type.String({ description: 'Full-frame JPEG with the box drawn (best so far)' })),
  },
  { additionalProperties: false },
);
export type EventMessage = Static<typeof EventMessageSchema>;
export type EventMessageType = EventMessage['type'];

/** A request to keep the current frame's region as the event's best picture (the pipeline copies the frame). */
export interface ThumbnailCandidate {
  id: string;
  /** Box in frame pixels. */
  box: [number, number, number, number];
  score: number;
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
