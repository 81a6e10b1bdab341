/** The per-camera vision pipeline: frames → motion → detect → track → thumbnails → event messages. */
export { CameraPipeline, runPipeline, type PipelineOptions, type MotionStage } from './pipeline.js';
export type { PipelineStats, StageTotals } from './stats.js';
