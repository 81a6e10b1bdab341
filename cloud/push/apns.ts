import {
  connect,
  constants as h2,
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
} from 'node:http2';
import { readFileSync } from 'node:fs';
import { importPKCS8, SignJWT, type CryptoKey } from 'jose';
import { VigilError, describeError } from '../errors.js';
import { systemClock, type Clock } from '../../shared/clock/index.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import { apnsCollapseId, tokenHint } from './notification.js';
import type { Notification, PushOutcome, PushSender, PushTarget } from './notification.js';
import { parseRetryAfter } from './retry-after.js';

/**
 * APNs provider API (token-based): HTTP/2 `POST /3/device/{token}` with an ES256 provider JWT. One long-lived
 * HTTP/2 session per endpoint carries every request (APNs expects connections to stay open); it is reopened after
 * GOAWAY or close.
 */
export const APNS_ENDPOINTS = {
  production: 'https://api.push.apple.com',
  sandbox: 'https://api.sandbox.push.apple.com',
} as const;

/** APNs refuses provider tokens older than an hour and token updates more often than every 20 minutes. */
export const APNS_TOKEN_MIN_AGE_MS = 20 * 60_000;
export const APNS_TOKEN_MAX_AGE_MS = 60 * 60_000;

const DEVICE_TOKEN = /^[0-9a-fA-F]{64,200}$/;

export interface ApnsProviderTokenOptions {
  teamId: string;
  keyId: string;
  /** PKCS#8 PEM of the .p8 auth key. */
  keyPem: string;
  clock?: Clock;
  /** Age at which the token is rebuilt; clamped to 20..59 minutes. */
  refreshAfterMs?: number;
}

/**
 * The provider token: built once, reused by every request, rebuilt when it reaches `refreshAfterMs` (never sooner
 * than 20 minutes unless APNs itself called it expired).
 */
export class ApnsProviderToken {
  private key: Promise<CryptoKey> | undefined;
  private current: { jwt: string; issuedAt: number } | undefined;
  private building: Promise<string> | undefined;
  private readonly clock: Clock;
  readonly refreshAfterMs: number;
  /** How many tokens were built (for tests and metrics). */
  builds = 0;

  constructor(private readonly options: ApnsProviderTokenOptions) {
    this.clock = options.clock ?? systemClock;
    const wanted = options.refreshAfterMs ?? 50 * 60_000;
    this.refreshAfterMs = Math.min(Math.max(wanted, APNS_TOKEN_MIN_AGE_MS), APNS_TOKEN_MAX_AGE_MS - 60_000);
  }

  /** The token to use now. */
  async get(): Promise<string> {
    const c = this.current;
    if (c && this.clock.now() - c.issuedAt < this.refreshAfterMs) return c.jwt;
    return this.build();
  }

  /**
   * APNs answered ExpiredProviderToken for `jwt` (its clock and ours disagree): rebuild, unless another request
   * already replaced that token.
   */
  async rejected(jwt: string): Promise<string> {
    if (this.current && this.current.jwt !== jwt) return this.current.jwt;
    return this.build();
  }

  private build(): Promise<string> {
    // Concurrent requests share one build.
    this.building ??= (async () => {
      try {
        this.key ??= importPKCS8(this.options.keyPem, 'ES256').catch((err: unknown) => {
          this.key = undefined;
          throw new VigilError(
            'push_apns_key_invalid',
            `APNs auth key ${this.options.keyId} is not a PKCS#8 P-256 key: ${describeError(err)}`,
            { cause: err },
          );
        });
        const key = await this.key;
        const issuedAt = this.clock.now();
        const jwt = await new SignJWT({})
          .setProtectedHeader({ alg: 'ES256', kid: this.options.keyId })
          .setIssuer(this.options.teamId)
          .setIssuedAt(Math.floor(issuedAt / 1000))
          .sign(key);
        this.current = { jwt, issuedAt };
        this.builds++;
        return jwt;
      } finally {
        this.building = undefined;
      }
    })();
    return this.building;
  }
}

export interface ApnsSenderOptions {
  teamId: string;
  keyId: string;
  keyPem: string;
  bundleId: string;
  /** production | sandbox | URL (http:// = h2c, for tests). */
  endpoint?: string;
  /** PEM CA(s) to trust for the endpoint. */
  ca?: string | Buffer;
  ttlMs?: number;
  timeoutMs?: number;
  tokenRefreshMs?: number;
  clock?: Clock;
  logger?: Logger;
}

/** Reads key_file / ca_file of the config section into sender options. */
export function apnsOptionsFromConfig(c: {
  team_id: string;
  key_id: string;
  key_file?: string | undefined;
  key_pem?: string | undefined;
  bundle_id: string;
  endpoint: string;
  ca_file?: string | undefined;
}): Pick<ApnsSenderOptions, 'teamId' | 'keyId' | 'keyPem' | 'bundleId' | 'endpoint' | 'ca'> {
  let keyPem = c.key_pem;
  if (!keyPem && c.key_file) {
    try {
      keyPem = readFileSync(c.key_file, 'utf8');
    } catch (err) {
      throw new VigilError(
        'push_config_invalid',
        `push.apns.key_file: cannot read ${c.key_file}: ${describeError(err)}`,
        { cause: err },
      );
    }
  }
  if (!keyPem) throw new VigilError('push_config_invalid', 'push.apns: set key_file or key_pem (the .p8 auth key)');
  let ca: Buffer | undefined;
  if (c.ca_file) {
    try {
      ca = readFileSync(c.ca_file);
    } catch (err) {
      throw new VigilError(
        'push_config_invalid',
        `push.apns.ca_file: cannot read ${c.ca_file}: ${describeError(err)}`,
        { cause: err },
      );
    }
  }
  return {
    teamId: c.team_id,
    keyId: c.key_id,
    keyPem,
    bundleId: c.bundle_id,
    endpoint: c.endpoint,
    ...(ca ? { ca } : {}),
  };
}

interface ApnsResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Reasons meaning "this token will never work for this app": the caller prunes it. */
const INVALID_TOKEN_REASONS = new Set(['BadDeviceToken', 'DeviceTokenNotForTopic', 'Unregistered']);

export class ApnsSender implements PushSender {
  readonly platform = 'apns' as const;
  readonly origin: string;
  readonly providerToken: ApnsProviderToken;
  private session: ClientHttp2Session | undefined;
  private inFlight = 0;
  /** Sessions opened so far (reconnects show up here). */
  connects = 0;
  private readonly clock: Clock;
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly options: ApnsSenderOptions) {
    const ep = options.endpoint ?? 'production';
    this.origin = ep === 'production' || ep === 'sandbox' ? APNS_ENDPOINTS[ep] : new URL(ep).origin;
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? silentLogger();
    this.providerToken = new ApnsProviderToken({
      teamId: options.teamId,
      keyId: options.keyId,
      keyPem: options.keyPem,
      clock: this.clock,
      ...(options.tokenRefreshMs !== undefined ? { refreshAfterMs: options.tokenRefreshMs } : {}),
    });
  }

  /** The APNs JSON payload for a notification. */
  payload(n: Notification): Record<string, unknown> {
    return {
      aps: {
        alert: { title: n.title, body: n.body },
        // An update replaces the notification with the same apns-collapse-id without a sound.
        ...(n.update ? {} : { sound: 'default' }),
        'mutable-content': 1,
        'thread-id': n.thread_id ?? 'vigil',
      },
      event_id: n.event_id,
      ...(n.review_id !== undefined ? { review_id: n.review_id } : {}),
      thumbnail_url: n.thumbnail_url,
      ...(n.unverified !== undefined ? { unverified: n.unverified } : {}),
      ...(n.update ? { update: true } : {}),
    };
  }

  async send(target: PushTarget, n: Notification): Promise<PushOutcome> {
    if (target.platform !== 'apns') return { status: 'failed', httpStatus: null, reason: 'wrong_platform' };
    if (!DEVICE_TOKEN.test(target.token))
      return { status: 'invalid_token', httpStatus: null, reason: 'BadDeviceToken' };
    let jwt: string;
    try {
      jwt = await this.providerToken.get();
    } catch (err) {
      this.log.error({ err: describeError(err) }, 'apns provider token cannot be built');
      return { status: 'failed', httpStatus: null, reason: 'provider_token_unavailable' };
    }
    const body = JSON.stringify(this.payload(n));
    let res = await this.request(target.token, n, body, jwt);
    if (!('headers' in res)) return res;
    if (res.status === 403 && reasonOf(res.body) === 'ExpiredProviderToken') {
      // APNs' clock says the token is over an hour old: build a fresh one and try once more.
      this.log.warn('apns says the provider token expired; rebuilding it');
      try {
        jwt = await this.providerToken.rejected(jwt);
      } catch {
        return { status: 'failed', httpStatus: 403, reason: 'provider_token_unavailable' };
      }
      res = await this.request(target.token, n, body, jwt);
      if (!('headers' in res)) return res;
    }
    return this.outcome(res, target);
  }

  private outcome(res: ApnsResponse, target: PushTarget): PushOutcome {
    if (res.status === 200) {
      const id = res.headers['apns-id'];
      return { status: 'sent', httpStatus: 200, ...(typeof id === 'string' ? { providerId: id } : {}) };
    }
    const reason = reasonOf(res.body) ?? `http_${res.status}`;
    const retryAfterMs = parseRetryAfter(res.headers['retry-after'], this.clock.now());
    if (res.status === 410 || (res.status === 400 && INVALID_TOKEN_REASONS.has(reason))) {
      this.log.info({ token: tokenHint(target), reason }, 'apns token invalid');
      return { status: 'invalid_token', httpStatus: res.status, reason };
    }
    if (res.status === 429 || res.status >= 500) {
      return {
        status: 'retry',
        httpStatus: res.status,
        reason,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    }
    this.log.warn({ token: tokenHint(target), status: res.status, reason }, 'apns refused the notification');
    return { status: 'failed', httpStatus: res.status, reason };
  }

  private connection(): ClientHttp2Session {
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    const session = connect(this.origin, this.options.ca ? { ca: this.options.ca } : {});
    this.connects++;
    const drop = (): void => {
      if (this.session === session) this.session = undefined;
    };
    session.on('goaway', (code: number) => {
      this.log.info({ code }, 'apns sent GOAWAY; the next request opens a new connection');
      drop();
    });
    session.on('close', drop);
    session.on('error', (err: Error) => {
      this.log.warn({ err: describeError(err) }, 'apns connection error');
      drop();
    });
    session.unref();
    this.session = session;
    return session;
  }

  private request(token: string, n: Notification, body: string, jwt: string): Promise<ApnsResponse | PushOutcome> {
    if (this.closed) return Promise.resolve({ status: 'failed', httpStatus: null, reason: 'sender_closed' });
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    const expiration = Math.floor((this.clock.now() + (this.options.ttlMs ?? 3_600_000)) / 1000);
    return new Promise((resolve) => {
      let settled = false;
      const done = (v: ApnsResponse | PushOutcome): void => {
        if (settled) return;
        settled = true;
        this.inFlight--;
        if (this.inFlight === 0) this.session?.unref();
        resolve(v);
      };
      const networkFailure = (reason: string, err?: unknown): void => {
        if (err) this.log.warn({ err: describeError(err) }, `apns request failed: ${reason}`);
        done({ status: 'retry', httpStatus: null, reason });
      };
      this.inFlight++;
      let session: ClientHttp2Session;
      let stream: ClientHttp2Stream;
      try {
        session = this.connection();
        session.ref();
        stream = session.request({
          [h2.HTTP2_HEADER_METHOD]: 'POST',
          [h2.HTTP2_HEADER_PATH]: `/3/device/${token}`,
          authorization: `bearer ${jwt}`,
          'apns-topic': this.options.bundleId,
          'apns-push-type': 'alert',
          'apns-priority': n.priority === 'high' ? '10' : '5',
          'apns-expiration': String(expiration),
          'apns-collapse-id': apnsCollapseId(n.collapse_id),
          'content-type': 'application/json',
        });
      } catch (err) {
        this.session = undefined;
        networkFailure('connection_error', err);
        return;
      }
      let status = 0;
      let headers: IncomingHttpHeaders = {};
      let text = '';
      stream.setEncoding('utf8');
      stream.setTimeout(timeoutMs, () => {
        stream.close(h2.NGHTTP2_CANCEL);
        networkFailure('timeout');
      });
      stream.on('response', (h) => {
        headers = h;
        status = Number(h[h2.HTTP2_HEADER_STATUS]);
      });
      stream.on('data', (chunk: string) => {
        text += chunk;
      });
      stream.on('end', () => {
        if (status) done({ status, headers, body: text });
        else networkFailure('no_response');
      });
      stream.on('error', (err) => networkFailure('connection_error', err));
      stream.on('close', () => {
        if (!settled) {
          if (status) done({ status, headers, body: text });
          else networkFailure('stream_closed');
        }
      });
      stream.end(body);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const s = this.session;
    this.session = undefined;
    if (s && !s.closed) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

function reasonOf(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { reason?: unknown };
    return typeof parsed.reason === 'string' ? parsed.reason : undefined;
  } catch {
    return undefined;
  }
}
