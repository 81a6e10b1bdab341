import { Type, type Static } from '@sinclair/typebox';
import { validator, type SchemaIssue } from '../../shared/schema/index.js';
import { ATTRIBUTE_VALUE_MAX, ATTRIBUTES_MAX, BATCH_MAX_EVENTS, ZONES_MAX } from '../limits.js';
import { ATTRIBUTE_KEY_PATTERN } from '../patterns.js';
import {
  CameraName,
  DateTime,
  DeviceId,
  EventId,
  embed,
  INTEGER_MAX,
  Label,
  Score,
  top,
  V,
  wireObject,
  ZoneList,
} from './common.js';
import { isReviewItem, Review, validateReview } from './review.js';
import { fromIssues, withRules } from './rules.js';
import { ThumbnailInfo } from './thumbnail-info.js';

/**
 * Event and EventBatch: the messages of a detection event (`new`, `update`s, `end`), their cross-field rules that JSON
 * Schema cannot express, and validators that check both.
 */

export const EVENT_TYPES = ['new', 'update', 'end'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Why the box ended an event (Event.end_reason, only on type = end). */
export const EVENT_END_REASONS = ['left', 'agent_stop', 'agent_restart'] as const;
export type EventEndReason = (typeof EVENT_END_REASONS)[number];

const BoxSchema = Type.Array(
  Type.Number({
    minimum: 0,
    maximum: 1,
    description: 'Coordinate normalized to the frame: 0 = left/top edge, 1 = right/bottom edge.',
  }),
  {
    minItems: 4,
    maxItems: 4,
    description:
      'Bounding box [x1, y1, x2, y2] of the best detection, normalized 0..1 to the frame width/height, origin ' +
      'top-left. Rule (not expressible in JSON Schema, checked by the collector): x1 ≤ x2 and y1 ≤ y2.',
  },
);

const AttributeValue = Type.Union([Type.String({ maxLength: ATTRIBUTE_VALUE_MAX }), Type.Number(), Type.Boolean()], {
  description: `Attribute value: a string (≤ ${ATTRIBUTE_VALUE_MAX} chars), a number or a boolean.`,
});

/**
 * Rules that depend on `type` — expressed for JSON Schema readers with if/then (the TypeBox checker ignores these
 * keywords; `eventRuleIssues` enforces the same rules in code).
 */
const EVENT_TYPE_RULES = [
  { if: { properties: { type: { const: 'new' } }, required: ['type'] }, then: { properties: { rev: { const: 0 } } } },
  {
    if: { properties: { type: { enum: ['update', 'end'] } }, required: ['type'] },
    then: { properties: { rev: { minimum: 1 } } },
  },
  {
    if: { properties: { type: { const: 'end' } }, required: ['type'] },
    then: { required: ['ended_at'], properties: { ended_at: { type: 'string' } } },
  },
  {
    if: { properties: { end_reason: { type: 'string' } }, required: ['end_reason'] },
    then: { properties: { type: { const: 'end' } }, required: ['type'] },
  },
];

export const Event = wireObject(
  {
    v: V,
    id: EventId(),
    device_id: DeviceId('Device that produced the event; must equal the signing device.'),
    camera: CameraName(),
    type: Type.Union(
      EVENT_TYPES.map((t) => Type.Literal(t)),
      {
        description:
          '`new` when the object first appears, `update` when its best detection/thumbnail/attributes change, ' +
          '`end` when it leaves or the event is closed.',
      },
    ),
    rev: Type.Integer({
      minimum: 0,
      maximum: INTEGER_MAX,
      description:
        'Revision of this event: 0 for `new`, +1 for each later message of the same event (`update` and `end` ' +
        'have rev ≥ 1). (id, rev) identifies one message: same id+rev with the same content is a duplicate, with ' +
        'different content a conflict.',
    }),
    label: Label(),
    score: Score('Confidence of the detection this message reports, 0..1.'),
    box: BoxSchema,
    started_at: DateTime('When the event started (first detection), box clock corrected by its offset.'),
    ended_at: Type.Optional(DateTime('When the event ended. Required when type = end; must not precede started_at.')),
    end_reason: Type.Optional(
      Type.Union(
        EVENT_END_REASONS.map((r) => Type.Literal(r)),
        {
          description:
            'Why the event ended; only allowed when type = end (optional there). left: the object left the view; ' +
            'agent_stop: the agent was stopped cleanly (SIGTERM) with the event open; agent_restart: the agent ' +
            'found the event still open after an unclean stop (crash, kill -9, power cut) and ended it at ' +
            'start-up, with ended_at = its last message time.',
        },
      ),
    ),
    duration_s: Type.Optional(
      Type.Number({ minimum: 0, description: 'Seconds from started_at to ended_at (or to now for an open event).' }),
    ),
    top_score: Type.Optional(Score('Highest score seen over the life of the event so far, 0..1.')),
    stationary: Type.Optional(
      Type.Boolean({ description: 'True when the object has not moved for a while (e.g. a parked car).' }),
    ),
    sent_at: Type.Optional(
      DateTime('When the box (re)sent this message; differs from started_at when the outbox held it.'),
    ),
    media_start: Type.Optional(DateTime('Start of the recorded media covering this event, if the box records.')),
    media_end: Type.Optional(DateTime('End of the recorded media covering this event, if the box records.')),
    thumbnail: Type.Optional(
      embed(ThumbnailInfo, 'Announces the thumbnail that will follow for this event (see ThumbnailInfo).'),
    ),
    zones: Type.Optional(
      ZoneList(
        `Zones the object entered so far, in order of entry (at most ${ZONES_MAX}, no repeats). An object is in a ` +
          "zone once the bottom-centre of its box has been inside long enough (the zone's inertia and loitering " +
          'time on the box); the box sends an `update` when it enters one.',
      ),
    ),
    current_zones: Type.Optional(
      ZoneList(
        'Zones the object is in at the time of this message (each also in `zones`); empty or absent when it is in ' +
          'none. Absent in messages of boxes from before zones were tracked.',
      ),
    ),
    attributes: Type.Optional(
      Type.Record(Type.String({ pattern: ATTRIBUTE_KEY_PATTERN }), AttributeValue, {
        maxProperties: ATTRIBUTES_MAX,
        additionalProperties: false,
        description:
          'Extra facts about the object (e.g. color, speed), keys [a-z][a-z0-9_]* (≤ 64), at most ' +
          `${ATTRIBUTES_MAX}.`,
      }),
    ),
  },
  {
    ...top('event', 'Event'),
    description:
      'One message of a detection event: `new`, then zero or more `update`s, then `end`, all with the same id. ' +
      'Sent on MQTT `vigil/v1/{device_id}/events` (alone or in an EventBatch) or HTTP `POST ' +
      '/v1/devices/{device_id}/events`. Rules beyond the schema: type=new ⇔ rev=0; type=end requires ended_at ≥ ' +
      'started_at; end_reason only on type=end; box x1 ≤ x2, y1 ≤ y2.',
    allOf: EVENT_TYPE_RULES,
  },
);
export type Event = Static<typeof Event>;

/** Cross-field rules of an Event that JSON Schema cannot (box ordering, time order) or TypeBox does not check. */
export function eventRuleIssues(e: Event, at = ''): SchemaIssue[] {
  const out: SchemaIssue[] = [];
  if (e.type === 'new' && e.rev !== 0) out.push({ path: `${at}/rev`, message: 'must be 0 when type is new' });
  if (e.type !== 'new' && e.rev < 1)
    out.push({ path: `${at}/rev`, message: `must be ≥ 1 when type is ${e.type} (0 is the new message)` });
  if (e.type === 'end' && e.ended_at === undefined)
    out.push({ path: `${at}/ended_at`, message: 'is required when type is end' });
  if (e.type !== 'end' && e.end_reason !== undefined)
    out.push({ path: `${at}/end_reason`, message: `is only allowed when type is end (type is ${e.type})` });
  const [x1, y1, x2, y2] = e.box;
  if (x1 !== undefined && x2 !== undefined && x1 > x2)
    out.push({ path: `${at}/box`, message: `x1 (${x1}) must be ≤ x2 (${x2})` });
  if (y1 !== undefined && y2 !== undefined && y1 > y2)
    out.push({ path: `${at}/box`, message: `y1 (${y1}) must be ≤ y2 (${y2})` });
  if (e.ended_at !== undefined && Date.parse(e.ended_at) < Date.parse(e.started_at))
    out.push({ path: `${at}/ended_at`, message: 'must not precede started_at' });
  if (e.media_start !== undefined && e.media_end !== undefined && Date.parse(e.media_end) < Date.parse(e.media_start)) {
    out.push({ path: `${at}/media_end`, message: 'must not precede media_start' });
  }
  return out;
}

export const EventBatch = wireObject(
  {
    v: V,
    events: Type.Array(
      Type.Union([embed(Event, 'One event message (see Event).'), embed(Review, 'One review message (see Review).')], {
        description: 'An event message (no `kind`) or a review message (`kind: "review"`).',
      }),
      {
        minItems: 1,
        maxItems: BATCH_MAX_EVENTS,
        description:
          `1-${BATCH_MAX_EVENTS} event (or review) messages, each acked individually by (id, rev). May mix ` +
          'messages of different cameras of the same device.',
      },
    ),
  },
  {
    ...top('event-batch', 'EventBatch'),
    description:
      'Several event messages in one body, same topic/endpoint as a single Event (a reader tells them apart by ' +
      'the `events` array). The batch is not atomic: each item is accepted, duplicate or rejected on its own. An ' +
      'item with `kind: "review"` is a review message; a collector from before review items fails the whole batch ' +
      'on one, so a box sends review messages alone (section 2.1 of PROTOCOL.md).',
  },
);
export type EventBatch = Static<typeof EventBatch>;

export const validateEvent = withRules(validator(Event), (e) => eventRuleIssues(e));
/** The batch's own shape, items unchecked (each is checked as what its `kind` says it is). */
const validateBatchShell = validator(
  Type.Object(
    { v: V, events: Type.Array(Type.Unknown(), { minItems: 1, maxItems: BATCH_MAX_EVENTS }) },
    { additionalProperties: true },
  ),
);

/**
 * An EventBatch: its shape, then each item as a Review (`kind: "review"`) or an Event, with that kind's rules, so an
 * issue names the item's field (`/events/3/score`) rather than "expected one of the union".
 */
export const validateEventBatch = fromIssues(EventBatch, (value, max) => {
  const shell = validateBatchShell.issues(value, max);
  if (shell.length > 0) return shell;
  const out: SchemaIssue[] = [];
  (value as { events: unknown[] }).events.forEach((item, i) => {
    if (out.length >= max) return;
    const found = (isReviewItem(item) ? validateReview : validateEvent).issues(item, max - out.length);
    for (const x of found) out.push({ ...x, path: `/events/${i}${x.path === '/' ? '' : x.path}` });
  });
  return out;
});
