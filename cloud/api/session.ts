import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { clearedSessionCookie, cookieSecure, readCookie, SESSION_COOKIE, sessionCookie } from '../accounts/cookies.js';
import { checkCsrfToken, checkSameOrigin } from '../accounts/csrf.js';
import { sessionEndMessage, type SessionService } from '../accounts/session-service.js';
import type { SessionRecord } from '../accounts/sessions.js';
import { isVigilError, VigilError } from '../errors.js';

/**
 * The web app's login session (cookie `vigil_session`, cloud/accounts):
 *
 *   POST   /v1/session  {email, password} → 200 {user, csrf_token, expires_at, idle_expires_at} + Set-Cookie;
 *                       401 invalid_credentials (unknown email and wrong password alike), 429 rate_limited with
 *                       Retry-After, 403 csrf_failed from a page on another origin
 *   GET    /v1/session  → 200 the same body while the cookie's session is live; 401 session_expired (the session
 *                       ended: expired, idle, logged out, password changed) or unauthorized (no cookie)
 *   DELETE /v1/session  → 204, the session revoked and the cookie cleared (needs X-CSRF-Token while it is live)
 *
 * Answers are `Cache-Control: no-store`. Cookie attributes: HttpOnly, SameSite=Strict, Path=/, Secure unless the
 * request came over plain http to a loopback name (./accounts/cookies.ts).
 */
export const LoginBody = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 254, description: 'The login email (any case).' }),
    password: Type.String({ minLength: 1, maxLength: 4096, description: 'The password.' }),
  },
  { additionalProperties: false },
);
export type LoginBody = Static<typeof LoginBody>;

export interface SessionRouteOptions {
  sessions: SessionService;
  /** server.public_url, when set: an Origin equal to it is this collector's too. */
  publicUrl: () => string | undefined;
}

function sessionJson(sessions: SessionService, s: SessionRecord): Record<string, unknown> {
  return {
    user: { id: s.userId, email: s.email, tenant: s.tenantId, role: s.role },
    csrf_token: s.csrfToken,
    expires_at: new Date(s.expiresAt).toISOString(),
    idle_expires_at: new Date(sessions.idleExpiry(s)).toISOString(),
  };
}

export function registerSessionRoutes(app: FastifyInstance, o: SessionRouteOptions): void {
  const { sessions } = o;
  const noStore = (reply: FastifyReply): FastifyReply => reply.header('cache-control', 'no-store');
  const current = async (req: FastifyRequest) => {
    const secret = readCookie(req.headers.cookie, SESSION_COOKIE);
    return secret === undefined ? undefined : sessions.resolve(secret);
  };

  app.post<{ Body: LoginBody }>(
    '/v1/session',
    { schema: { body: LoginBody }, bodyLimit: 16 * 1024 },
    async (req, reply) => {
      noStore(reply);
      // No session yet, so no token: the origin check alone stops a page elsewhere from logging this browser in.
      checkSameOrigin(req, o.publicUrl());
      let result: Awaited<ReturnType<SessionService['login']>>;
      try {
        result = await sessions.login(req.body.email, req.body.password, req.ip);
      } catch (err) {
        if (isVigilError(err, 'rate_limited')) {
          const wait = (err as VigilError).details?.retry_after_s;
          if (typeof wait === 'number') reply.header('retry-after', String(wait));
        }
        throw err;
      }
      const secure = cookieSecure(req);
      if (!secure) req.log.info('session cookie without Secure: plain http on a loopback address');
      const maxAgeS = (result.session.expiresAt - result.session.createdAt) / 1000;
      reply.header('set-cookie', sessionCookie(result.secret, maxAgeS, secure));
      return sessionJson(sessions, result.session);
    },
  );

  app.get('/v1/session', async (req, reply) => {
    noStore(reply);
    const resolved = await current(req);
    if (resolved === undefined)
      throw new VigilError('unauthorized', 'not logged in: POST /v1/session with your email and password');
    if (resolved.status === 'ended') {
      reply.header('set-cookie', clearedSessionCookie(cookieSecure(req)));
      throw new VigilError('session_expired', sessionEndMessage(resolved.why));
    }
    return sessionJson(sessions, resolved.session);
  });

  app.delete('/v1/session', async (req, reply) => {
    noStore(reply);
    const resolved = await current(req);
    if (resolved?.status === 'live') {
      checkSameOrigin(req, o.publicUrl());
      checkCsrfToken(req, resolved.session.csrfToken);
      await sessions.logout(resolved.session);
    }
    // Logged out either way: a cookie of an ended session is cleared too.
    return reply
      .header('set-cookie', clearedSessionCookie(cookieSecure(req)))
      .status(204)
      .send();
  });
}
