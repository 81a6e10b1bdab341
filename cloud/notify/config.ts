import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { durationSetting as Duration } from '../../shared/config/index.js';

/**
 * Config section `notify`: which verified events make the owner's phone buzz.
 *
 *   notify:
 *     labels:                         # the whitelist; other labels never push (and are not sent to the LLM)
 *       person: { min_score: 0.5, min_confidence: 0.7, aliases: [human, man, woman] }
 *       car:    { min_score: 0.6 }
 *     cooldown: 2m                    # per device + camera + label
 *     quiet_hours: { start: "23:00", end: "06:30", time_zone: Europe/Berlin, bypass_threat: 2 }
 *     tenants:
 *       acme: { quiet_hours: { start: "20:00", end: "07:00", time_zone: "-05:00" } }
 *     llm_down: push_unverified       # push | hold | push_unverified
 *     push_detections: false          # boxes with review items: only alert items push
 *
 * A box that sends review items (firmware-protocol Review) is notified per review item: one push per `alert` item,
 * updated in place (same collapse id) as objects join, once at least one of its objects passed the vision check
 * above; its events are verified but never push on their own. A box that sends none keeps one push per event.
 */

const Score = (description: string) => Type.Optional(Type.Number({ minimum: 0, maximum: 1, description }));

export const LabelRuleSchema = Type.Object(
  {
    min_score: Score(
      "Least edge detection score (the box's top score) to consider the event; default notify.min_score.",
    ),
    min_confidence: Score('Least LLM confidence that the label is right; default notify.min_confidence.'),
    aliases: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description: 'Other words the LLM may use for this label (e.g. human for person).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type LabelRule = Static<typeof LabelRuleSchema>;

const Clock = (description: string) => Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$', description });

export const QuietHoursSchema = Type.Object(
  {
    start: Clock('Local time quiet hours begin, HH:MM.'),
    end: Clock('Local time they end, HH:MM (earlier than start = over midnight).'),
    time_zone: Type.String({
      default: '+00:00',
      minLength: 1,
      description: 'An offset like +01:00 / -05:30, or an IANA zone like Europe/Berlin (follows daylight saving time).',
    }),
    bypass_threat: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 2,
        description: 'Events the LLM rates at least this threat still push during quiet hours.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type QuietHours = Static<typeof QuietHoursSchema>;

export const LlmDownRuleSchema = Type.Union(
  [Type.Literal('push'), Type.Literal('hold'), Type.Literal('push_unverified')],
  {
    default: 'push_unverified',
    description:
      'When no LLM answered in the budget (down, circuit open, over budget, no picture): `push` as if verified, ' +
      '`hold` (no push, event marked held), `push_unverified` (push titled "Unverified: …").',
  },
);
export type LlmDownRule = Static<typeof LlmDownRuleSchema>;

export const NotifyConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: true,
      description: 'Verify and notify stored events. Off: events are stored only.',
    }),
    labels: Type.Record(Type.String({ minLength: 1 }), LabelRuleSchema, {
      default: { person: {}, car: {}, dog: {}, cat: {} },
      description: 'Labels that may notify, with their thresholds.',
    }),
    min_score: Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'Default least edge score.' }),
    min_confidence: Type.Number({ minimum: 0, maximum: 1, default: 0.6, description: 'Default least LLM confidence.' }),
    cooldown: Duration('60s', 'No second push for the same device + camera + label within this time.'),
    max_event_age: Duration(
      '15m',
      'Events that started longer ago than this (e.g. delivered late after an outage) are stored but never pushed.',
    ),
    quiet_hours: Type.Optional(QuietHoursSchema),
    tenants: Type.Record(
      Type.String({ minLength: 1 }),
      Type.Object({ quiet_hours: Type.Optional(QuietHoursSchema) }, { additionalProperties: false }),
      { default: {}, description: 'Per-tenant overrides (by tenant id).' },
    ),
    llm_down: LlmDownRuleSchema,
    thumbnail_wait: Duration(
      '5s',
      "How long a job waits for an event's thumbnail to arrive before it decides without one.",
    ),
    link_ttl: Duration('24h', 'Lifetime of the signed thumbnail URL in a push.'),
    push_detections: Type.Boolean({
      default: false,
      description:
        'Boxes that send review items: push items of severity `detection` too. Off: only `alert` items push (one ' +
        'push per item, updated in place as objects join); detections are stored for review.',
    }),
    review_verdict_wait: Duration(
      '30s',
      "How long a review item's push waits for the vision check of its objects; objects still unchecked then " +
        'count as the llm_down rule says.',
    ),
  },
  { default: {}, additionalProperties: false, description: 'Push policy: which verified events notify the owner.' },
);
export type NotifyConfig = Static<typeof NotifyConfigSchema>;

export function notifyConfig(partial: unknown = {}): NotifyConfig {
  return Value.Default(NotifyConfigSchema, Value.Clone(partial)) as NotifyConfig;
}
