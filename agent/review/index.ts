/** Review items: the event messages of one camera grouped into alerts and detections (pure). */
export { ReviewTracker, type ReviewFrame, type ReviewInput, type ReviewTrackerOptions } from './tracker.js';
export { ReviewMessageSchema, type ReviewMessage, type ReviewSeverity } from './messages.js';
export {
  ReviewGroupingSchema,
  REVIEW_GROUPING_DEFAULTS,
  type ReviewGrouping,
  type ReviewRules,
} from './options.js';
export { qualify, severityRank } from './rules.js';
