import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { importPKCS8, SignJWT, type CryptoKey } from 'jose';
import { Agent, request, type Dispatcher } from 'undici';
import { VigilError, describeError } from '../errors.js';
import { systemClock, type Clock } from '../../shared/clock/index.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import { validator } from '../../shared/schema/index.js';
import { apnsCollapseId, tokenHint } from './notification.js';
import type { Notification, PushOutcome, PushSender, PushTarget } from './notification.js';
import { parseRetryAfter } from './retry-after.js';

/**
 * FCM HTTP v1: an OAuth2 access token from the service account (JWT-bearer grant, RFC 7523, RS256 assertion),
 * cached until shortly before it expires, then `POST /v1/projects/{project}/messages:send`.
 */
export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export const ServiceAccountSchema = Type.Object(
  {
    client_email: Type.String({ minLength: 3, description: 'Service account e-mail; `iss` of the assertion.' }),
    private_key: Type.String({ minLength: 100, description: 'PKCS#8 PEM RSA key.' }),
    token_uri: Type.String({
      format: 'uri',
      pattern: '^https?://',
      description: 'OAuth2 token endpoint; `aud` of the assertion.',
    }),
    project_id: Type.Optional(Type.String({ minLength: 1 })),
    private_key_id: Type.Optional(Type.String()),
  },
  { description: 'The fields of a Google service-account JSON the sender uses (others are ignored).' },
);
export type ServiceAccount = Static<typeof ServiceAccountSchema>;
const serviceAccountValidator = validator(ServiceAccountSchema, { code: 'push_config_invalid', registry: VigilError });

/** Reads service_account_file / service_account_json of the config section. */
export function serviceAccountFromConfig(c: {
  service_account_file?: string | undefined;
  service_account_json?: string | undefined;
}): ServiceAccount {
  let text = c.service_account_json;
  let where = 'push.fcm.service_account_json';
  if (!text && c.service_account_file) {
    where = `push.fcm.service_account_file (${c.service_account_file})`;
    try {
      text = readFileSync(c.service_account_file, 'utf8');
    } catch (err) {
      throw new VigilError('push_config_invalid', `${where}: cannot read: ${describeError(err)}`, { cause: err });
    }
  }
  if (!text) throw new VigilError('push_config_invalid', 'push.fcm: set service_account_file or service_account_json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new VigilError('push_config_invalid', `${where}: not JSON: ${describeError(err)}`);
  }
  return serviceAccountValidator.parse(parsed, where);
}

export interface FcmAccessTokenOptions {
  account: ServiceAccount;
  /** Overrides the account's token_uri (tests). */
  tokenUri?: string;
  clock?: Clock;
  dispatcher?: Dispatcher;
  timeoutMs?: number;
}

/** The token endpoint answered; `retry` tells a transient failure from a refused grant. */
export class TokenFetchError extends VigilError {
  constructor(
    message: string,
    readonly httpStatus: number | null,
    readonly retry: boolean,
    readonly retryAfterMs?: number,
  ) {
    super('push_fcm_token_failed', message);
  }
}

/** The OAuth2 access token, fetched on demand, shared by concurrent sends, renewed shortly before expiry. */
export class FcmAccessToken {
  private key: Promise<CryptoKey> | undefined;
  private current: { token: string; refreshAt: number } | undefined;
  private fetching: Promise<string> | undefined;
  private readonly clock: Clock;
  readonly tokenUri: string;
  /** Tokens fetched so far (for tests and metrics). */
  fetches = 0;

  constructor(private readonly options: FcmAccessTokenOptions) {
    this.clock = options.clock ?? systemClock;
    this.tokenUri = options.tokenUri ?? options.account.token_uri;
  }

  async get(): Promise<string> {
    const c = this.current;
    if (c && this.clock.now() < c.refreshAt) return c.token;
    return this.fetch();
  }

  /** FCM refused `token` (401): fetch a new one unless another request already did. */
  async rejected(token: string): Promise<string> {
    if (this.current && this.current.token !== token) return this.current.token;
    this.current = undefined;
    return this.fetch();
  }

  /** The signed JWT-bearer assertion (RFC 7523 §2.1). */
  async assertion(): Promise<string> {
    const a = this.options.account;
    this.key ??= importPKCS8(a.private_key, 'RS256').catch((err: unknown) => {
      this.key = undefined;
      throw new VigilError(
        'push_fcm_key_invalid',
        `FCM service account ${a.client_email}: private_key is not a PKCS#8 RSA key: ${describeError(err)}`,
        { cause: err },
      );
    });
    const key = await this.key;
    const iat = Math.floor(this.clock.now() / 1000);
    return new SignJWT({ scope: FCM_SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(a.private_key_id ? { kid: a.private_key_id } : {}) })
      .setIssuer(a.client_email)
      .setAudience(this.tokenUri)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 3600)
      .sign(key);
  }

  private fetch(): Promise<string> {
    this.fetching ??= (async () => {
      try {
        const assertion = await this.assertion();
        const form = new URLSearchParams({ grant_type: JWT_BEARER_GRANT, assertion }).toString();
        let res: Dispatcher.ResponseData;
        try {
          res = await request(this.tokenUri, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
            body: form,
            headersTimeout: this.options.timeoutMs ?? 10_000,
            bodyTimeout: this.options.timeoutMs ?? 10_000,
            ...(this.options.dispatcher ? { dispatcher: this.options.dispatcher } : {}),
          });
        } catch (err) {
          throw new TokenFetchError(`token endpoint unreachable: ${describeError(err)}`, null, true);
        }
        const text = await res.body.text();
        if (res.statusCode !== 200) {
          let error = `http_${res.statusCode}`;
          try {
            const e = JSON.parse(text) as { error?: unknown; error_description?: unknown };
            if (typeof e.error === 'string')
              error = e.error + (typeof e.error_description === 'string' ? `: ${e.error_description}` : '');
          } catch {
            /* not JSON */
          }
          const transient = res.statusCode === 429 || res.statusCode >= 500;
          throw new TokenFetchError(
            `token endpoint answered ${res.statusCode} (${error})`,
            res.statusCode,
            transient,
            parseRetryAfter(res.headers['retry-after'], this.clock.now()),
          );
        }
        const body = JSON.parse(text) as { access_token?: unknown; expires_in?: unknown };
        if (typeof body.access_token !== 'string' || typeof body.expires_in !== 'number' || body.expires_in <= 0) {
          throw new TokenFetchError('token endpoint answered without access_token/expires_in', 200, false);
        }
        const lifeMs = body.expires_in * 1000;
        // Renew 5 minutes early, or after 90 % of a short lifetime, so a send never carries a token about to lapse.
        const refreshAt = this.clock.now() + Math.max(lifeMs - 300_000, lifeMs * 0.9);
        this.current = { token: body.access_token, refreshAt };
        this.fetches++;
        return body.access_token;
      } finally {
        this.fetching = undefined;
      }
    })();
    return this.fetching;
  }
}

export interface FcmSenderOptions {
  account: ServiceAccount;
  projectId?: string;
  /** API base, default https://fcm.googleapis.com. */
  endpoint?: string;
  tokenUri?: string;
  ttlMs?: number;
  timeoutMs?: number;
  clock?: Clock;
  logger?: Logger;
}

interface GoogleError {
  error?: {
    code?: number;
    message?: string;
    status?: string;
    details?: Array<{
      '@type'?: string;
      errorCode?: string;
      fieldViolations?: Array<{ field?: string; description?: string }>;
    }>;
  };
}

export class FcmSender implements PushSender {
  readonly platform = 'fcm' as const;
  readonly accessToken: FcmAccessToken;
  readonly sendUrl: string;
  private readonly dispatcher: Agent;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(private readonly options: FcmSenderOptions) {
    const projectId = options.projectId ?? options.account.project_id;
    if (!projectId)
      throw new VigilError('push_config_invalid', 'push.fcm: no project_id in the config or the service account');
    const base = (options.endpoint ?? 'https://fcm.googleapis.com').replace(/\/+$/, '');
    this.sendUrl = `${base}/v1/projects/${encodeURIComponent(projectId)}/messages:send`;
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? silentLogger();
    this.dispatcher = new Agent({ keepAliveTimeout: 60_000, connections: 16 });
    this.accessToken = new FcmAccessToken({
      account: options.account,
      clock: this.clock,
      dispatcher: this.dispatcher,
      ...(options.tokenUri ? { tokenUri: options.tokenUri } : {}),
      ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    });
  }

  /** The v1 `message` for a notification (data values must be strings). */
  message(token: string, n: Notification): Record<string, unknown> {
    const ttlS = Math.floor((this.options.ttlMs ?? 3_600_000) / 1000);
    return {
      token,
      notification: { title: n.title, body: n.body },
      data: {
        event_id: n.event_id,
        ...(n.review_id !== undefined ? { review_id: n.review_id } : {}),
        thumbnail_url: n.thumbnail_url,
        ...(n.unverified !== undefined ? { unverified: String(n.unverified) } : {}),
        ...(n.update ? { update: 'true' } : {}),
      },
      android: {
        collapse_key: n.collapse_id,
        priority: n.priority === 'high' ? 'HIGH' : 'NORMAL',
        ttl: `${ttlS}s`,
        // The tag makes a later push with the same collapse id replace the shown notification.
        notification: { tag: n.collapse_id },
      },
      apns: {
        headers: {
          'apns-collapse-id': apnsCollapseId(n.collapse_id),
          'apns-priority': n.priority === 'high' ? '10' : '5',
        },
      },
    };
  }

  async send(target: PushTarget, n: Notification): Promise<PushOutcome> {
    if (target.platform !== 'fcm') return { status: 'failed', httpStatus: null, reason: 'wrong_platform' };
    const body = JSON.stringify({ message: this.message(target.token, n) });
    let token: string;
    try {
      token = await this.accessToken.get();
    } catch (err) {
      return this.tokenFailure(err);
    }
    let res = await this.post(body, token);
    if (!('statusCode' in res)) return res;
    if (res.statusCode === 401) {
      // Revoked or expired early: one fresh token, one more try.
      try {
        token = await this.accessToken.rejected(token);
      } catch (err) {
        return this.tokenFailure(err);
      }
      res = await this.post(body, token);
      if (!('statusCode' in res)) return res;
    }
    return this.outcome(res, target);
  }

  private tokenFailure(err: unknown): PushOutcome {
    this.log.error({ err: describeError(err) }, 'fcm access token unavailable');
    if (err instanceof TokenFetchError) {
      return {
        status: err.retry ? 'retry' : 'failed',
        httpStatus: err.httpStatus,
        reason: 'oauth_token_failed',
        ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
      };
    }
    return { status: 'failed', httpStatus: null, reason: 'oauth_token_failed' };
  }

  private async post(
    body: string,
    token: string,
  ): Promise<{ statusCode: number; headers: Dispatcher.ResponseData['headers']; text: string } | PushOutcome> {
    try {
      const timeout = this.options.timeoutMs ?? 10_000;
      const res = await request(this.sendUrl, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' },
        body,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        dispatcher: this.dispatcher,
      });
      return { statusCode: res.statusCode, headers: res.headers, text: await res.body.text() };
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'fcm request failed');
      return { status: 'retry', httpStatus: null, reason: 'connection_error' };
    }
  }

  private outcome(
    res: { statusCode: number; headers: Dispatcher.ResponseData['headers']; text: string },
    target: PushTarget,
  ): PushOutcome {
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.text);
    } catch {
      parsed = undefined;
    }
    if (res.statusCode === 200) {
      const name = (parsed as { name?: unknown } | undefined)?.name;
      return { status: 'sent', httpStatus: 200, ...(typeof name === 'string' ? { providerId: name } : {}) };
    }
    const e = (parsed as GoogleError | undefined)?.error;
    const fcmCode = e?.details?.find((d) => typeof d.errorCode === 'string')?.errorCode;
    const status = e?.status;
    const reason = fcmCode ?? status ?? `http_${res.statusCode}`;
    const retryAfterMs = parseRetryAfter(res.headers['retry-after'], this.clock.now());
    if (
      fcmCode === 'UNREGISTERED' ||
      (res.statusCode === 404 && status === 'NOT_FOUND') ||
      fcmCode === 'SENDER_ID_MISMATCH'
    ) {
      this.log.info({ token: tokenHint(target), reason }, 'fcm token invalid');
      return { status: 'invalid_token', httpStatus: res.statusCode, reason };
    }
    if (
      res.statusCode === 400 &&
      (fcmCode === 'INVALID_ARGUMENT' || status === 'INVALID_ARGUMENT') &&
      this.aboutToken(e)
    ) {
      this.log.info({ token: tokenHint(target), reason }, 'fcm token malformed');
      return { status: 'invalid_token', httpStatus: 400, reason };
    }
    if (res.statusCode === 429 || res.statusCode >= 500) {
      return {
        status: 'retry',
        httpStatus: res.statusCode,
        reason,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    }
    this.log.warn(
      { token: tokenHint(target), status: res.statusCode, reason, message: e?.message },
      'fcm refused the message',
    );
    return { status: 'failed', httpStatus: res.statusCode, reason };
  }

  /** INVALID_ARGUMENT prunes a token only when it is the token that is wrong, not the payload. */
  private aboutToken(e: GoogleError['error']): boolean {
    const violations = e?.details?.flatMap((d) => d.fieldViolations ?? []) ?? [];
    if (violations.length > 0) return violations.some((v) => v.field === 'message.token');
    return /registration token/i.test(e?.message ?? '');
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
