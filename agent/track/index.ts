/** Tracking: detections → tracks → event messages (new/update/end); motion-only events. */
export { ObjectTracker, type TrackerOptions, type UpdateContext } from './tracker.js';
export { MotionEventTracker, type MotionEventOptions } from './motion-events.js';
export { EventMessageSchema, type EventMessage, type ThumbnailCandidate, type TrackerOutput } from './messages.js';
export { TrackerConfigSchema, TRACKER_DEFAULTS, type TrackerConfig } from './options.js';
