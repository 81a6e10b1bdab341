import type { JSX } from 'preact';
import { ApiError, UnreachableError } from '../api/http.js';

/** An error as a person reads it: the server's message, its code and the request id to quote to the operator. */
export function ErrorNotice({ error, onRetry }: { error: unknown; onRetry?: () => void }): JSX.Element | null {
  if (!error) return null;
  const api = error instanceof ApiError ? error : null;
  const message =
    error instanceof UnreachableError
      ? 'The collector cannot be reached. Check the connection; Vigil keeps retrying.'
      : error instanceof Error
        ? error.message
        : String(error);
  return (
    <div class="notice notice-error" role="alert">
      <p class="notice-message">{message}</p>
      {api && (
        <p class="notice-meta">
          <span>Code: {api.code}</span>
          {api.requestId && (
            <span>
              {' · '}Request id: <code class="request-id">{api.requestId}</code>
            </span>
          )}
        </p>
      )}
      {onRetry && (
        <button type="button" class="button button-small" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}
