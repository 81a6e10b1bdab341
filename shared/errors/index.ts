/**
 * One error type for the whole project. Every failure that crosses a module boundary is a VigilError with a
 * stable, machine-readable `code` (snake_case, never reworded once released) and a human message that says what
 * is wrong and where. `status` is the HTTP status the collector answers with, when the error reaches an API.
 */
export interface VigilErrorOptions {
  /** HTTP status when surfaced by an API (default 500). */
  status?: number;
  /** Structured context (paths, limits, ids). Never secrets. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class VigilError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, options: VigilErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VigilError';
    this.code = code;
    this.status = options.status ?? 500;
    this.details = options.details;
  }

  toJSON(): { code: string; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
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
