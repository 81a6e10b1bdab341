/**
 * cloud/reclassify — the vision-LLM re-check of an event's thumbnail (stage after store/, before push/).
 * Entry point: `Reclassifier.classify(event)` → `Classification`; config section `reclassify` (./config.ts).
 */
export { Reclassifier, type ReclassifierOptions, type ReclassifyInput } from './reclassifier.js';
export { ReclassifyConfigSchema, reclassifyConfig, type ReclassifyConfig, type ProviderConfig } from './config.js';
export {
  type Classification,
  type ClassificationAttempt,
  type UnverifiedReason,
  edgeSummary,
  truncate,
} from './classification.js';
export {
  ClassificationAnswerSchema,
  SUMMARY_MAX,
  parseAnswer,
  answerJsonSchema,
  type ClassificationAnswer,
} from './answer.js';
export {
  ClassificationCache,
  MemoryCacheBackend,
  cacheKey,
  type CachedAnswer,
  type ClassificationCacheBackend,
} from './cache.js';
export { CircuitBreaker, type BreakerState } from './breaker.js';
export { renderPrompt, renderTemplate, promptVersion } from './prompt.js';
export { prepareImage, sha256Hex, type PreparedImage } from './image.js';
export type { VisionProvider, ProviderRequest, ProviderReply, TokenUsage } from './provider.js';
