/**
 * Message schemas of protocol v1 — the contract between the box (vigil-agent or any firmware) and the collector.
 * The descriptions ARE the documentation: `export-schemas.ts` writes them out as JSON Schema (draft-07) for
 * firmware teams, and PROTOCOL.md tabulates them.
 *
 * Forward compatibility: every wire object allows properties it does not define (`additionalProperties: true`):
 * a v1 reader ignores fields it does not know, so a later v1 may add optional fields. Every known field is
 * validated strictly. Every message body carries `v: 1`.
 *
 * One module per message family under messages/ (common.ts holds the shared field types); this file re-exports them.
 */
export * from './messages/ack.js';
export * from './messages/availability.js';
export * from './messages/command.js';
export { SCHEMA_ID_BASE } from './messages/common.js';
export * from './messages/envelope.js';
export * from './messages/error-body.js';
export * from './messages/event.js';
export * from './messages/events-body.js';
export * from './messages/heartbeat.js';
export * from './messages/kinds.js';
export * from './messages/pairing.js';
export * from './messages/review.js';
export * from './messages/thumbnail-info.js';
