/**
 * One error type for the whole project, and the registries that give each error code its meaning.
 *
 * Every failure that crosses a module boundary is a VigilError with a stable, machine-readable `code` (snake_case,
 * never reworded once released) and a human message that says what is wrong and where. What a code MEANS (the HTTP
 * status the collector answers with, what the caller should do about it, a default message) is written once, in a
 * registry, like fastify's lib/errors.js:
 *
 * - firmware-protocol/errors.ts: the wire catalogue (codes a device sees) and the protocol library's own codes;
 * - shared/errors/common.ts: codes thrown by shared/ code on both sides (config, CLI arguments);
 * - cloud/errors.ts and agent/errors.ts: one registry per side, each including the two above.
 *
 * A registry is a class made by `defineErrors(table)`. Call sites import the `VigilError` of their side and write
 * `new VigilError('code', message, { details, cause })`: the code is type-checked against that registry and the
 * status comes from it, so no call site writes an HTTP status. Codes without an HTTP status (agent, CLI, config)
 * have `status` undefined; the collector answers such an error, should one reach an API, with 500.
 *
 * Test for errors with `isVigilError(err, 'code')`: it holds for VigilErrors of any registry (`instanceof` a
 * registry's class holds only for the errors that registry made).
 */

/**
 * What the caller should do about an error. The first four are the wire catalogue's advice to a device
 * (firmware-protocol/errors.ts) and mean the same for any caller:
 * - `drop`: the same request can never succeed as sent (fix the input; a device dead-letters the item);
 * - `retry_later`: transient; try the same thing again with backoff (honour Retry-After when given);
 * - `adjust_and_retry`: correct what the error names (e.g. the clock offset), then send the same thing again;
 * - `re_pair`: the device's credentials are no longer valid; pair again;
 * - `fix_config`: an operator must fix configuration, files or the environment before it can work.
 */
export type RetryAdvice = 'drop' | 'retry_later' | 'adjust_and_retry' | 're_pair' | 'fix_config';

/** One registry entry: what a code means. */
export interface ErrorSpec {
  /** HTTP status the collector answers with; absent for errors that never reach an API (agent, CLI, config). */
  status?: number;
  retry: RetryAdvice;
  /** The message when a call site gives none; also documents the code. */
  message: string;
}

export type ErrorTable = Readonly<Record<string, ErrorSpec>>;

/** What a call site may add to an error: never its status (that is the registry's). */
export interface ErrorOptions {
  /** Structured context (paths, limits, ids). Never secrets. */
  details?: Record<string, unknown> | undefined;
  cause?: unknown;
}

export class VigilError<C extends string = string> extends Error {
  readonly code: C;
  /** HTTP status when surfaced by the collector's API; undefined for codes that have none. */
  readonly status: number | undefined;
  readonly details: Record<string, unknown> | undefined;

  /** Registries pass `spec`; call sites use the VigilError of their side's registry, never this constructor. */
  constructor(code: C, message: string, options: ErrorOptions, spec: Pick<ErrorSpec, 'status'>) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VigilError';
    this.code = code;
    this.status = spec.status;
    this.details = options.details;
  }

  /**
   * An error the OTHER side reported (the collector's answer to the agent): its code need not be in this side's
   * registry, and its status is the one the peer answered with.
   */
  static received(code: string, message: string, status: number | undefined, options: ErrorOptions = {}): VigilError {
    return new VigilError(code, message, options, { status });
  }

  /** The same error with more details (e.g. a CLI exit code): same code, status and message; this one is the cause. */
  withDetails(details: Record<string, unknown>): VigilError<C> {
    const options = { details: { ...(this.details ?? {}), ...details }, cause: this };
    return new VigilError<C>(this.code, this.message, options, { status: this.status });
  }

  toJSON(): { code: string; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** The class `defineErrors` makes: `new (code, message?, options?)`, plus the table it reads. */
export interface ErrorRegistry<C extends string> {
  new (code: C, message?: string, options?: ErrorOptions): VigilError<C>;
  readonly table: Readonly<Record<C, ErrorSpec>>;
  /** The entry of a code, or undefined when this registry does not know it. */
  spec(code: string): ErrorSpec | undefined;
  has(code: string): code is C;
}

/**
 * Makes a registry: a VigilError subclass whose constructor takes only the table's codes and reads status and
 * retry advice from the table. Export it as `export class VigilError extends defineErrors(TABLE) {}`.
 */
export function defineErrors<T extends ErrorTable>(table: T) {
  type C = keyof T & string;
  const specOf = (code: string): ErrorSpec | undefined => (Object.hasOwn(table, code) ? table[code] : undefined);
  return class RegistryError extends VigilError<C> {
    static readonly table: Readonly<Record<C, ErrorSpec>> = table;
    static spec(code: string): ErrorSpec | undefined {
      return specOf(code);
    }
    static has(code: string): code is C {
      return specOf(code) !== undefined;
    }
    constructor(code: C, message?: string, options: ErrorOptions = {}) {
      const spec = specOf(code);
      if (spec === undefined) throw new TypeError(`error code "${code}" is not in this registry`);
      super(code, message ?? spec.message, options, spec);
    }
  };
}

export function isVigilError(err: unknown, code?: string): err is VigilError {
  return err instanceof VigilError && (code === undefined || err.code === code);
}

/** A one-line description of any thrown value, for CLIs and logs: `code: message` for VigilErrors. */
export function describeError(err: unknown): string {
  if (err instanceof VigilError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
