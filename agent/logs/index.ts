/**
 * The agent's logs: where the daemon writes them (stdout for the journal, plus an optional size-rotated file)
 * and how `vigil-agent logs` reads, filters, follows and prints them.
 *
 *   const { logger, destination } = createAgentLogger(config.log, 'agent');   // daemon
 *   process.on('SIGHUP', () => destination.reopen());
 */
export { RotatingFileStream, type RotatingFileOptions } from './rotating-file.js';
export {
  createLogDestination,
  createAgentLogger,
  type AgentLogDestination,
  type LogDestinationOptions,
} from './destination.js';
export {
  parseLogLine,
  matchesFilter,
  formatEntry,
  parseLevel,
  parseSince,
  useColour,
  LEVEL_VALUES,
  type LogEntry,
  type LogFilter,
  type LevelName,
} from './entry.js';
export { FileFollower, LineSplitter, logFilesOldestFirst, readLines, type FollowOptions } from './read.js';
