import { Type, type Static } from '@sinclair/typebox';
import { validator } from '../../shared/schema/index.js';
import { COMMAND_ARGS_MAX_PROPERTIES, COMMANDS_PER_POLL_MAX } from '../limits.js';
import { COMMAND_ID_PATTERN, COMMAND_KIND_PATTERN, MODEL_ID_PATTERN } from '../patterns.js';
import { MqttEnvelopeSchema } from './envelope.js';
import { CameraName, DateTime, DeviceId, embed, INTEGER_MAX, Label, Sha256, top, V, wireObject } from './common.js';

/**
 * Commands, collector → box, and their results, box → collector (PROTOCOL.md §6). A command is signed by the
 * collector with the box's own key (like an Ack) and travels in the MQTT envelope on both transports: published on
 * `vigil/v1/{device_id}/commands`, or handed out by the signed long-poll `GET /v1/devices/{device_id}/commands`.
 * The box checks it, runs it at most once (ids remembered until their expiry) and answers with a CommandResult
 * through its outbox, acked like any other item (ack kind `result`).
 */

/** The kinds a v1 box knows. Any other kind is refused with a `command_unknown` result, never run. */
export const COMMAND_KINDS = ['snapshot', 'status', 'reload_config', 'model_update'] as const;
export type CommandKind = (typeof COMMAND_KINDS)[number];

export const RESULT_STATUSES = ['done', 'failed', 'refused'] as const;
export type ResultStatus = (typeof RESULT_STATUSES)[number];

/** Model output layouts a box can run (the agent's `model.type`). */
export const MODEL_FORMATS = ['yolox', 'yolo', 'ssd'] as const;
export type ModelFormat = (typeof MODEL_FORMATS)[number];

export const SnapshotArgs = wireObject(
  {
    camera: CameraName(),
    width: Type.Optional(
      Type.Integer({
        minimum: 16,
        maximum: 3840,
        description: 'Width of the JPEG in pixels (height follows the frame); default the frame width.',
      }),
    ),
  },
  { description: '`snapshot`: a JPEG of the current frame of one camera.' },
);
export type SnapshotArgs = Static<typeof SnapshotArgs>;

export const ModelUpdateArgs = wireObject(
  {
    model_id: Type.String({ pattern: MODEL_ID_PATTERN, description: 'Registry id of the model: `mdl_` + ULID.' }),
    name: Type.String({ minLength: 1, maxLength: 128, description: 'Human name of the model, for logs.' }),
    format: Type.Union(
      MODEL_FORMATS.map((f) => Type.Literal(f)),
      { description: 'Output layout (the agent config `model.type`).' },
    ),
    labels: Type.Optional(
      Type.Array(Label(), {
        maxItems: 1000,
        description: 'Class names by output index; absent: the box reads them from the model or uses COCO.',
      }),
    ),
    size: Type.Integer({ minimum: 1, maximum: INTEGER_MAX, description: 'Exact size of the ONNX file in bytes.' }),
    sha256: Sha256('Lowercase hex SHA-256 of the ONNX file; the box refuses a download that differs.'),
    url: Type.String({
      minLength: 1,
      maxLength: 2048,
      description:
        'Where to download the file (GET, no other credentials): a URL signed by the collector that expires. ' +
        'Relative URLs are resolved against the collector HTTPS endpoint the box was paired with.',
    }),
  },
  {
    description:
      '`model_update`: download, verify, warm up on a real frame and swap the object detector between frames; ' +
      'the previous model stays when any step fails.',
  },
);
export type ModelUpdateArgs = Static<typeof ModelUpdateArgs>;

export const Command = wireObject(
  {
    v: V,
    id: Type.String({
      pattern: COMMAND_ID_PATTERN,
      description: 'Command id: `cmd_` + ULID, chosen by the collector. A box runs one id at most once.',
    }),
    device_id: DeviceId('The box the command is for; a box refuses a command naming another device.'),
    kind: Type.String({
      pattern: COMMAND_KIND_PATTERN,
      description:
        'What to do: snapshot, status, reload_config, model_update. A box refuses a kind it does not know ' +
        '(result `refused`, code `command_unknown`).',
    }),
    args: Type.Record(Type.String(), Type.Unknown(), {
      maxProperties: COMMAND_ARGS_MAX_PROPERTIES,
      description:
        'Arguments of the kind (SnapshotArgs, ModelUpdateArgs; `{}` for status and reload_config). Checked by the ' +
        'box against the kind: bad ones give a `refused` result with code `command_invalid`.',
    }),
    issued_at: DateTime('When the collector issued the command.'),
    expires_at: DateTime(
      'After this instant (box clock corrected by its offset) the box does not run the command: result ' +
        '`refused`, code `command_expired`. The collector ends it `expired` with `device_offline`.',
    ),
  },
  {
    ...top('command', 'Command'),
    description:
      'Collector → device, inside the MQTT envelope signed by the collector with the device key (method MQTT, path ' +
      '= `vigil/v1/{device_id}/commands`) on both transports: MQTT QoS 1 on that topic (persistent session), or ' +
      'the HTTPS long-poll.',
  },
);
export type Command = Static<typeof Command>;

export const CommandPoll = wireObject(
  {
    v: V,
    commands: Type.Array(embed(MqttEnvelopeSchema, 'One signed command (a Command in body_b64).'), {
      maxItems: COMMANDS_PER_POLL_MAX,
      description: 'Commands waiting for the box, oldest first; empty when none came during the wait.',
    }),
  },
  {
    ...top('command-poll', 'CommandPoll'),
    description:
      'The 200 answer of the signed long-poll `GET /v1/devices/{device_id}/commands?wait=25` (for boxes on HTTPS ' +
      'only): the waiting commands, each in its signed envelope, as on MQTT.',
  },
);
export type CommandPoll = Static<typeof CommandPoll>;

export const CommandResult = wireObject(
  {
    v: V,
    kind: Type.Literal('command_result', { description: 'Always `command_result`.' }),
    command_id: Type.String({ pattern: COMMAND_ID_PATTERN, description: 'The command answered.' }),
    device_id: DeviceId('Device answering; must equal the signing device.'),
    command_kind: Type.String({ pattern: COMMAND_KIND_PATTERN, description: 'The kind of the command answered.' }),
    status: Type.Union(
      RESULT_STATUSES.map((s) => Type.Literal(s)),
      {
        description:
          'done: ran, `result` holds the output; failed: ran and failed (code, message); refused: not run ' +
          '(command_unknown, command_invalid, command_expired).',
      },
    ),
    code: Type.Optional(
      Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$', description: 'Why, when status is failed or refused.' }),
    ),
    message: Type.Optional(Type.String({ maxLength: 512, description: 'Human-readable reason.' })),
    result: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description:
          'Output of a done command. snapshot: `{camera, width, height, captured_at, jpeg_b64}`; status: the ' +
          "daemon's status document; reload_config: `{restarted_cameras}`; model_update: `{model_id, sha256, " +
          'warmup_ms}`.',
      }),
    ),
    finished_at: DateTime('When the box finished (or refused) the command.'),
  },
  {
    ...top('command-result', 'CommandResult'),
    description:
      'Device → collector, through the outbox: MQTT `vigil/v1/{device_id}/results` (signed envelope) or HTTP `POST ' +
      '/v1/devices/{device_id}/results` (signed request). Acked with kind `result`, id = command_id, rev 0.',
  },
);
export type CommandResult = Static<typeof CommandResult>;

/** What a snapshot result carries. */
export const SnapshotResult = wireObject(
  {
    camera: CameraName(),
    width: Type.Integer({ minimum: 1, maximum: 8192, description: 'JPEG width in pixels.' }),
    height: Type.Integer({ minimum: 1, maximum: 8192, description: 'JPEG height in pixels.' }),
    captured_at: DateTime('When the frame was read.'),
    jpeg_b64: Type.String({ format: 'byte', description: 'The JPEG, standard padded base64.' }),
  },
  { description: 'Result of a snapshot command.' },
);
export type SnapshotResult = Static<typeof SnapshotResult>;

export const validateCommand = validator(Command);
export const validateCommandPoll = validator(CommandPoll);
export const validateCommandResult = validator(CommandResult);
export const validateSnapshotArgs = validator(SnapshotArgs);
export const validateModelUpdateArgs = validator(ModelUpdateArgs);
export const validateSnapshotResult = validator(SnapshotResult);

/**
 * Codes a CommandResult carries when a command is refused or fails (PROTOCOL.md §6). Stable like wire error codes.
 */
export const COMMAND_RESULT_CODES = {
  command_unknown: 'refused: the box does not know this kind',
  command_invalid: 'refused: the arguments do not fit the kind',
  command_expired: 'refused: received after expires_at',
  camera_unknown: 'failed: no camera of that name on the box',
  no_frame: 'failed: the camera has no frame yet (starting, stalled, ended)',
  not_supported: 'failed: the box cannot do this now (e.g. model_update in motion-only mode)',
  reload_failed: 'failed: the config file does not load; the running config stays',
  model_download_failed: 'failed: the model could not be downloaded (network, HTTP status, size)',
  model_hash_mismatch: 'failed: the downloaded file does not have the announced SHA-256 or size',
  model_load_failed: 'failed: onnxruntime could not load the model, or its inputs/outputs do not fit the format',
  model_warmup_failed: 'failed: the model failed on a real frame; the previous model stays',
  internal_error: 'failed: the box failed while running the command',
} as const;
export type CommandResultCode = keyof typeof COMMAND_RESULT_CODES;
