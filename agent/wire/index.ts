/** The protocol form of the pipeline's event messages: pipeline message → protocol Event (then the outbox). */
export { WireEventBuilder, type BuiltEvent, type PipelineThumbnail } from './event-builder.js';
