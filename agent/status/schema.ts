import { Type, type Static } from '@sinclair/typebox';

/**
 * The document the daemon serves at `GET /status` on its local endpoint (`status.listen`) and `vigil-agent status`
 * reads. This schema documents it and is checked by the client.
 */
const Nullable = <T extends ReturnType<typeof Type.Number> | ReturnType<typeof Type.String>>(t: T) =>
  Type.Union([t, Type.Null()]);

export const CameraStatusSchema = Type.Object({
  name: Type.String(),
  phase: Type.String({
    description: 'starting, running, stalled, reconnecting, ended (file/lavfi done), error, disabled, stopped',
  }),
  state: Type.String({ description: 'The state as heartbeats report it (firmware-protocol CameraStatus.state).' }),
  input_kind: Type.String({ description: 'rtsp, http, v4l2, lavfi or file' }),
  live: Type.Boolean(),
  fps: Type.Number({ description: 'Frames per second read over the last few seconds.' }),
  last_frame_age_s: Nullable(Type.Number()),
  restarts: Type.Integer({ description: 'ffmpeg restarts and camera restarts since the daemon started.' }),
  last_error: Nullable(Type.String()),
  frames: Type.Integer(),
  frames_dropped: Type.Integer(),
  frames_processed: Type.Optional(
    Type.Integer({ description: 'Frames the vision pipeline processed (not those read with detection off).' }),
  ),
  events: Type.Integer({ description: 'Events announced since the daemon started.' }),
  messages: Type.Integer(),
  passes: Type.Integer({ description: 'Completed passes over a file/lavfi input.' }),
});

export const OutboxStatusSchema = Type.Object({
  path: Type.String(),
  depth: Type.Integer({ description: 'Un-acked items: pending + in flight + dead.' }),
  pending: Type.Integer(),
  in_flight: Type.Integer(),
  dead: Type.Integer(),
  oldest_pending_age_s: Nullable(Type.Number()),
  dropped: Type.Integer({ description: 'Items dropped by the disk budget (all time, as the outbox counts).' }),
  live_bytes: Type.Integer(),
  budget_bytes: Type.Integer(),
  disk_full: Type.Boolean({ description: 'The disk holding the outbox is full (as `outbox stats` and `doctor` say).' }),
  disk_free_bytes: Type.Optional(
    Type.Union([Type.Integer({ description: 'Free bytes on the filesystem holding the outbox.' }), Type.Null()]),
  ),
  reserve: Type.Optional(
    Type.Union([Type.Literal('held'), Type.Literal('released'), Type.Literal('none')], {
      description: 'The disk-full reserve: held (normal), released (given back: the disk is full), none (turned off).',
    }),
  ),
  held: Type.Optional(
    Type.Integer({ description: 'Event records waiting in memory for room on a full disk (written once there is).' }),
  ),
  refused: Type.Optional(
    Type.Object(
      {
        disk_full: Type.Integer({
          description: 'Event messages the full disk could not take when they came (kept in memory), all time.',
        }),
        outbox_full: Type.Integer({ description: 'Event messages refused over the outbox budget (lost), all time.' }),
      },
      { description: 'Refusals by cause, all time (kept in the outbox file; what heartbeats report).' },
    ),
  ),
  thumbnails_skipped: Type.Optional(
    Type.Integer({ description: 'Event messages queued without the thumbnail they should have carried, all time.' }),
  ),
  accepted_since_start: Type.Integer({
    description: 'Event messages the outbox accepted from the cameras since the daemon started.',
  }),
  refused_since_start: Type.Integer({
    description: 'Event messages the outbox refused since the daemon started (lost; see the log).',
  }),
});

export const UplinkStatusSchema = Type.Object({
  state: Type.Union([
    Type.Literal('connected'),
    Type.Literal('connecting'),
    Type.Literal('paused'),
    Type.Literal('stopped'),
  ]),
  transport: Type.String({ description: 'mqtt or https' }),
  url: Nullable(Type.String()),
  last_ack_at: Nullable(Type.String({ description: 'date-time of the last ack from the collector' })),
  clock_offset_ms: Type.Number({ description: 'Correction applied to the box clock, learnt from the collector.' }),
  consecutive_failures: Type.Integer(),
  paused_until: Nullable(Type.String()),
  acked: Type.Integer({ description: 'Items acked since the daemon started.' }),
  events_sent: Type.Integer(),
  thumbnails_sent: Type.Integer(),
  heartbeats_sent: Type.Integer(),
  failures: Type.Integer(),
});

export const LocalMqttStatusSchema = Type.Object(
  {
    state: Type.Union([
      Type.Literal('connected'),
      Type.Literal('connecting'),
      Type.Literal('error'),
      Type.Literal('stopped'),
    ]),
    url: Type.String({ description: 'The LAN broker, without any login.' }),
    topic_prefix: Type.String(),
    discovery: Type.Boolean({ description: 'Home Assistant discovery on.' }),
    queued: Type.Integer({ description: 'Messages waiting for the broker (bounded by local_mqtt.queue_size).' }),
    dropped: Type.Integer({ description: 'Messages dropped, oldest first, because the queue was full (since start).' }),
    published: Type.Integer(),
    events_published: Type.Integer({ description: 'Event messages handed to the local queue since start.' }),
    connects: Type.Integer(),
    last_error: Nullable(Type.String()),
    last_connected_at: Nullable(Type.String()),
    detect_off: Type.Array(Type.String(), { description: 'Cameras whose detection was switched off over MQTT.' }),
  },
  { description: 'The local MQTT integration (local_mqtt), when configured.' },
);

export const ModelUpdateStatusSchema = Type.Object(
  {
    command_id: Type.String(),
    model_id: Type.String(),
    at: Type.String({ description: 'When the update ended (date-time).' }),
    status: Type.Union([Type.Literal('done'), Type.Literal('failed'), Type.Literal('refused')]),
    code: Nullable(Type.String({ description: 'Result code when it failed (model_hash_mismatch, …).' })),
    message: Nullable(Type.String()),
  },
  { description: 'The last model_update command this daemon ran.' },
);

export const ActiveModelStatusSchema = Type.Object(
  {
    id: Nullable(Type.String({ description: 'Registry id (mdl_…) of the running model; null: the config model.' })),
    name: Nullable(Type.String({ description: 'Registry name; null for the config model.' })),
    sha256: Type.String({ description: 'SHA-256 of the running ONNX file (as heartbeats report it).' }),
    path: Type.String(),
    format: Type.String({ description: 'yolox, yolo or ssd' }),
    loaded_at: Type.String({ description: 'When it was loaded or swapped in (date-time).' }),
    fallback: Nullable(
      Type.String({ description: 'Why the persisted registry model did not load at start (the config model runs).' }),
    ),
    last_update: Type.Union([ModelUpdateStatusSchema, Type.Null()]),
  },
  { description: 'The object detector running now; null in motion-only mode.' },
);

const Count = (description: string) => Type.Integer({ minimum: 0, description });

export const CommandsStatusSchema = Type.Object(
  {
    received: Count('Signed command envelopes received (MQTT or the HTTPS long-poll).'),
    refused_signature: Count(
      'Dropped without a result: malformed or too large, another device, bad signature, timestamp or nonce.',
    ),
    refused_invalid: Count('Dropped without a result: well signed, but not a Command for this box.'),
    duplicates: Count('Commands whose id was accepted before: not run again.'),
    refused: Count('Refused with a result: command_expired, command_unknown, command_invalid.'),
    executed: Count('Commands run.'),
    failed: Count('Commands that ran and failed.'),
    results_lost: Count('Results the outbox could not take (logged; the collector expires the command).'),
  },
  { description: 'Commands from the collector since the daemon started (PROTOCOL.md §6).' },
);

export const DaemonStatusSchema = Type.Object({
  v: Type.Literal(1),
  version: Type.String(),
  pid: Type.Integer(),
  device_id: Type.String(),
  started_at: Type.String(),
  uptime_s: Type.Number(),
  config_file: Nullable(Type.String()),
  data_dir: Type.String(),
  mode: Type.Union([Type.Literal('objects'), Type.Literal('motion')], {
    description: 'objects: a detector model is loaded; motion: motion events only.',
  }),
  model: Nullable(Type.String({ description: 'The running model file (the config model or a registry model).' })),
  active_model: Type.Optional(Type.Union([ActiveModelStatusSchema, Type.Null()])),
  stopping: Type.Boolean(),
  last_reload: Type.Union([
    Type.Null(),
    Type.Object({
      at: Type.String(),
      ok: Type.Boolean(),
      error: Nullable(Type.String()),
      restarted_cameras: Type.Array(Type.String()),
    }),
  ]),
  cameras: Type.Array(CameraStatusSchema),
  outbox: OutboxStatusSchema,
  uplink: UplinkStatusSchema,
  local_mqtt: Type.Optional(LocalMqttStatusSchema),
  commands: Type.Optional(CommandsStatusSchema),
});
export type DaemonStatus = Static<typeof DaemonStatusSchema>;
