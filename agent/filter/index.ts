/** The object filter between detect and track: object masks and per-label box size and shape limits. */
export {
  ObjectFilter,
  areaInPixels,
  isEmptyFilter,
  shapeProblem,
  type FilterReason,
  type FilterResult,
  type ObjectFilterConfig,
  type ShapeLimits,
} from './object-filter.js';
