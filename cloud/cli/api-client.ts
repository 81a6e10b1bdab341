import { createReadStream } from 'node:fs';
import type { Command } from 'commander';
import { request } from 'undici';
import { CLOUD_ERRORS, VigilError, type CloudErrorCode } from '../errors.js';

/**
 * The collector's HTTP API as the commands that work through it see it (`command send`, `model …`): where it is
 * (`--url`/`VIGIL_CLOUD_URL`, default http://127.0.0.1:8080), the admin token (`--token`/`VIGIL_CLOUD_TOKEN`), JSON in
 * and out, and the collector's error body turned back into a VigilError with its code (an unknown code or an
 * unreachable collector: service_unavailable).
 */
export interface ApiOpts {
  url?: string;
  token?: string;
  json?: boolean;
}

export function withApiOptions(c: Command, json = 'machine-readable output'): Command {
  return c
    .option('--url <url>', 'collector base URL (default $VIGIL_CLOUD_URL, else http://127.0.0.1:8080)')
    .option('--token <token>', 'admin API token (default $VIGIL_CLOUD_TOKEN)')
    .option('--json', json);
}

/** A usage error: exit 2. */
export const usage = (message: string): VigilError =>
  new VigilError('invalid_argument', message, { details: { exitCode: 2 } });

export class ApiClient {
  readonly base: string;
  private readonly token: string;

  constructor(o: ApiOpts) {
    this.base = (o.url ?? process.env.VIGIL_CLOUD_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
    const token = o.token ?? process.env.VIGIL_CLOUD_TOKEN;
    if (!token) throw usage('an admin API token is needed: --token or VIGIL_CLOUD_TOKEN (vigil-cloud token create)');
    this.token = token;
  }

  /** One request with the token; a non-2xx answer throws the collector's error. */
  async call(method: string, path: string, body?: unknown): Promise<Response> {
    const res = await fetch(new URL(path, `${this.base}/`), {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }).catch((err: unknown) => {
      throw new VigilError('service_unavailable', `${this.base} cannot be reached: ${(err as Error).message}`);
    });
    if (res.status >= 300) throw apiError(res.status, await res.text(), `${method} ${path}`);
    return res;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await (await this.call(method, path, body)).json()) as T;
  }

  /** PUTs a file to a presigned URL, streamed, with its length (the URL is the credential: no token sent). */
  async upload(url: string, file: string, size: number): Promise<void> {
    const res = await request(url, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: createReadStream(file),
    }).catch((err: unknown) => {
      throw new VigilError('service_unavailable', `${url.split('?')[0]} cannot be reached: ${(err as Error).message}`);
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw apiError(res.statusCode, text, 'PUT upload URL');
  }
}

/** The collector's `{error: {code, message}}` as a VigilError; anything else keeps the status line. */
function apiError(status: number, text: string, what: string): VigilError {
  let code: string = status === 401 ? 'unauthorized' : 'service_unavailable';
  let message = `${what}: HTTP ${status} ${text.slice(0, 200)}`;
  try {
    const err = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    if (err?.code) code = err.code;
    if (err?.message) message = err.message;
  } catch {
    // not the collector's error shape: keep the status line
  }
  const known = Object.hasOwn(CLOUD_ERRORS, code) ? (code as CloudErrorCode) : 'service_unavailable';
  return new VigilError(known, message, { details: { status, code } });
}
