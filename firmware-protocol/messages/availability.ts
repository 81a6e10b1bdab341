import { Type, type Static } from '@sinclair/typebox';
import { validator } from '../../shared/schema/index.js';
import { DateTime, top, V, wireObject } from './common.js';

/** Availability: the retained, unsigned online/offline presence of a box on MQTT (display only). */

export const Availability = wireObject(
  {
    v: V,
    state: Type.Union([Type.Literal('online'), Type.Literal('offline')], {
      description:
        'online: published (retained) after connecting; offline: the Last Will, published by the broker when the ' +
        'connection dies, or by the box on clean shutdown.',
    }),
    at: DateTime(
      'When the box wrote this state (for the LWT: when the connection was made, as the will is registered then).',
    ),
  },
  {
    ...top('availability', 'Availability'),
    description:
      'Retained, unsigned, informational presence on `vigil/v1/{device_id}/availability` (QoS 1, retain). The ' +
      'broker publishes the offline will when the box disappears. Never trusted for anything but display: ' +
      'heartbeats are the signed liveness signal.',
  },
);
export type Availability = Static<typeof Availability>;

export const validateAvailability = validator(Availability);
