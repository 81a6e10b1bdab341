export * from './types.js';
export * from './backoff.js';
export { Outbox } from './outbox.js';
/** The Outbox's options, results and reports. */
export type * from './api.js';
export { openOutboxFile, isCorruptionError, isDiskFullError, type OpenFileOptions } from './open.js';
export { readDiskState, reservePath, type DiskState, type ReserveState } from './disk-state.js';
export { COMMAND_SEEN_KEEP_MS, type SeenCommand } from './commands-seen.js';
export { OUTBOX_SCHEMA_VERSION, OUTBOX_APPLICATION_ID, ROW_OVERHEAD_BYTES } from './schema.js';

export { OutboxConfigSchema, outboxConfig, outboxOptionsFrom, OUTBOX_DEFAULTS, type OutboxConfig } from './config.js';

/** The outbox file inside the agent's data directory. */
export const OUTBOX_FILE = 'outbox.db';
