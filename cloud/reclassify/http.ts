import { Agent, type Dispatcher, request } from 'undici';
import { isVigilError, VigilError } from '../errors.js';

/**
 * The one HTTP call every provider makes: POST a JSON body, get a JSON body back, with a hard timeout that covers
 * connecting, waiting and reading, and every failure mapped to a stable `llm_*` code (see ./provider.ts).
 */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export function llmAgent(): Agent {
  return new Agent({ keepAliveTimeout: 30_000, connections: 16 });
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

export interface PostJsonOptions {
  provider: string;
  url: string;
  headers?: Record<string, string>;
  body: unknown;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  dispatcher: Agent;
}

export async function postJson(options: PostJsonOptions): Promise<unknown> {
  const { provider, url } = options;
  const timeout = AbortSignal.timeout(Math.max(1, options.timeoutMs));
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const details = { provider };
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      method: 'POST',
      dispatcher: options.dispatcher,
      headers: { 'content-type': 'application/json', accept: 'application/json', ...(options.headers ?? {}) },
      body: JSON.stringify(options.body),
      signal,
    });
  } catch (err) {
    throw transportError(err, provider, options, timeout);
  }
  let raw: string;
  try {
    raw = await readLimited(res.body, MAX_RESPONSE_BYTES);
  } catch (err) {
    throw transportError(err, provider, options, timeout);
  }
  const status = res.statusCode;
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
    throw new VigilError(
      'llm_rate_limited',
      `${provider}: rate limited (HTTP 429${retryAfterMs === undefined ? '' : `, retry after ${retryAfterMs} ms`})`,
      {
        details: {
          ...details,
          http_status: 429,
          ...(retryAfterMs === undefined ? {} : { retry_after_ms: retryAfterMs }),
        },
      },
    );
  }
  if (status >= 500) {
    throw new VigilError('llm_unavailable', `${provider}: HTTP ${status}: ${snippet(raw)}`, {
      details: { ...details, http_status: status },
    });
  }
  if (status >= 400 || status < 200) {
    throw new VigilError('llm_request_rejected', `${provider}: HTTP ${status}: ${snippet(raw)}`, {
      details: { ...details, http_status: status },
    });
  }
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw new VigilError('llm_bad_response', `${provider}: response body is not JSON: ${snippet(raw)}`, { details });
  }
}

function snippet(text: string): string {
  return JSON.stringify(text.slice(0, 160));
}

async function readLimited(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new VigilError('llm_bad_response', `response larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function transportError(err: unknown, provider: string, options: PostJsonOptions, timeout: AbortSignal): VigilError {
  if (isVigilError(err) && VigilError.has(err.code))
    return new VigilError(err.code, `${provider}: ${err.message}`, { details: { provider }, cause: err });
  if (timeout.aborted) {
    return new VigilError('llm_timeout', `${provider}: no answer within ${options.timeoutMs} ms`, {
      details: { provider, timeout_ms: options.timeoutMs },
    });
  }
  if (options.signal?.aborted) {
    return new VigilError('llm_aborted', `${provider}: request aborted`, { details: { provider }, cause: err });
  }
  const code = (err as NodeJS.ErrnoException).code ?? (err as { cause?: NodeJS.ErrnoException }).cause?.code;
  return new VigilError('llm_unreachable', `${provider}: ${code ? `${code}: ` : ''}${(err as Error).message}`, {
    details: { provider, ...(code ? { errno: code } : {}) },
    cause: err,
  });
}
