import type { CameraConfig } from '../camera/config.js';
import type { TrackerConfig } from '../track/options.js';
import type { AgentCameraConfig } from './schema.js';

/**
 * A configured camera split for the stages that use it: the camera stage gets its own settings only (its schema
 * rejects unknown keys), the tracker gets the score gates.
 */
export function cameraStreamConfig(camera: AgentCameraConfig): CameraConfig {
  const {
    enabled: _enabled,
    labels: _labels,
    min_score: _minScore,
    threshold: _threshold,
    filters: _filters,
    ...stream
  } = camera;
  return stream;
}

/** Tracker settings of one camera: camera-wide gates and per-label filters over the tracker's defaults. */
export function trackerConfigFor(camera: AgentCameraConfig): Partial<TrackerConfig> {
  const out: Partial<TrackerConfig> = {};
  if (camera.min_score !== undefined) out.min_score = camera.min_score;
  if (camera.threshold !== undefined) out.threshold = camera.threshold;
  if (Object.keys(camera.filters).length > 0) out.labels = camera.filters;
  return out;
}
