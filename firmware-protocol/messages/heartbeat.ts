import { Type, type Static } from '@sinclair/typebox';
import { validator } from '../../shared/schema/index.js';
import { HEARTBEAT_CAMERAS_MAX } from '../limits.js';
import { CAMERA_NAME_PATTERN, MODEL_ID_PATTERN } from '../patterns.js';
import { DateTime, DeviceId, INTEGER_MAX, Sha256, top, V, wireObject } from './common.js';

/** Heartbeat: the box's periodic health report, with the state of each camera pipeline and of its outbox. */

export const CAMERA_STATES = ['starting', 'running', 'stalled', 'reconnecting', 'stopped', 'error'] as const;
export type CameraState = (typeof CAMERA_STATES)[number];

const CameraStatus = wireObject(
  {
    name: Type.String({ pattern: CAMERA_NAME_PATTERN, description: 'Camera name as configured on the box.' }),
    state: Type.Union(
      CAMERA_STATES.map((s) => Type.Literal(s)),
      {
        description:
          'starting: opening the stream; running: frames arriving; stalled: no frame for longer than the stall ' +
          'timeout; reconnecting: stream lost, retrying with backoff; stopped: disabled by config; error: gave up ' +
          '(e.g. bad URL).',
      },
    ),
    fps: Type.Number({ minimum: 0, description: 'Frames per second actually analysed over the last interval.' }),
    last_frame_age_s: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], {
      description: 'Seconds since the last frame was received; null if none yet.',
    }),
    restarts: Type.Integer({
      minimum: 0,
      maximum: INTEGER_MAX,
      description: 'Times the camera pipeline was restarted since the agent started.',
    }),
  },
  { description: 'State of one camera pipeline.' },
);

export const OutboxStatus = wireObject(
  {
    depth: Type.Integer({
      minimum: 0,
      maximum: INTEGER_MAX,
      description: 'Items (event messages and thumbnails) waiting to be delivered.',
    }),
    oldest_pending_age_s: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], {
      description: 'Age in seconds of the oldest waiting item; null when the outbox is empty.',
    }),
    dropped: Type.Integer({
      minimum: 0,
      maximum: INTEGER_MAX,
      description:
        'Items and event messages that will never be delivered, since the agent started: rejected as ' +
        'undeliverable, evicted by the disk cap, refused over the cap, or lost from memory on a full disk.',
    }),
    in_flight: Type.Integer({ minimum: 0, maximum: INTEGER_MAX, description: 'Items sent and awaiting their ack.' }),
    disk_full: Type.Optional(
      Type.Boolean({
        description:
          'True while the outbox volume is full: queued items are still sent, new events are still kept (without ' +
          'thumbnails; in memory when the disk cannot take even their record) and written once space is freed.',
      }),
    ),
    refused: Type.Optional(
      wireObject(
        {
          disk_full: Type.Integer({
            minimum: 0,
            maximum: INTEGER_MAX,
            description:
              'Event messages the full disk could not take when they came (kept in memory and written once space ' +
              'returned, unless the agent stopped first).',
          }),
          outbox_full: Type.Integer({
            minimum: 0,
            maximum: INTEGER_MAX,
            description:
              'Event messages refused because the outbox reached its size cap (lost; also counted in dropped).',
          }),
        },
        {
          description:
            'Event messages the outbox could not store when they came, by cause. Cumulative counts kept in the ' +
            'outbox database: a restart does not reset them.',
        },
      ),
    ),
    thumbnails_skipped: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: INTEGER_MAX,
        description:
          'Events queued without their thumbnail because it could not be written. Cumulative, kept in the outbox ' +
          'database.',
      }),
    ),
  },
  { description: 'State of the store-and-forward outbox.' },
);

export const Heartbeat = wireObject(
  {
    v: V,
    device_id: DeviceId('Device sending the heartbeat; must equal the signing device.'),
    sent_at: DateTime(
      'When the heartbeat was produced (box clock corrected by its offset). Also identifies the heartbeat in an ack.',
    ),
    uptime_s: Type.Number({ minimum: 0, description: 'Seconds since the agent process started.' }),
    version: Type.String({ minLength: 1, maxLength: 64, description: 'Agent/firmware version, e.g. 0.1.0.' }),
    outbox: OutboxStatus,
    cameras: Type.Array(CameraStatus, {
      maxItems: HEARTBEAT_CAMERAS_MAX,
      description: `One entry per configured camera (at most ${HEARTBEAT_CAMERAS_MAX}).`,
    }),
    disk_free_bytes: Type.Optional(
      Type.Integer({ minimum: 0, maximum: INTEGER_MAX, description: 'Free bytes on the volume holding the outbox.' }),
    ),
    last_ack_at: Type.Optional(
      Type.Union([DateTime('When the box last received an ack.'), Type.Null()], {
        description: 'When the box last received an ack (date-time), or null if never.',
      }),
    ),
    model: Type.Optional(
      Type.Union(
        [
          wireObject(
            {
              id: Type.Union([Type.String({ pattern: MODEL_ID_PATTERN }), Type.Null()], {
                description: 'Registry id (`mdl_…`) of the running model; null for the model file of the config.',
              }),
              sha256: Sha256('SHA-256 of the running ONNX file.'),
            },
            { description: 'The object detector running now.' },
          ),
          Type.Null(),
        ],
        {
          description:
            'The object detector the box runs now (after a model_update: the new one once swapped in; the old ' +
            'one after a failed update); null in motion-only mode.',
        },
      ),
    ),
    boot_id: Type.Optional(
      Type.String({
        pattern: '^[0-9A-Za-z_-]{1,64}$',
        description:
          'Random id the agent draws at every start (a ULID), the same in every heartbeat of one run. When it ' +
          'changes, the collector knows the box restarted and ends, after its quiet time, the events left open by ' +
          'the previous run that the box does not end itself.',
      }),
    ),
  },
  {
    ...top('heartbeat', 'Heartbeat'),
    description:
      'Periodic health report (default every 30 s). MQTT `vigil/v1/{device_id}/heartbeat` or HTTP `POST ' +
      '/v1/devices/{device_id}/heartbeat`. Not stored in the outbox: a lost heartbeat is replaced by the next ' +
      'one.',
  },
);
export type Heartbeat = Static<typeof Heartbeat>;

export const validateHeartbeat = validator(Heartbeat);
