export { MotionDetector, type MotionResult, type MotionOptions } from './detector.js';
export { buildMotionModel, motionGraphSpec, motionGraphShape, defaultFactor, MotionIO, MOTION_GRAPH_VERSION, type MotionGraphParams } from './graph.js';
export { ensureMotionModel, defaultMotionCacheDir, motionModelFileName } from './model-cache.js';
export { rasterizeRoi, type Polygon } from './mask.js';
