import { describeError, isVigilError } from '../../shared/errors/index.js';
import { classifyInput, grabFrame, redactUrl } from '../camera/index.js';
import { cameraStreamConfig, type AgentCameraConfig } from '../config.js';
import { fail, pass, skip, type CheckResult } from './report.js';

const HINTS: Record<string, string> = {
  camera_unreachable:
    'check the URL (host, port, path), that the camera is on the network, and its user/password; aim it with ' +
    '`vigil-agent snapshot --camera NAME --out x.jpg`',
  camera_timeout:
    'the input opened but sent no frame in time: check the stream path/codec, or raise --timeout for a slow camera',
  camera_no_frames: 'the input ended before its first frame: is the file empty or not a video?',
  ffmpeg_not_found: 'see the ffmpeg check',
};

/** Each enabled camera must deliver one frame within `timeoutMs` (in parallel: one slow camera does not add up). */
export async function checkCameras(
  cameras: readonly AgentCameraConfig[],
  timeoutMs: number,
  ffmpegBroken: ReadonlySet<string>,
): Promise<CheckResult[]> {
  if (cameras.length === 0)
    return [skip('cameras', 'no cameras configured', 'add a camera under `cameras:` in the config')];
  return Promise.all(
    cameras.map(async (camera): Promise<CheckResult> => {
      const name = `camera:${camera.name}`;
      const input = classifyInput(camera.input) === 'lavfi' ? 'lavfi (generated scene)' : redactUrl(camera.input);
      if (!camera.enabled) return skip(name, `${input}: disabled in the config`);
      if (ffmpegBroken.has(camera.name))
        return skip(name, `${input}: not tried, its ffmpeg is unusable`, 'fix the ffmpeg check first');
      const t0 = Date.now();
      try {
        const frame = await grabFrame(cameraStreamConfig(camera), { timeoutMs });
        return pass(name, `${input}: frame ${frame.width}x${frame.height} after ${Date.now() - t0} ms`);
      } catch (err) {
        const code = isVigilError(err) ? err.code : 'camera_failed';
        return fail(
          name,
          `${input}: ${describeError(err)}`,
          HINTS[code] ??
            'run `vigil-agent snapshot --camera NAME --out x.jpg` and read `vigil-agent logs --component camera`',
        );
      }
    }),
  );
}
