import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { validator } from '../../shared/schema/index.js';
import { VigilError } from '../errors.js';

/**
 * One camera, as written in the agent's config file (`cameras: [...]`). This schema is the documentation:
 * every field says what it does; defaults live here only.
 */

const Point = Type.Tuple([Type.Number({ minimum: 0, maximum: 1 }), Type.Number({ minimum: 0, maximum: 1 })], {
  description: '[x, y], normalized: 0..1 of the frame width and height from the top-left corner',
});

export const MotionMaskSchema = Type.Array(Point, {
  minItems: 3,
  description: 'A polygon where motion is ignored (e.g. a clock, trees, a road outside the property)',
});

export const CameraDetectSchema = Type.Object(
  {
    width: Type.Integer({
      minimum: 16,
      maximum: 7680,
      multipleOf: 2,
      default: 640,
      description: 'Width frames are scaled to (even)',
    }),
    height: Type.Integer({
      minimum: 16,
      maximum: 4320,
      multipleOf: 2,
      default: 360,
      description: 'Height frames are scaled to (even)',
    }),
    fps: Type.Number({
      minimum: 0,
      maximum: 60,
      default: 5,
      description: "Frames per second delivered (ffmpeg fps filter). 0 = the input's own rate, unchanged",
    }),
  },
  { additionalProperties: false, default: {}, description: 'Size and rate of the frames the vision stages see' },
);

export const CameraFfmpegSchema = Type.Object(
  {
    path: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'ffmpeg binary; default: $VIGIL_FFMPEG, `ffmpeg` on PATH, then the bundled one',
      }),
    ),
    input_args: Type.Array(Type.String(), {
      default: [],
      description: 'Extra ffmpeg arguments placed before -i (e.g. ["-stimeout", "5000000"])',
    }),
    output_args: Type.Array(Type.String(), {
      default: [],
      description: 'Extra ffmpeg arguments placed after -i, before the output',
    }),
  },
  { additionalProperties: false, default: {}, description: 'ffmpeg binary and extra arguments' },
);

export const CameraConfigSchema = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z0-9_-]+$',
      description: 'Camera name: letters, digits, _ and -; used in events, logs and file names',
    }),
    input: Type.String({
      minLength: 1,
      description:
        'What to read: `rtsp://…` (TCP transport), `http(s)://…` (MJPEG or any stream ffmpeg reads), `/dev/videoN` ' +
        '(V4L2), a local file path, or `lavfi:<filtergraph>` for a generated test scene ' +
        '(e.g. `lavfi:testsrc2=size=640x360:rate=5`)',
    }),
    detect: CameraDetectSchema,
    realtime: Type.Boolean({
      default: false,
      description:
        'Files and lavfi only: true = read at the native rate (-re), like a live camera, dropping frames when busy; ' +
        'false = as fast as the pipeline takes them, never dropping (analysis). Live inputs are always realtime',
    }),
    loop: Type.Boolean({
      default: false,
      description:
        'File and lavfi inputs: when the input ends, play it again as a new stream (media clock from 0; open ' +
        'events end at the end of each pass) instead of ending',
    }),
    stall_timeout_s: Type.Number({
      exclusiveMinimum: 0,
      maximum: 600,
      default: 10,
      description: 'No frame for this long (while the pipeline is waiting for one) = stalled: ffmpeg is restarted',
    }),
    restart_backoff_s: Type.Object(
      {
        initial: Type.Number({ exclusiveMinimum: 0, maximum: 600, default: 1, description: 'First restart delay' }),
        max: Type.Number({
          exclusiveMinimum: 0,
          maximum: 3600,
          default: 30,
          description: 'Delay cap; the delay doubles per failed start',
        }),
      },
      {
        additionalProperties: false,
        default: {},
        description: 'Restart delays of a live camera whose ffmpeg exited or stalled',
      },
    ),
    ffmpeg: CameraFfmpegSchema,
    masks: Type.Array(MotionMaskSchema, { default: [], description: 'Motion masks: polygons where motion is ignored' }),
  },
  { additionalProperties: false, description: 'One camera' },
);

export type CameraConfig = Static<typeof CameraConfigSchema>;

/** What a caller may pass: the required fields, everything else defaulted. */
export type CameraConfigInput = Pick<CameraConfig, 'name' | 'input'> & {
  [K in Exclude<keyof CameraConfig, 'name' | 'input'>]?: CameraConfig[K] extends object
    ? CameraConfig[K] extends unknown[]
      ? CameraConfig[K]
      : Partial<CameraConfig[K]>
    : CameraConfig[K];
};

const check = validator(CameraConfigSchema, { code: 'config_invalid', registry: VigilError });

/** Applies the schema's defaults and validates; throws `config_invalid` naming each bad field. */
export function parseCameraConfig(value: unknown, where = 'camera'): CameraConfig {
  const withDefaults = Value.Default(CameraConfigSchema, structuredClone(value));
  const cfg = check.parse(withDefaults, where);
  if (cfg.restart_backoff_s.max < cfg.restart_backoff_s.initial) {
    return check.parse(
      { ...cfg, restart_backoff_s: { ...cfg.restart_backoff_s, max: cfg.restart_backoff_s.initial } },
      where,
    );
  }
  return cfg;
}
