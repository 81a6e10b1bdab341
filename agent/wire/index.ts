/**
 * The protocol form of the pipeline's messages: event message → protocol Event, review message → protocol Review
 * (then the outbox).
 */
export { WireEventBuilder, type BuiltEvent, type PipelineThumbnail } from './event-builder.js';
export { WireReviewBuilder } from './review-builder.js';
export { validateRecord } from './records.js';
