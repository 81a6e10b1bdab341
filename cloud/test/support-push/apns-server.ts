import { randomUUID } from 'node:crypto';
import {
  createSecureServer,
  createServer,
  type Http2SecureServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { decodeProtectedHeader, jwtVerify, type CryptoKey, type JWTPayload } from 'jose';
import { systemClock, type Clock } from '../../../shared/clock/index.js';

/**
 * A local APNs provider API for tests, strict where APNs is: HTTP/2 only, `POST /3/device/<64 hex>`, an ES256
 * provider token verified against the team's PUBLIC key (kid, iss, iat at most an hour old, no new token within
 * 20 minutes of the previous one), required apns-topic / apns-push-type, valid apns-priority / apns-expiration /
 * apns-collapse-id (≤ 64 bytes) / apns-id, payload ≤ 4096 bytes with an `aps` dictionary. Errors carry APNs'
 * reasons (`{"reason":"BadDeviceToken"}`, 410 `Unregistered` with `timestamp`, …). Accepted notifications are
 * recorded; failures can be scripted per token.
 */
export interface ApnsServerOptions {
  teamId: string;
  keyId: string;
  /** The public half of the .p8 key. */
  publicKey: CryptoKey;
  bundleId: string;
  /** The server's clock (iat checks, token update rate). */
  clock?: Clock;
  /** TLS key/cert; cleartext HTTP/2 (h2c) without. */
  tls?: { key: Buffer; cert: Buffer };
}

export interface ApnsDelivery {
  token: string;
  headers: Record<string, string>;
  payload: Record<string, unknown>;
  jwt: string;
  apnsId: string;
  at: number;
}

export interface ApnsRequestLog {
  token: string;
  status: number;
  reason?: string;
  jwt?: string;
  at: number;
}

export interface ApnsScriptedFailure {
  status: number;
  reason: string;
  /** Retry-After, seconds. */
  retryAfterS?: number;
}

const PUSH_TYPES = new Set([
  'alert',
  'background',
  'location',
  'voip',
  'complication',
  'fileprovider',
  'mdm',
  'liveactivity',
  'pushtotalk',
]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HOUR_S = 3600;
const TOKEN_UPDATE_MIN_MS = 20 * 60_000;

export class ApnsTestServer {
  readonly deliveries: ApnsDelivery[] = [];
  readonly requests: ApnsRequestLog[] = [];
  /** Distinct provider tokens accepted, in order. */
  readonly providerTokens: string[] = [];
  private readonly scripts = new Map<string, ApnsScriptedFailure[]>();
  private readonly unregistered = new Map<string, number>();
  private readonly tokenTopics = new Map<string, string>();
  private readonly sessions = new Set<ServerHttp2Session>();
  private lastToken: { jwt: string; at: number } | undefined;
  private readonly clock: Clock;
  private server!: Http2Server | Http2SecureServer;
  url = '';
  sessionsOpened = 0;

  private constructor(private readonly options: ApnsServerOptions) {
    this.clock = options.clock ?? systemClock;
  }

  static async start(options: ApnsServerOptions): Promise<ApnsTestServer> {
    const s = new ApnsTestServer(options);
    const handler = (req: Http2ServerRequest, res: Http2ServerResponse): void => {
      void s.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) s.reply(res, '?', 500, 'InternalServerError');
        process.stderr.write(`apns test server: ${String(err)}\n`);
      });
    };
    s.server = options.tls
      ? createSecureServer({ key: options.tls.key, cert: options.tls.cert }, handler)
      : createServer(handler);
    s.server.on('session', (session: ServerHttp2Session) => {
      s.sessions.add(session);
      s.sessionsOpened++;
      session.on('close', () => s.sessions.delete(session));
    });
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    const port = (s.server.address() as AddressInfo).port;
    s.url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    return s;
  }

  /** The next requests for `token` fail like this, in order (then it works again). */
  script(token: string, ...failures: ApnsScriptedFailure[]): void {
    this.scripts.set(token, [...(this.scripts.get(token) ?? []), ...failures]);
  }

  /** The app was removed from the device: 410 Unregistered from now on. */
  unregister(token: string): void {
    this.unregistered.set(token, this.clock.now());
  }

  /** The token belongs to another app. */
  registerTokenForTopic(token: string, topic: string): void {
    this.tokenTopics.set(token, topic);
  }

  /** Sends GOAWAY on every open connection (APNs does this on maintenance and idle connections). */
  goaway(): void {
    for (const s of this.sessions) s.goaway();
  }

  reply(
    res: Http2ServerResponse,
    token: string,
    status: number,
    reason?: string,
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = {},
    jwt?: string,
  ): void {
    const apnsId = randomUUID();
    this.requests.push({ token, status, at: this.clock.now(), ...(reason ? { reason } : {}), ...(jwt ? { jwt } : {}) });
    res.writeHead(status, { 'apns-id': apnsId, ...headers, ...(reason ? { 'content-type': 'application/json' } : {}) });
    if (reason) res.end(JSON.stringify({ reason, ...extra }));
    else res.end();
  }

  private async handle(req: Http2ServerRequest, res: Http2ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const h = req.headers;
    const path = /^\/3\/device\/([^/?]*)$/.exec(req.url ?? '');
    const token = path?.[1] ?? '';
    if (req.method !== 'POST') return this.reply(res, token, 405, 'MethodNotAllowed');
    if (!path) return this.reply(res, token, 404, 'BadPath');

    // Provider token.
    const auth = typeof h.authorization === 'string' ? /^bearer (.+)$/i.exec(h.authorization) : null;
    if (!auth) return this.reply(res, token, 403, 'MissingProviderToken');
    const jwt = auth[1]!;
    let claims: JWTPayload;
    try {
      const header = decodeProtectedHeader(jwt);
      if (header.alg !== 'ES256' || header.kid !== this.options.keyId)
        return this.reply(res, token, 403, 'InvalidProviderToken');
      // iat is judged below, against APNs' own hour rule, so jose checks only the signature here.
      claims = (
        await jwtVerify(jwt, this.options.publicKey, { algorithms: ['ES256'], currentDate: new Date(this.clock.now()) })
      ).payload;
    } catch {
      return this.reply(res, token, 403, 'InvalidProviderToken');
    }
    if (claims.iss !== this.options.teamId || typeof claims.iat !== 'number')
      return this.reply(res, token, 403, 'InvalidProviderToken');
    const nowS = this.clock.now() / 1000;
    if (nowS - claims.iat > HOUR_S) return this.reply(res, token, 403, 'ExpiredProviderToken', {}, {}, jwt);
    if (!this.providerTokens.includes(jwt)) {
      if (this.lastToken && this.clock.now() - this.lastToken.at < TOKEN_UPDATE_MIN_MS) {
        return this.reply(res, token, 429, 'TooManyProviderTokenUpdates', {}, {}, jwt);
      }
      this.providerTokens.push(jwt);
      this.lastToken = { jwt, at: this.clock.now() };
    }

    // Headers.
    const topic = h['apns-topic'];
    if (typeof topic !== 'string' || !topic) return this.reply(res, token, 400, 'MissingTopic', {}, {}, jwt);
    if (topic !== this.options.bundleId) return this.reply(res, token, 400, 'TopicDisallowed', {}, {}, jwt);
    const pushType = h['apns-push-type'];
    if (typeof pushType !== 'string' || !PUSH_TYPES.has(pushType))
      return this.reply(res, token, 400, 'InvalidPushType', {}, {}, jwt);
    const priority = h['apns-priority'];
    if (priority !== undefined && !['10', '5', '1'].includes(String(priority)))
      return this.reply(res, token, 400, 'BadPriority', {}, {}, jwt);
    const expiration = h['apns-expiration'];
    if (expiration !== undefined && !/^\d+$/.test(String(expiration)))
      return this.reply(res, token, 400, 'BadExpirationDate', {}, {}, jwt);
    const collapse = h['apns-collapse-id'];
    if (collapse !== undefined && Buffer.byteLength(String(collapse)) > 64)
      return this.reply(res, token, 400, 'BadCollapseId', {}, {}, jwt);
    const apnsIdIn = h['apns-id'];
    if (apnsIdIn !== undefined && !UUID.test(String(apnsIdIn)))
      return this.reply(res, token, 400, 'BadMessageId', {}, {}, jwt);

    // Device token.
    if (!token) return this.reply(res, token, 400, 'MissingDeviceToken', {}, {}, jwt);
    if (!/^[0-9a-fA-F]{64}$/.test(token)) return this.reply(res, token, 400, 'BadDeviceToken', {}, {}, jwt);
    const tokenTopic = this.tokenTopics.get(token);
    if (tokenTopic !== undefined && tokenTopic !== topic)
      return this.reply(res, token, 400, 'DeviceTokenNotForTopic', {}, {}, jwt);

    // Payload.
    if (body.length > 4096) return this.reply(res, token, 413, 'PayloadTooLarge', {}, {}, jwt);
    let payload: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(body.toString('utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      payload = parsed as Record<string, unknown>;
    } catch {
      return this.reply(res, token, 400, 'PayloadEmpty', {}, {}, jwt);
    }
    const aps = payload.aps as Record<string, unknown> | undefined;
    if (typeof aps !== 'object' || aps === null || (pushType === 'alert' && aps.alert === undefined))
      return this.reply(res, token, 400, 'PayloadEmpty', {}, {}, jwt);

    // Scripted state.
    const goneAt = this.unregistered.get(token);
    if (goneAt !== undefined) return this.reply(res, token, 410, 'Unregistered', { timestamp: goneAt }, {}, jwt);
    const scripted = this.scripts.get(token)?.shift();
    if (scripted) {
      const headers: Record<string, string> =
        scripted.retryAfterS !== undefined ? { 'retry-after': String(scripted.retryAfterS) } : {};
      return this.reply(res, token, scripted.status, scripted.reason, {}, headers, jwt);
    }

    const apnsId = typeof apnsIdIn === 'string' ? apnsIdIn : randomUUID();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(h)) if (typeof v === 'string' && !k.startsWith(':')) headers[k] = v;
    this.deliveries.push({ token, headers, payload, jwt, apnsId, at: this.clock.now() });
    this.requests.push({ token, status: 200, jwt, at: this.clock.now() });
    res.writeHead(200, { 'apns-id': apnsId });
    res.end();
  }

  async close(): Promise<void> {
    for (const s of this.sessions) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
