import { Type, type Static } from '@sinclair/typebox';
import { CAMERA_NAME_PATTERN, REVIEW_ID_PATTERN, ZONE_NAME_PATTERN } from '../../firmware-protocol/patterns.js';
import { VERIFICATION_STATUSES } from '../notify/event-list.js';
import { DURATION_PATTERN } from '../../shared/config/index.js';

/**
 * Request schemas of the app API (JSON Schema via TypeBox; fastify validates and coerces query strings with them).
 * A failure is 400 `invalid_request` naming the field, e.g. `querystring/limit: must be <= 200`.
 */
export const MAX_PAGE = 200;

const Id = (description: string) => Type.String({ minLength: 1, maxLength: 128, description });
const Time = (description: string) =>
  Type.String({ format: 'date-time', description: `${description} (ISO-8601 date-time)` });
const Camera = (description: string) => Type.String({ pattern: CAMERA_NAME_PATTERN, description });
const Zone = (description: string) => Type.String({ pattern: ZONE_NAME_PATTERN, description });

export const EventsQuery = Type.Object(
  {
    device: Type.Optional(Id('Only events of this device id.')),
    camera: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'Only events of this camera name.' }),
    ),
    label: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'Only events with this label, e.g. person.' }),
    ),
    status: Type.Optional(
      Type.Union([Type.Literal('active'), Type.Literal('ended')], { description: 'active (not ended yet) or ended.' }),
    ),
    zone: Type.Optional(Zone('Only events whose object entered this zone (a zone name as configured on the box).')),
    verdict: Type.Optional(
      Type.Union(
        VERIFICATION_STATUSES.map((v) => Type.Literal(v)),
        {
          description:
            "Only events of this verification status (each item's verification.status): verified, unverified, " +
            'rejected, held, skipped (the policy decided), pending (not decided yet), failed (the job gave up).',
        },
      ),
    ),
    since: Type.Optional(Time('Events that started at or after this time')),
    until: Type.Optional(Time('Events that started before this time')),
    cursor: Type.Optional(
      Type.String({ minLength: 1, maxLength: 512, description: 'next_cursor of the previous page.' }),
    ),
    limit: Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 50, description: `Page size, 1-${MAX_PAGE}.` }),
  },
  { additionalProperties: false },
);
export type EventsQuery = Static<typeof EventsQuery>;

export const ReviewsQuery = Type.Object(
  {
    severity: Type.Optional(
      Type.Union([Type.Literal('alert'), Type.Literal('detection')], { description: 'alert or detection.' }),
    ),
    device: Type.Optional(Id('Only items of this device id.')),
    camera: Type.Optional(Camera('Only items of this camera name.')),
    zone: Type.Optional(Zone('Only items whose objects entered this zone.')),
    label: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'Only items with an object of this label, e.g. person.',
      }),
    ),
    reviewed: Type.Optional(
      Type.Boolean({ description: 'true: only items marked reviewed; false: only items not reviewed yet.' }),
    ),
    since: Type.Optional(Time('Items that started at or after this time')),
    until: Type.Optional(Time('Items that started before this time')),
    cursor: Type.Optional(
      Type.String({ minLength: 1, maxLength: 512, description: 'next_cursor of the previous page.' }),
    ),
    limit: Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 50, description: `Page size, 1-${MAX_PAGE}.` }),
  },
  { additionalProperties: false },
);
export type ReviewsQuery = Static<typeof ReviewsQuery>;

export const ReviewCountsQuery = Type.Object(
  {
    device: Type.Optional(Id('Only items of this device id.')),
    camera: Type.Optional(Camera('Only items of this camera name.')),
    zone: Type.Optional(Zone('Only items whose objects entered this zone.')),
    label: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'Only items with an object of this label, e.g. person.',
      }),
    ),
    since: Type.Optional(Time('Items that started at or after this time')),
    until: Type.Optional(Time('Items that started before this time')),
  },
  { additionalProperties: false },
);
export type ReviewCountsQuery = Static<typeof ReviewCountsQuery>;

export const ReviewParams = Type.Object({
  review_id: Type.String({ pattern: REVIEW_ID_PATTERN, description: 'Review item id (rev_…).' }),
});
export type ReviewParams = Static<typeof ReviewParams>;

export const CameraParams = Type.Object({
  device_id: Id('Device id (dev_…).'),
  camera: Camera('Camera name as configured on the box.'),
});
export type CameraParams = Static<typeof CameraParams>;

/** Longest snooze, from now. */
export const SNOOZE_MAX_DAYS = 366;

export const SnoozeBody = Type.Object(
  {
    until: Time(`When pushes of the camera resume; in the future, at most ${SNOOZE_MAX_DAYS} days ahead`),
  },
  { additionalProperties: false },
);
export type SnoozeBody = Static<typeof SnoozeBody>;

export const StatsQuery = Type.Object(
  {
    device: Type.Optional(Id('Only events of this device id.')),
    since: Type.Optional(Time('Events that started at or after this time')),
    until: Type.Optional(Time('Events that started before this time')),
  },
  { additionalProperties: false },
);
export type StatsQuery = Static<typeof StatsQuery>;

export const EventParams = Type.Object({ event_id: Id('Event id (evt_…).') });
export type EventParams = Static<typeof EventParams>;

export const DeviceParams = Type.Object({ device_id: Id('Device id (dev_…).') });
export type DeviceParams = Static<typeof DeviceParams>;

export const DeviceKeyParams = Type.Object({ device_id: Id('Device id (dev_…).'), key_id: Id('Key id.') });
export type DeviceKeyParams = Static<typeof DeviceKeyParams>;

export const PairingCodeBody = Type.Object(
  {
    name: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'Name the paired device will get, e.g. garage.' }),
    ),
    ttl: Type.Optional(
      Type.Union([Type.String({ pattern: DURATION_PATTERN }), Type.Integer({ minimum: 1 })], {
        description: 'Validity, e.g. 15m, 1h, or seconds; default from pairing.code_ttl; at most 7d.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type PairingCodeBody = Static<typeof PairingCodeBody>;

export const PairingCodeParams = Type.Object({
  code: Type.String({ minLength: 1, maxLength: 64, description: 'The code itself or its id (pc_…).' }),
});
export type PairingCodeParams = Static<typeof PairingCodeParams>;
