import { pino, type DestinationStream } from 'pino';
import { createLogger, type Logger, type LogLevel } from '../../shared/log/index.js';
import type { LogConfig } from '../config/schema.js';
import { parseSize } from '../config/sizes.js';
import { RotatingFileStream } from './rotating-file.js';

/**
 * Where the daemon's log lines go: JSON to stdout always (under systemd that is the journal) and, when
 * `log.file` is set, the same lines to a size-rotated file.
 */
export interface AgentLogDestination {
  stream: DestinationStream;
  /** The rotating file, when one is configured. */
  file: RotatingFileStream | undefined;
  /** Reopen the file (SIGHUP). */
  reopen(): void;
  /** Write out buffered stdout lines (before exit). */
  flush(): void;
  close(): void;
}

export interface LogDestinationOptions {
  /** Stdout stream; default fd 1, asynchronous. Tests pass a collecting stream. */
  stdout?: DestinationStream | false;
}

export function createLogDestination(
  log: Pick<LogConfig, 'file' | 'max_size' | 'max_files'>,
  options: LogDestinationOptions = {},
): AgentLogDestination {
  const stdout = options.stdout === false ? undefined : (options.stdout ?? pino.destination({ fd: 1, sync: false }));
  const file = log.file
    ? new RotatingFileStream({ file: log.file, maxBytes: parseSize(log.max_size), maxFiles: log.max_files })
    : undefined;
  const streams: pino.StreamEntry[] = [];
  // The logger's level filters; each stream takes everything it is given.
  if (stdout) streams.push({ level: 'trace', stream: stdout });
  if (file) streams.push({ level: 'trace', stream: file });
  const stream: DestinationStream =
    streams.length === 0
      ? { write: () => undefined }
      : streams.length === 1
        ? (streams[0]!.stream as DestinationStream)
        : pino.multistream(streams);
  const flushable = stdout as { flushSync?: () => void } | undefined;
  return {
    stream,
    file,
    reopen: () => file?.reopen(),
    flush: () => {
      try {
        flushable?.flushSync?.();
      } catch {
        // sonic-boom refuses flushSync before it is ready; nothing is buffered then
      }
    },
    close: () => {
      try {
        flushable?.flushSync?.();
      } catch {
        // as above
      }
      file?.end();
    },
  };
}

/** The daemon's root logger over `createLogDestination`. */
export function createAgentLogger(
  log: LogConfig,
  component = 'agent',
  options: LogDestinationOptions & { bindings?: Record<string, unknown> } = {},
): { logger: Logger; destination: AgentLogDestination } {
  const destination = createLogDestination(log, options);
  const logger = createLogger({
    component,
    level: log.level as LogLevel,
    destination: destination.stream,
    ...(options.bindings ? { bindings: options.bindings } : {}),
  });
  return { logger, destination };
}
