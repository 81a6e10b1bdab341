/**
 * Motion stage: a generated ONNX model (graph.ts, written by onnx-proto.ts, cached by model-cache.ts) finds what
 * changed against a running background; regions.ts turns the small change mask into boxes. Boxes go next to
 * agent/detect, which only looks where something moved.
 *
 *   const motion = await MotionDetector.create({ width: 640, height: 360, masks: camera.masks });
 *   const { boxes, calibrating } = await motion.detect(frame);
 */
export { MotionDetector, type MotionResult, type MotionOptions } from './detector.js';
export {
  buildMotionModel,
  motionGraphSpec,
  motionGraphShape,
  defaultFactor,
  MotionIO,
  MOTION_GRAPH_VERSION,
  type MotionGraphParams,
} from './graph.js';
export { ensureMotionModel, defaultMotionCacheDir, motionModelFileName } from './model-cache.js';
export { rasterizeRoi, type Polygon } from './mask.js';
export { MotionRegions } from './regions.js';
