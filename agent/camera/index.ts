export type { Frame, PixelBox } from './frame.js';
export { lumaPlane, frameByteLength } from './frame.js';
export { CameraConfigSchema, CameraDetectSchema, MotionMaskSchema, parseCameraConfig, type CameraConfig, type CameraConfigInput } from './config.js';
export { CameraStream, type CameraState, type CameraStats, type CameraStreamOptions, type CameraRestartInfo } from './stream.js';
export { openCamera, grabFrame, type OpenCameraOptions, type OpenedCamera } from './open.js';
export { resolveFfmpeg } from './ffmpeg-path.js';
export { classifyInput, cameraInput, type InputKind, type CameraInput } from './input.js';
export { redactUrl } from './ffmpeg-log.js';
export {
  syntheticSceneGraph,
  syntheticSceneInput,
  syntheticSceneTruth,
  writeSyntheticClip,
  type SyntheticSceneOptions,
  type SyntheticSceneTruth,
} from './synthetic.js';
