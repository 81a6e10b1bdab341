import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { DetectorOptions } from './detector.js';

/** The `model` section of the agent config: which detector runs and how its input and output are read. */
export const DetectorConfigSchema = Type.Object(
  {
    path: Type.String({ minLength: 1, description: 'ONNX model file' }),
    type: Type.Union([Type.Literal('auto'), Type.Literal('yolox'), Type.Literal('yolo'), Type.Literal('ssd')], {
      default: 'auto',
      description: 'Output layout; auto reads it from the output shapes',
    }),
    threads: Type.Integer({ minimum: 1, maximum: 64, default: 1, description: 'onnxruntime intra-op threads' }),
    score_threshold: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.3,
      description: 'Drop detections scoring below this',
    }),
    iou_threshold: Type.Number({ minimum: 0, maximum: 1, default: 0.45, description: 'Class-wise NMS overlap limit' }),
    channel_order: Type.Optional(
      Type.Union([Type.Literal('bgr'), Type.Literal('rgb')], {
        description: 'Default per type: yolox bgr, yolo/ssd rgb',
      }),
    ),
    input_scale: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, description: 'Multiplier on 0..255 pixel values (yolo: 1/255)' }),
    ),
    pad_value: Type.Optional(
      Type.Number({ minimum: 0, maximum: 255, description: 'Letterbox fill, in 0..255 pixel units' }),
    ),
    placement: Type.Optional(
      Type.Union([Type.Literal('top-left'), Type.Literal('center'), Type.Literal('stretch')], {
        description: 'Where the resized image sits in the input',
      }),
    ),
    box_order: Type.Union([Type.Literal('yxyx'), Type.Literal('xyxy')], {
      default: 'yxyx',
      description: 'SSD box coordinate order',
    }),
    labels: Type.Optional(
      Type.Array(Type.String(), { description: 'Class names; default: model metadata `names`, else COCO 80' }),
    ),
  },
  { additionalProperties: false },
);
export type DetectorConfig = Static<typeof DetectorConfigSchema>;

/** The detector options a `model` config section asks for (the caller adds its logger). */
export function detectorOptionsFrom(m: DetectorConfig): DetectorOptions {
  const normalization = {
    ...(m.channel_order !== undefined ? { channelOrder: m.channel_order } : {}),
    ...(m.input_scale !== undefined ? { scale: m.input_scale } : {}),
    ...(m.pad_value !== undefined ? { padValue: m.pad_value } : {}),
    ...(m.placement !== undefined ? { placement: m.placement } : {}),
  };
  return {
    modelPath: m.path,
    type: m.type,
    threads: m.threads,
    scoreThreshold: m.score_threshold,
    iouThreshold: m.iou_threshold,
    boxOrder: m.box_order,
    ...(m.labels ? { labels: m.labels } : {}),
    ...(Object.keys(normalization).length > 0 ? { normalization } : {}),
  };
}

/**
 * The detector settings at the schema's defaults (the one place they are written): what an ObjectDetector created
 * without them (CLI analysis, tests, benches) uses.
 */
export const DETECTOR_DEFAULTS = detectorOptionsFrom(
  Value.Default(DetectorConfigSchema, { path: '' }) as DetectorConfig,
) as Required<Pick<DetectorOptions, 'type' | 'threads' | 'scoreThreshold' | 'iouThreshold' | 'boxOrder'>>;
