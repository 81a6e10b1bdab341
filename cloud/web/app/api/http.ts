import type { ErrorBody } from './types.js';

/**
 * Every call to the collector goes through here: same-origin fetch with the session cookie (the browser sends it;
 * scripts never see it), the CSRF token header on state-changing methods, and errors a person can act on:
 * `ApiError` carries the server's message, code and request id; `UnreachableError` means no answer at all.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | null,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export class UnreachableError extends Error {
  constructor(message = 'The collector cannot be reached.') {
    super(message);
    this.name = 'UnreachableError';
  }
}

export interface HttpHooks {
  /** A 401 on an authenticated call: the session ended. */
  onUnauthorized(err: ApiError): void;
  /** No answer (network down, collector stopped, proxy without an upstream). */
  onUnreachable(): void;
  /** An answer came (any status): the collector is reachable. */
  onReachable(): void;
}

let hooks: HttpHooks = { onUnauthorized() {}, onUnreachable() {}, onReachable() {} };
let csrfToken: string | null = null;

export function setHttpHooks(h: HttpHooks): void {
  hooks = h;
}

/** The session's CSRF token (from POST/GET /v1/session), sent as X-CSRF-Token on POST/PUT/PATCH/DELETE. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** A 401 is an expected answer here (login, session probe): do not treat it as a session that ended. */
  expect401?: boolean;
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

async function errorOf(res: Response): Promise<ApiError | UnreachableError> {
  const headerId = res.headers.get('x-request-id');
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const e = (body as ErrorBody | undefined)?.error;
  if (e && typeof e.code === 'string' && typeof e.message === 'string')
    return new ApiError(res.status, e.code, e.message, e.request_id ?? headerId, e.details);
  // No error body of ours: a proxy in front answered for a collector that is not there.
  if (res.status === 502 || res.status === 503 || res.status === 504) return new UnreachableError();
  return new ApiError(res.status, `http_${res.status}`, res.statusText || `HTTP ${res.status}`, headerId);
}

export async function request<T>(method: string, path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (STATE_CHANGING.has(method) && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    hooks.onUnreachable();
    throw new UnreachableError();
  }
  if (res.ok) {
    hooks.onReachable();
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }
  const err = await errorOf(res);
  if (err instanceof UnreachableError) {
    hooks.onUnreachable();
    throw err;
  }
  hooks.onReachable();
  if (err.status === 401 && !opts.expect401) hooks.onUnauthorized(err);
  throw err;
}

export const api = {
  get: <T>(path: string, opts?: RequestOptions) => request<T>('GET', path, undefined, opts),
  post: <T>(path: string, body?: unknown, opts?: RequestOptions) => request<T>('POST', path, body ?? {}, opts),
  put: <T>(path: string, body: unknown, opts?: RequestOptions) => request<T>('PUT', path, body, opts),
  del: <T>(path: string, opts?: RequestOptions) => request<T>('DELETE', path, undefined, opts),
};

/** Query string from a record, leaving out empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
