import { Type, type Static } from '@sinclair/typebox';
import { validator, type SchemaIssue } from '../../shared/schema/index.js';
import { REVIEW_OBJECTS_MAX, ZONES_MAX } from '../limits.js';
import { REVIEW_ID_PATTERN } from '../patterns.js';
import { CameraName, DateTime, DeviceId, EventId, INTEGER_MAX, Label, top, V, wireObject, ZoneList } from './common.js';
import { notBefore, withRules } from './rules.js';

/**
 * Review: the messages of a review item (`new`, `update`s, `end`) — what happened on one camera at one time, grouped
 * from the events open together into one alert or detection — their cross-field rules and validator.
 */

export const REVIEW_TYPES = ['new', 'update', 'end'] as const;
export type ReviewType = (typeof REVIEW_TYPES)[number];

/** How much a review item matters: `alert` (notify) or `detection` (keep for review). Never goes down. */
export const REVIEW_SEVERITIES = ['alert', 'detection'] as const;
export type ReviewSeverity = (typeof REVIEW_SEVERITIES)[number];

/** The `kind` that tells a review message from an event message on the events topic / endpoint. */
export const REVIEW_KIND = 'review';

/** Rules that depend on `type`, for JSON Schema readers (`reviewRuleIssues` enforces them in code). */
const REVIEW_TYPE_RULES = [
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
    if: { properties: { ended_at: { type: 'string' } }, required: ['ended_at'] },
    then: { properties: { type: { const: 'end' } }, required: ['type'] },
  },
];

export const Review = wireObject(
  {
    v: V,
    kind: Type.Literal(REVIEW_KIND, {
      description:
        'Always `review`: tells a review message from an event message (events have no `kind`) on the events ' +
        'topic / endpoint and inside an EventBatch.',
    }),
    id: Type.String({
      pattern: REVIEW_ID_PATTERN,
      description: 'Review item id: `rev_` + ULID, chosen by the box when the item starts and stable for its life.',
    }),
    device_id: DeviceId('Device that produced the review item; must equal the signing device.'),
    camera: CameraName(),
    type: Type.Union(
      REVIEW_TYPES.map((t) => Type.Literal(t)),
      {
        description:
          '`new` when the first qualifying object appears, `update` when an object joins or the labels, zones, ' +
          'thumbnail (or, from a box that upgrades items, the severity) change, `end` when none of its objects is ' +
          'active any more (after the merge gap).',
      },
    ),
    rev: Type.Integer({
      minimum: 0,
      maximum: INTEGER_MAX,
      description:
        'Revision of this review item: 0 for `new`, +1 for each later message of the same item. (id, rev) ' +
        'identifies one message, deduplicated like event messages (same content: duplicate; different: conflict).',
    }),
    severity: Type.Union(
      REVIEW_SEVERITIES.map((s) => Type.Literal(s)),
      {
        description:
          "`alert`: its objects' labels are alert labels and they entered one of the alert's required zones (or any " +
          'place when none is required); `detection`: objects of the detection labels and zones that are not ' +
          'alerts. A later rev never has a lower severity; the agent keeps it for the whole item (alert and ' +
          'detection items are separate, PROTOCOL.md §2.1).',
      },
    ),
    started_at: DateTime(
      "When the item started: its first object's start, or when that object qualified if it did later (entered a " +
        'required zone, started moving).',
    ),
    ended_at: Type.Optional(
      DateTime('When the item ended (its last object ended). Required when type = end, only allowed there.'),
    ),
    objects: Type.Array(EventId('Event id of one object of the item.'), {
      minItems: 1,
      maxItems: REVIEW_OBJECTS_MAX,
      uniqueItems: true,
      description:
        `Events (objects) of the item, in order of joining, no repeats; at most ${REVIEW_OBJECTS_MAX} (the first ` +
        'that joined; later ones still count in severity, labels and zones).',
    }),
    labels: Type.Array(Label('Label of one or more objects of the item.'), {
      minItems: 1,
      maxItems: REVIEW_OBJECTS_MAX,
      uniqueItems: true,
      description: 'Labels of the objects, in order of first appearance, no repeats.',
    }),
    zones: ZoneList(
      `Zones the objects entered, in order of entry, no repeats (at most ${ZONES_MAX}); empty when none entered one.`,
    ),
    thumbnail_event: Type.Optional(
      EventId(
        "Event whose thumbnail is the item's best picture (one of `objects`): its highest-scoring object with a " +
          'thumbnail. The picture travels with that event; absent until one is chosen.',
      ),
    ),
    sent_at: Type.Optional(
      DateTime('When the box (re)sent this message; differs from the other times when the outbox held it.'),
    ),
    media_start: Type.Optional(DateTime('Start of the recorded media covering this item, if the box records.')),
    media_end: Type.Optional(DateTime('End of the recorded media covering this item, if the box records.')),
  },
  {
    ...top('review', 'Review'),
    description:
      'One message of a review item: `new`, then zero or more `update`s, then `end`, all with the same id. Sent on ' +
      'the events topic / endpoint like an Event (alone or in an EventBatch), told apart by `kind: "review"`; ' +
      'acked with ack kind `review`. Rules beyond the schema: type=new ⇔ rev=0; ended_at on type=end only, and ' +
      'required there, not before started_at; thumbnail_event is one of objects.',
    allOf: REVIEW_TYPE_RULES,
  },
);
export type Review = Static<typeof Review>;

/** Cross-field rules of a Review that JSON Schema cannot express (or TypeBox does not check). */
export function reviewRuleIssues(r: Review, at = ''): SchemaIssue[] {
  const out: SchemaIssue[] = [];
  if (r.type === 'new' && r.rev !== 0) out.push({ path: `${at}/rev`, message: 'must be 0 when type is new' });
  if (r.type !== 'new' && r.rev < 1)
    out.push({ path: `${at}/rev`, message: `must be ≥ 1 when type is ${r.type} (0 is the new message)` });
  if (r.type === 'end' && r.ended_at === undefined)
    out.push({ path: `${at}/ended_at`, message: 'is required when type is end' });
  if (r.type !== 'end' && r.ended_at !== undefined)
    out.push({ path: `${at}/ended_at`, message: `is only allowed when type is end (type is ${r.type})` });
  for (const issue of [notBefore(r, 'started_at', 'ended_at', at), notBefore(r, 'media_start', 'media_end', at)])
    if (issue) out.push(issue);
  if (r.thumbnail_event !== undefined && !r.objects.includes(r.thumbnail_event))
    out.push({ path: `${at}/thumbnail_event`, message: `${r.thumbnail_event} is not one of objects` });
  return out;
}

export const validateReview = withRules(validator(Review), (r) => reviewRuleIssues(r));

/** True when an item of the events body says it is a review message (whether or not it is a valid one). */
export function isReviewItem(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === REVIEW_KIND;
}
