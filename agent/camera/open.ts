import { VigilError, isVigilError } from '../errors.js';
import type { CameraConfig, CameraConfigInput } from './config.js';
import type { Frame } from './frame.js';
import { CameraStream, type CameraStreamOptions } from './stream.js';

export interface OpenCameraOptions extends CameraStreamOptions {
  /** Give up when no frame arrived within this many ms (default 10 000). */
  timeoutMs?: number;
}

export interface OpenedCamera {
  camera: CameraStream;
  /** The first frame (already taken from the stream). */
  first: Frame;
}

/**
 * Starts a camera and waits for its first frame, failing instead of retrying: for one-shot uses (`analyze` on a
 * URL, `doctor`, `snapshot`) where "the camera is unreachable" is the answer, not something to wait out.
 * Rejects with the ffmpeg reason as soon as ffmpeg gives up (e.g. `camera_unreachable`: connection refused),
 * or `camera_timeout` when nothing arrived in time. On failure the camera is stopped.
 */
export async function openCamera(
  config: CameraConfigInput | CameraConfig,
  options: OpenCameraOptions = {},
): Promise<OpenedCamera> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const camera = new CameraStream(config, options);
  camera.start();
  let timer: NodeJS.Timeout | undefined;
  let onError: ((e: VigilError) => void) | undefined;
  try {
    const first = await new Promise<Frame>((resolve, reject) => {
      timer = setTimeout(() => {
        const last = camera.stats().lastError ?? camera.stats().lastStderrLine;
        reject(
          new VigilError(
            'camera_timeout',
            `camera ${camera.name}: no frame within ${timeoutMs} ms${last ? `; last ffmpeg message: ${last}` : ''}`,
            {
              details: { camera: camera.name, timeout_ms: timeoutMs, last_error: last },
            },
          ),
        );
      }, timeoutMs);
      onError = (e: VigilError) => reject(e);
      camera.once('camera_error', onError);
      camera.next().then((f) => {
        if (f) resolve(f);
        else
          reject(
            new VigilError('camera_no_frames', `camera ${camera.name}: the input ended before its first frame`, {
              details: { camera: camera.name },
            }),
          );
      }, reject);
    });
    return { camera, first };
  } catch (err) {
    await camera.stop();
    throw isVigilError(err)
      ? err
      : new VigilError('camera_ffmpeg_failed', `camera ${camera.name}: ${(err as Error).message}`, { cause: err });
  } finally {
    if (timer) clearTimeout(timer);
    if (onError) camera.off('camera_error', onError);
  }
}

/** One frame from a camera, then the camera is stopped (snapshots, health checks). */
export async function grabFrame(
  config: CameraConfigInput | CameraConfig,
  options: OpenCameraOptions = {},
): Promise<Frame> {
  const { camera, first } = await openCamera(config, options);
  await camera.stop();
  return first;
}
