import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';
export type LogLevel = LevelWithSilent;

/**
 * Paths pino censors in every log line. Secrets, signatures, tokens and authorization headers never reach a log.
 * Keep this list the single place that says what is secret.
 */
export const REDACT_PATHS: readonly string[] = [
  'secret',
  '*.secret',
  'secret_b64',
  '*.secret_b64',
  'signature',
  '*.signature',
  'sig',
  '*.sig',
  'token',
  '*.token',
  'password',
  '*.password',
  'admin_password',
  '*.admin_password',
  'mqtt_credentials',
  '*.mqtt_credentials',
  'authorization',
  '*.authorization',
  'privateKey',
  '*.privateKey',
  'private_key',
  '*.private_key',
  'apiKey',
  '*.apiKey',
  'api_key',
  '*.api_key',
  'req.headers.authorization',
  'req.headers["x-vigil-signature"]',
  'headers.authorization',
  'headers["x-vigil-signature"]',
  'credentials',
  '*.credentials',
  // Web app sessions: the cookie header and the CSRF token.
  'cookie',
  '*.cookie',
  'req.headers.cookie',
  'headers.cookie',
  'csrf_token',
  '*.csrf_token',
  'req.headers["x-csrf-token"]',
  'headers["x-csrf-token"]',
];

export interface LoggerOptions {
  /** What part of the system writes: `camera`, `outbox`, `ingest`, ... Every line carries it. */
  component: string;
  level?: LogLevel;
  /** Where lines go; stdout by default. */
  destination?: DestinationStream;
  /** Extra fields bound to every line (e.g. `camera`, `device_id`). */
  bindings?: Record<string, unknown>;
}

/**
 * The root pino instance, reachable from every descendant: pino children inherit from their parent by prototype,
 * so a property set on the root is visible on all of them. componentLogger() uses it to re-bind `component`
 * instead of writing the key twice.
 */
const ROOT = Symbol('vigil.log.root');
type Rooted = Logger & { [ROOT]?: Logger };

/** A pino JSON logger with the project's redaction rules and a `component` field. */
export function createLogger(options: LoggerOptions): Logger {
  const base: Rooted = pino(
    {
      level: options.level ?? (process.env.VIGIL_LOG_LEVEL as LogLevel | undefined) ?? 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination({ fd: 1, sync: false }),
  );
  base[ROOT] = base;
  return base.child({ component: options.component, ...(options.bindings ?? {}) });
}

/**
 * A child of `parent` for another component: keeps the parent's destination, level and other bindings, and
 * replaces its `component` (one `component` key per line).
 */
export function componentLogger(parent: Logger, component: string, bindings: Record<string, unknown> = {}): Logger {
  const root = (parent as Rooted)[ROOT];
  if (!root) return parent.child({ component, ...bindings });
  const { component: _previous, ...inherited } = parent.bindings();
  const child = root.child({ ...inherited, component, ...bindings });
  child.level = parent.level;
  return child;
}

/** A logger that writes nothing. For tests and library use without logging. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
