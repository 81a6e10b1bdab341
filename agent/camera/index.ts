/**
 * Camera stage: turns a camera (RTSP, HTTP/MJPEG, V4L2), a video file or a generated lavfi scene into a stream of
 * yuv420p `Frame`s at the configured detect size and rate. Frames go next to agent/motion.
 *
 *   const detect = { width: 640, height: 360, fps: 5 };
 *   const cam = new CameraStream({ name: 'door', input: 'rtsp://…', detect }).start();
 *   for await (const frame of cam) { … }          // live: drops frames while you are busy; files: never drops
 *   const { camera, first } = await openCamera(cfg, { timeoutMs: 5000 });   // fail fast when unreachable
 *
 * Input syntax (`input`): `rtsp://…`, `http(s)://…`, `/dev/videoN`, a file path, or `lavfi:<filtergraph>`
 * (e.g. `lavfi:testsrc2=size=640x360:rate=5:duration=10`, or `syntheticSceneInput()` for a scene with known motion).
 */
export type { Frame, PixelBox } from './frame.js';
export { lumaPlane, frameByteLength } from './frame.js';
export {
  CameraConfigSchema,
  CameraDetectSchema,
  MotionMaskSchema,
  parseCameraConfig,
  type CameraConfig,
  type CameraConfigInput,
} from './config.js';
export {
  CameraStream,
  type CameraState,
  type CameraStats,
  type CameraStreamOptions,
  type CameraRestartInfo,
} from './stream.js';
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
