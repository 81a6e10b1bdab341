import { Type, type Static } from '@sinclair/typebox';
import { durationSetting as Duration } from '../../shared/config/index.js';

/** `events.*`: how the collector ends events their box can no longer end (./lost-events.ts). */
export const EventsConfigSchema = Type.Object(
  {
    lost_after: Duration(
      '10m',
      'Quiet time after which the collector ends, with end_reason device_lost, the active events of a box that sent ' +
        'nothing (no heartbeat, no message) for that long, or that restarted (new boot id) that long ago without ' +
        'ending them itself.',
    ),
    sweep_interval: Duration(
      '30s',
      'How often each collector looks for such events (several collectors on one database may all sweep: ' +
        'it is idempotent).',
    ),
  },
  { default: {}, additionalProperties: false, description: 'Event lifecycle on the collector.' },
);
export type EventsConfig = Static<typeof EventsConfigSchema>;
