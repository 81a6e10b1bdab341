import { request } from 'undici';
import { httpsAgent, type ClientTls } from '../uplink/https-client.js';

/**
 * One POST to the collector on its own dispatcher (the box's TLS client settings), closed afterwards: what
 * `vigil-agent pair` and a broker-login renewal send. The body is read as text and parsed as JSON when it is JSON.
 * A request that gets no answer throws undici's error as it is; the caller says what could not be reached.
 */
export interface PostOnceOptions {
  url: string;
  headers: Record<string, string>;
  body?: string;
  tls?: ClientTls | undefined;
  /** Headers and body timeout, ms; the whole request is aborted a second later. */
  timeoutMs: number;
  connectTimeoutMs?: number;
}

export interface PostAnswer {
  status: number;
  text: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  json: unknown;
}

export async function postOnce(o: PostOnceOptions): Promise<PostAnswer> {
  const { timeoutMs } = o;
  const dispatcher = httpsAgent({ tls: o.tls, timeoutMs, connectTimeoutMs: o.connectTimeoutMs });
  let status: number;
  let text: string;
  try {
    const res = await request(o.url, {
      method: 'POST',
      headers: o.headers,
      body: o.body,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs + 1_000),
      dispatcher,
    });
    status = res.statusCode;
    text = await res.body.text();
  } finally {
    await dispatcher.close().catch(() => dispatcher.destroy());
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status, text, json };
}
