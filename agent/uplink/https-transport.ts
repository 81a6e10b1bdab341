import { errors as undiciErrors, type Dispatcher, type Pool } from 'undici';
import { parseDuration, type Clock } from '../../shared/clock/index.js';
import { describeError } from '../errors.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import { signHttpRequest, type DeviceCredentials } from '../../shared/signing/index.js';
import { CONTENT_TYPE, eventsPath, heartbeatPath, resultsPath, thumbnailPath } from '../../firmware-protocol/http.js';
import { validateAck } from '../../firmware-protocol/messages.js';
import { serverTimeFromHttp } from './clock-skew.js';

import { uplinkConfig } from './config.js';
import { httpsPool, tlsHint, type ClientTls } from './https-client.js';
import type { AckHandler, SendResult, Transport } from './types.js';

/** The whole-request timeout when none is given: the `uplink.http_timeout` default (config.ts). */
const DEFAULT_TIMEOUT_MS = parseDuration(uplinkConfig().http_timeout);

export interface HttpsTransportOptions {
  /** Collector base URL, e.g. https://vigil.example.com (http:// for local tests). */
  baseUrl: string;
  identity: DeviceCredentials;
  clock: Clock;
  logger?: Logger;
  /** Parallel keep-alive connections. */
  connections?: number;
  /** Whole-request timeout (headers and body), ms; default `uplink.http_timeout`'s. */
  timeoutMs?: number;
  connectTimeoutMs?: number;
  /** CA, client certificate and key: loadClientTls(uplink config), the same for pair, doctor and the daemon. */
  tls?: ClientTls | undefined;
}

/**
 * HTTPS transport: signed requests over a keep-alive undici Pool. The 200 response body is the collector's Ack;
 * any other answer becomes a TransportFailure carrying the wire error code, Retry-After and the collector's clock,
 * and the uplink decides what that means for the items.
 */
export class HttpsTransport implements Transport {
  readonly name = 'https' as const;
  private readonly timeoutMs: number;
  private readonly pool: Pool;
  private readonly log: Logger;
  private readonly prefix: string;
  readonly metrics = { requests: 0, failures: 0 };

  constructor(private readonly o: HttpsTransportOptions) {
    const url = new URL(o.baseUrl);
    this.prefix = url.pathname.replace(/\/+$/, '');
    this.timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const sizes = { timeoutMs: this.timeoutMs, connectTimeoutMs: o.connectTimeoutMs ?? 10_000 };
    this.pool = httpsPool(url.origin, { tls: o.tls, ...sizes, connections: o.connections ?? 4 });
    this.log = o.logger ?? silentLogger();
  }

  async start(_onAck: AckHandler, onReady: () => void): Promise<void> {
    onReady();
  }

  /** HTTP has no connection to lose; failures are handled per request with backoff. */
  isReady(): boolean {
    return true;
  }

  private async request(method: 'POST' | 'PUT', path: string, contentType: string, body: Buffer): Promise<SendResult> {
    const fullPath = this.prefix + path;
    // Signed at send time with the corrected clock; the signed path is exactly the request-target.
    const headers = {
      ...signHttpRequest(this.o.identity, method, fullPath, body, { clock: this.o.clock }),
      'content-type': contentType,
    };
    this.metrics.requests++;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.pool.request({
        method,
        path: fullPath,
        headers,
        body,
        signal: AbortSignal.timeout(this.timeoutMs + 1_000),
      });
    } catch (err) {
      this.metrics.failures++;
      const timeout =
        err instanceof undiciErrors.HeadersTimeoutError ||
        err instanceof undiciErrors.BodyTimeoutError ||
        (err as Error).name === 'TimeoutError';
      const hint = tlsHint(err);
      return {
        failure: {
          code: timeout ? 'timeout' : 'network_error',
          message: describeError(err) + (hint ? ` (${hint})` : ''),
        },
      };
    }
    let text = '';
    try {
      text = await res.body.text();
    } catch (err) {
      this.metrics.failures++;
      return {
        failure: {
          code: 'network_error',
          message: `reading the response failed: ${describeError(err)}`,
          status: res.statusCode,
        },
      };
    }
    const header = (name: string): string | undefined => {
      const v = res.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (res.statusCode === 200) {
      const issues = validateAck.issues(json);
      if (issues.length > 0) {
        this.metrics.failures++;
        return {
          failure: {
            code: 'invalid_ack',
            message: `200 response is not an Ack: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
            status: 200,
          },
        };
      }
      const serverTimeMs = serverTimeFromHttp(header('date'), undefined);
      return serverTimeMs === undefined
        ? { ack: validateAck.parse(json) }
        : { ack: validateAck.parse(json), serverTimeMs };
    }
    this.metrics.failures++;
    const err = (json as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
    const code = typeof err?.code === 'string' ? err.code : `http_${res.statusCode}`;
    const details =
      typeof err?.details === 'object' && err.details !== null ? (err.details as Record<string, unknown>) : undefined;
    const failure: SendResult['failure'] = {
      code,
      message: typeof err?.message === 'string' ? err.message : `HTTP ${res.statusCode}`,
      status: res.statusCode,
    };
    const after = retryAfterMs(header('retry-after'), this.o.clock.now());
    if (after !== undefined) failure.retryAfterMs = after;
    const serverTime = serverTimeFromHttp(header('date'), details);
    if (serverTime !== undefined) failure.serverTimeMs = serverTime;
    this.log.debug({ status: res.statusCode, code, path }, 'https: request failed');
    return { failure };
  }

  sendEvents(body: Buffer): Promise<SendResult> {
    return this.request('POST', eventsPath(this.o.identity.deviceId), CONTENT_TYPE.json, body);
  }

  sendThumbnail(eventId: string, jpeg: Buffer): Promise<SendResult> {
    return this.request('PUT', thumbnailPath(this.o.identity.deviceId, eventId), CONTENT_TYPE.jpeg, jpeg);
  }

  sendHeartbeat(body: Buffer): Promise<SendResult> {
    return this.request('POST', heartbeatPath(this.o.identity.deviceId), CONTENT_TYPE.json, body);
  }

  sendResult(_commandId: string, body: Buffer): Promise<SendResult> {
    return this.request('POST', resultsPath(this.o.identity.deviceId), CONTENT_TYPE.json, body);
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => this.pool.destroy());
  }
}

/** Parses a Retry-After header (delta seconds or HTTP date) into milliseconds from `nowMs`. */
export function retryAfterMs(header: string | undefined, nowMs: number): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const t = Date.parse(header);
  return Number.isNaN(t) ? undefined : Math.max(0, t - nowMs);
}
