import { Type, type Static } from '@sinclair/typebox';

/**
 * Request schemas of the app API (JSON Schema via TypeBox; fastify validates and coerces query strings with them).
 * A failure is 400 `invalid_request` naming the field, e.g. `querystring/limit: must be <= 200`.
 */
export const MAX_PAGE = 200;

const Id = (description: string) => Type.String({ minLength: 1, maxLength: 128, description });
const Time = (description: string) =>
  Type.String({ format: 'date-time', description: `${description} (ISO-8601 date-time)` });

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
      Type.Union(
        [Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)?\\s*$' }), Type.Integer({ minimum: 1 })],
        {
          description: 'Validity, e.g. 15m, 1h, or seconds; default from pairing.code_ttl; at most 7d.',
        },
      ),
    ),
  },
  { additionalProperties: false },
);
export type PairingCodeBody = Static<typeof PairingCodeBody>;

export const PairingCodeParams = Type.Object({
  code: Type.String({ minLength: 1, maxLength: 64, description: 'The code itself or its id (pc_…).' }),
});
export type PairingCodeParams = Static<typeof PairingCodeParams>;
