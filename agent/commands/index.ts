/** Commands from the collector (PROTOCOL.md §6): verify, run at most once, answer through the outbox. */
export type { CommandContext, CommandHandler, CommandHandlers, CommandOutcome } from './types.js';
export { CommandVerifier, type VerifiedCommand } from './verify.js';
export {
  CommandExecutor,
  type CommandCounters,
  type CommandExecutorOptions,
  type CommandOutbox,
  type Receipt,
} from './executor.js';
export { failure, refusal, resultBody, resultRecord, type CommandFailure } from './results.js';
export { CommandPoller, type CommandPollerOptions } from './poller.js';
export { snapshotHandler, SNAPSHOT_MAX_BYTES, type SnapshotSource } from './snapshot.js';
export { reloadConfigHandler, statusHandler, type ReloadOutcome } from './daemon-handlers.js';
