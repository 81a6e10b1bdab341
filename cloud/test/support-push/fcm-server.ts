import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify, type CryptoKey, type JWTPayload } from 'jose';
import { systemClock, type Clock } from '../../../shared/clock/index.js';

/**
 * A local FCM for tests: the OAuth2 token endpoint (JWT-bearer grant, RFC 7523) that verifies the RS256 assertion
 * against the service account's PUBLIC key (iss, aud = token URL, scope, lifetime ≤ 1 h, not expired) and issues
 * opaque access tokens with `expires_in`; and `POST /v1/projects/{id}/messages:send` that checks the bearer token
 * and the v1 message shape (one of token/topic/condition, string data values, known fields, enum priority, …),
 * answering in Google's error format (`error.status`, FcmError `errorCode`, BadRequest `fieldViolations`).
 */
export interface FcmServerOptions {
  clientEmail: string;
  /** Public half of the service account's key. */
  publicKey: CryptoKey;
  projectId: string;
  clock?: Clock;
  /** expires_in of issued access tokens, seconds (default 3600). */
  tokenLifetimeS?: number;
}

export interface FcmScriptedFailure {
  status: number;
  /** FcmError errorCode (UNREGISTERED, INVALID_ARGUMENT, QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL, …). */
  errorCode: string;
  retryAfterS?: number;
}

export interface FcmDelivery {
  message: Record<string, unknown>;
  accessToken: string;
  at: number;
}

export interface FcmTokenGrant {
  ok: boolean;
  error?: string;
  claims?: JWTPayload;
  at: number;
}

const GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const MESSAGE_FIELDS = new Set([
  'name',
  'data',
  'notification',
  'android',
  'webpush',
  'apns',
  'fcm_options',
  'token',
  'topic',
  'condition',
]);
const NOTIFICATION_FIELDS = new Set(['title', 'body', 'image']);
const ANDROID_FIELDS = new Set([
  'collapse_key',
  'priority',
  'ttl',
  'restricted_package_name',
  'data',
  'notification',
  'fcm_options',
  'direct_boot_ok',
]);
/** AndroidNotification fields (a subset of the v1 API's; a test sender uses few of them). */
const ANDROID_NOTIFICATION_FIELDS = new Set([
  'title',
  'body',
  'icon',
  'color',
  'sound',
  'tag',
  'click_action',
  'channel_id',
  'notification_priority',
  'default_sound',
  'visibility',
]);
const APNS_FIELDS = new Set(['headers', 'payload', 'fcm_options', 'live_activity_token']);
const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

export class FcmTestServer {
  readonly deliveries: FcmDelivery[] = [];
  readonly grants: FcmTokenGrant[] = [];
  /** Every messages:send answer, in order. */
  readonly sends: Array<{ status: number; errorCode?: string; at: number }> = [];
  private readonly accessTokens = new Map<string, number>();
  private readonly scripts = new Map<string, FcmScriptedFailure[]>();
  private readonly unregistered = new Set<string>();
  private readonly clock: Clock;
  private server!: Server;
  url = '';

  private constructor(private readonly options: FcmServerOptions) {
    this.clock = options.clock ?? systemClock;
  }

  static async start(options: FcmServerOptions): Promise<FcmTestServer> {
    const s = new FcmTestServer(options);
    s.server = createServer((req, res) => {
      void s.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) s.googleError(res, 500, 'Internal error');
        process.stderr.write(`fcm test server: ${String(err)}\n`);
      });
    });
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
  }

  get tokenUri(): string {
    return `${this.url}/token`;
  }

  script(token: string, ...failures: FcmScriptedFailure[]): void {
    this.scripts.set(token, [...(this.scripts.get(token) ?? []), ...failures]);
  }

  /** The app instance is gone: 404 UNREGISTERED from now on. */
  unregister(token: string): void {
    this.unregistered.add(token);
  }

  /** Every issued access token stops working (401), as after a key rotation. */
  revokeAccessTokens(): void {
    this.accessTokens.clear();
  }

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
    res.end(JSON.stringify(body));
  }

  private googleError(
    res: ServerResponse,
    status: number,
    message: string,
    extra: { errorCode?: string; field?: string; retryAfterS?: number } = {},
  ): void {
    const details: unknown[] = [];
    if (extra.errorCode)
      details.push({ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: extra.errorCode });
    if (extra.field)
      details.push({
        '@type': 'type.googleapis.com/google.rpc.BadRequest',
        fieldViolations: [{ field: extra.field, description: message }],
      });
    this.sends.push({ status, at: this.clock.now(), ...(extra.errorCode ? { errorCode: extra.errorCode } : {}) });
    const headers: Record<string, string> =
      extra.retryAfterS !== undefined ? { 'retry-after': String(extra.retryAfterS) } : {};
    this.json(
      res,
      status,
      {
        error: {
          code: status,
          message,
          status: STATUS_NAMES[status] ?? 'UNKNOWN',
          ...(details.length ? { details } : {}),
        },
      },
      headers,
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const path = (req.url ?? '').split('?')[0] ?? '';
    if (req.method === 'POST' && path === '/token') return this.token(req, body, res);
    const send = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(path);
    if (req.method === 'POST' && send) return this.send(req, decodeURIComponent(send[1]!), body, res);
    this.googleError(res, 404, 'Not found');
  }

  private async token(req: IncomingMessage, body: string, res: ServerResponse): Promise<void> {
    const at = this.clock.now();
    const refuse = (error: string, description: string): void => {
      this.grants.push({ ok: false, error, at });
      this.json(res, 400, { error, error_description: description });
    };
    if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded'))
      return refuse('invalid_request', 'form body expected');
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== GRANT)
      return refuse('unsupported_grant_type', `Invalid grant_type: ${form.get('grant_type') ?? ''}`);
    const assertion = form.get('assertion');
    if (!assertion) return refuse('invalid_request', 'Missing required parameter: assertion');
    let claims: JWTPayload;
    try {
      claims = (
        await jwtVerify(assertion, this.options.publicKey, {
          algorithms: ['RS256'],
          issuer: this.options.clientEmail,
          audience: this.tokenUri,
          requiredClaims: ['iat', 'exp'],
          currentDate: new Date(at),
        })
      ).payload;
    } catch (err) {
      return refuse('invalid_grant', `Invalid JWT: ${(err as Error).message}`);
    }
    if ((claims.exp ?? 0) - (claims.iat ?? 0) > 3600)
      return refuse(
        'invalid_grant',
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.',
      );
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
    if (!scopes.includes(SCOPE)) return refuse('invalid_scope', 'Missing or invalid scope.');
    const token = `ya29.${randomBytes(24).toString('base64url')}`;
    const lifetime = this.options.tokenLifetimeS ?? 3600;
    this.accessTokens.set(token, at + lifetime * 1000);
    this.grants.push({ ok: true, claims, at });
    this.json(res, 200, { access_token: token, expires_in: lifetime, token_type: 'Bearer' });
  }

  private send(req: IncomingMessage, project: string, body: string, res: ServerResponse): void {
    const auth = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''));
    const expires = auth ? this.accessTokens.get(auth[1]!) : undefined;
    if (!auth || expires === undefined || expires <= this.clock.now()) {
      this.googleError(
        res,
        401,
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other ' +
          'valid authentication credential.',
      );
      return;
    }
    if (project !== this.options.projectId) {
      this.googleError(
        res,
        403,
        `Permission 'cloudmessaging.messages.create' denied on resource ` +
          `'//cloudresourcemanager.googleapis.com/projects/${project}'`,
        { errorCode: 'SENDER_ID_MISMATCH' },
      );
      return;
    }
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
      this.googleError(res, 400, 'Invalid JSON payload received: content-type must be application/json');
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      this.googleError(res, 400, 'Invalid JSON payload received.');
      return;
    }
    const problem = validateSendBody(parsed);
    if (problem) {
      this.googleError(res, 400, problem.message, { errorCode: 'INVALID_ARGUMENT', field: problem.field });
      return;
    }
    const message = (parsed as { message: Record<string, unknown> }).message;
    const token = typeof message.token === 'string' ? message.token : undefined;
    if (token !== undefined) {
      if (!/^[A-Za-z0-9_:-]{20,4096}$/.test(token)) {
        this.googleError(res, 400, 'The registration token is not a valid FCM registration token', {
          errorCode: 'INVALID_ARGUMENT',
          field: 'message.token',
        });
        return;
      }
      if (this.unregistered.has(token)) {
        this.googleError(res, 404, 'Requested entity was not found.', { errorCode: 'UNREGISTERED' });
        return;
      }
      const scripted = this.scripts.get(token)?.shift();
      if (scripted) {
        const field = scripted.errorCode === 'INVALID_ARGUMENT' ? 'message.token' : undefined;
        this.googleError(res, scripted.status, `scripted ${scripted.errorCode}`, {
          errorCode: scripted.errorCode,
          ...(field ? { field } : {}),
          ...(scripted.retryAfterS !== undefined ? { retryAfterS: scripted.retryAfterS } : {}),
        });
        return;
      }
    }
    const at = this.clock.now();
    this.deliveries.push({ message, accessToken: auth[1]!, at });
    this.sends.push({ status: 200, at });
    this.json(res, 200, { name: `projects/${project}/messages/${randomBytes(8).toString('hex')}` });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface Problem {
  field: string;
  message: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function unknownField(obj: Record<string, unknown>, allowed: Set<string>, at: string): Problem | undefined {
  for (const k of Object.keys(obj))
    if (!allowed.has(k))
      return {
        field: at,
        message: `Invalid JSON payload received. Unknown name "${k}" at '${at}': Cannot find field.`,
      };
  return undefined;
}

function stringMap(v: unknown, at: string): Problem | undefined {
  if (!isObject(v)) return { field: at, message: `Invalid value at '${at}': expected a map of strings` };
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string')
      return {
        field: `${at}[${k}]`,
        message: `Invalid value at '${at}[${k}].value' (TYPE_STRING), ${JSON.stringify(val)}`,
      };
  }
  return undefined;
}

/** The checks FCM makes on a v1 send body that a sender can get wrong. */
export function validateSendBody(body: unknown): Problem | undefined {
  if (!isObject(body)) return { field: '', message: 'Invalid JSON payload received. Expected an object.' };
  const top = unknownField(body, new Set(['message', 'validate_only']), '');
  if (top) return top;
  const m = body.message;
  if (!isObject(m)) return { field: 'message', message: 'Request contains an invalid argument: message is required.' };
  const u = unknownField(m, MESSAGE_FIELDS, 'message');
  if (u) return u;
  const targets = ['token', 'topic', 'condition'].filter((k) => m[k] !== undefined);
  if (targets.length !== 1)
    return { field: 'message', message: 'Exactly one of token, topic or condition must be set.' };
  if (m.data !== undefined) {
    const p = stringMap(m.data, 'message.data');
    if (p) return p;
  }
  if (m.notification !== undefined) {
    if (!isObject(m.notification))
      return { field: 'message.notification', message: 'Invalid value at message.notification' };
    const p = unknownField(m.notification, NOTIFICATION_FIELDS, 'message.notification');
    if (p) return p;
    for (const [k, v] of Object.entries(m.notification))
      if (typeof v !== 'string')
        return {
          field: `message.notification.${k}`,
          message: `Invalid value at 'message.notification.${k}' (TYPE_STRING)`,
        };
  }
  if (m.android !== undefined) {
    const a = m.android;
    if (!isObject(a)) return { field: 'message.android', message: 'Invalid value at message.android' };
    const p = unknownField(a, ANDROID_FIELDS, 'message.android');
    if (p) return p;
    if (a.priority !== undefined && a.priority !== 'NORMAL' && a.priority !== 'HIGH')
      return {
        field: 'message.android.priority',
        message:
          `Invalid value at 'message.android.priority' ` +
          `(type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), ${JSON.stringify(a.priority)}`,
      };
    if (a.collapse_key !== undefined && typeof a.collapse_key !== 'string')
      return {
        field: 'message.android.collapse_key',
        message: "Invalid value at 'message.android.collapse_key' (TYPE_STRING)",
      };
    if (a.ttl !== undefined && (typeof a.ttl !== 'string' || !/^\d+(\.\d{1,9})?s$/.test(a.ttl)))
      return {
        field: 'message.android.ttl',
        message: "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration)",
      };
    if (a.data !== undefined) {
      const d = stringMap(a.data, 'message.android.data');
      if (d) return d;
    }
    if (a.notification !== undefined) {
      const an = a.notification;
      if (!isObject(an))
        return { field: 'message.android.notification', message: 'Invalid value at message.android.notification' };
      const q = unknownField(an, ANDROID_NOTIFICATION_FIELDS, 'message.android.notification');
      if (q) return q;
      if (an.tag !== undefined && typeof an.tag !== 'string')
        return {
          field: 'message.android.notification.tag',
          message: "Invalid value at 'message.android.notification.tag' (TYPE_STRING)",
        };
    }
  }
  if (m.apns !== undefined) {
    const a = m.apns;
    if (!isObject(a)) return { field: 'message.apns', message: 'Invalid value at message.apns' };
    const p = unknownField(a, APNS_FIELDS, 'message.apns');
    if (p) return p;
    if (a.headers !== undefined) {
      const h = stringMap(a.headers, 'message.apns.headers');
      if (h) return h;
    }
  }
  return undefined;
}
