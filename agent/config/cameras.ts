import type { CameraConfig } from '../camera/config.js';
import type { ObjectFilterConfig } from '../filter/object-filter.js';
import type { ReviewGrouping, ReviewRules } from '../review/options.js';
import type { TrackerConfig } from '../track/options.js';
import type { ZoneDefinition } from '../zones/zones.js';
import type { ReviewConfig } from './objects-schema.js';
import type { AgentCameraConfig } from './schema.js';

/**
 * A configured camera split for the stages that use it: the camera stage gets its own settings only (its schema
 * rejects unknown keys); the vision pipeline gets the label set, the object filter, the tracker's score gates and
 * the zones and the review rules (`pipelineOptionsForCamera`, shared by the daemon and `analyze --config`).
 */
export function cameraStreamConfig(camera: AgentCameraConfig): CameraConfig {
  const {
    enabled: _enabled,
    labels: _labels,
    min_score: _minScore,
    threshold: _threshold,
    filters: _filters,
    objects: _objects,
    zones: _zones,
    review: _review,
    ...stream
  } = camera;
  return stream;
}

/** Tracker settings of one camera: camera-wide gates and per-label score gates over the tracker's defaults. */
export function trackerConfigFor(camera: AgentCameraConfig): Partial<TrackerConfig> {
  const out: Partial<TrackerConfig> = {};
  if (camera.min_score !== undefined) out.min_score = camera.min_score;
  if (camera.threshold !== undefined) out.threshold = camera.threshold;
  const gates: TrackerConfig['labels'] = {};
  for (const [label, f] of Object.entries(camera.filters)) {
    if (f.min_score === undefined && f.threshold === undefined) continue;
    gates[label] = {
      ...(f.min_score !== undefined ? { min_score: f.min_score } : {}),
      ...(f.threshold !== undefined ? { threshold: f.threshold } : {}),
    };
  }
  if (Object.keys(gates).length > 0) out.labels = gates;
  return out;
}

/** The labels a camera tracks; undefined: every label the model knows (`labels: all`). */
export function trackedLabels(camera: AgentCameraConfig): readonly string[] | undefined {
  return camera.labels === 'all' ? undefined : camera.labels;
}

/** The object filter of one camera: `objects.mask` and each label's size/shape limits and masks. */
export function objectFilterFor(camera: AgentCameraConfig): ObjectFilterConfig {
  const labels: ObjectFilterConfig['labels'] = Object.fromEntries(
    Object.entries(camera.filters).map(([label, f]) => [
      label,
      { min_area: f.min_area, max_area: f.max_area, min_ratio: f.min_ratio, max_ratio: f.max_ratio, mask: f.mask },
    ]),
  );
  return { mask: camera.objects.mask, labels };
}

/** The zones of one camera, in the order the config lists them. */
export function zonesFor(camera: AgentCameraConfig): ZoneDefinition[] {
  return Object.entries(camera.zones).map(([name, z]) => ({
    name,
    coordinates: z.coordinates,
    objects: z.objects,
    inertia: z.inertia,
    loitering_time: z.loitering_time,
    filters: z.filters,
  }));
}

/**
 * What a configured camera sets in its vision pipeline (CameraPipeline's options of the same names). The review
 * messages go wherever the caller's `onReview` sends them (without `onReview` they are only counted).
 */
export interface CameraPipelineOptions {
  camera: string;
  /** undefined: every label the model knows. */
  labels: readonly string[] | undefined;
  tracker: Partial<TrackerConfig>;
  objectFilter: ObjectFilterConfig;
  zones: ZoneDefinition[];
  /** The camera's review rules and grouping (`review.merge_gap`). */
  review: { rules: ReviewRules; grouping: ReviewGrouping };
}

/**
 * The pipeline options of one configured camera, for `new CameraPipeline({ ...pipelineOptionsForCamera(c), width,
 * height, motion, detector, thumbnailDir, … })`: the daemon's camera runner and `analyze --config` both build the
 * pipeline this way, so a file analysed with a camera's config sees what the camera would.
 */
export function pipelineOptionsForCamera(camera: AgentCameraConfig): CameraPipelineOptions {
  return {
    camera: camera.name,
    labels: trackedLabels(camera),
    tracker: trackerConfigFor(camera),
    objectFilter: objectFilterFor(camera),
    zones: zonesFor(camera),
    review: { rules: reviewRulesFor(camera), grouping: { merge_gap_s: camera.review.merge_gap } },
  };
}

/**
 * The review settings of one camera, defaults filled (`alerts.labels` [person, car]; `detections.labels` unset
 * means every label the camera reports; empty `required_zones` means anywhere; `merge_gap` agent/review's default).
 */
export function reviewConfigFor(camera: AgentCameraConfig): ReviewConfig {
  return camera.review;
}

/** Which objects make an alert or a detection on one camera (the review settings without the merge gap). */
export function reviewRulesFor(camera: AgentCameraConfig): ReviewRules {
  const { alerts, detections } = camera.review;
  return { alerts, detections };
}
