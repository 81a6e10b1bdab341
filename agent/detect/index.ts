/** Object detection: ONNX session, letterbox preprocessing, output decoders, NMS, region planning. */
export {
  ObjectDetector,
  type DetectorOptions,
  type DetectTimings,
  type FrameDetections,
  type DetectorTotals,
} from './detector.js';
export { DetectorConfigSchema, type DetectorConfig } from './config.js';
export type { Detection, ModelType, InputNormalization, InputGeometry } from './types.js';
export { planRegions, type RegionPlan } from './regions.js';
export { iou, nmsClasswise, boxArea, type Box } from './nms.js';
export { COCO80 } from './labels.js';
