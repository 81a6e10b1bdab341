import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { VigilError } from '../errors.js';
import { authenticate, type AuthContext } from './tokens.js';
import type { Role, Store } from '../store/store.js';

/**
 * Who may call an app-facing route. One check for every route, two kinds of credentials:
 *
 * - `Authorization: Bearer <api token>` (apps, scripts): when the header is there, it alone decides.
 * - the web app's session cookie, when there is no Authorization header and the server has a cookie authenticator
 *   (`app.vigilCookieAuth`, set by cloud/accounts): it checks the session and, for requests that change something,
 *   the CSRF defence; it answers 401 `session_expired` for a session that ended.
 *
 * The tenant and role come from the token or the session's user alike; admin routes need the admin role.
 */
export interface CookieAuthenticator {
  /** The caller of a request without an Authorization header; undefined when it carries no session cookie. */
  authenticate(req: FastifyRequest): Promise<AuthContext | undefined>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by requireToken(): who is calling, for which tenant. */
    auth?: AuthContext;
  }
  interface FastifyInstance {
    /** Login sessions (cloud/accounts), when the server offers them. */
    vigilCookieAuth?: CookieAuthenticator;
  }
}

/**
 * onRequest hook for app-facing routes (runs before body parsing and validation, so an anonymous caller learns
 * nothing about the body rules): a valid API token or session (401 otherwise), and for admin routes the admin role
 * (403 `forbidden`).
 */
export function requireToken(store: Store, role: Role = 'reader'): onRequestAsyncHookHandler {
  return async (req: FastifyRequest, _reply: FastifyReply) => {
    const header = req.headers.authorization;
    const bySession = header === undefined ? await req.server.vigilCookieAuth?.authenticate(req) : undefined;
    const auth = bySession ?? (await authenticate(store, header));
    if (role === 'admin' && auth.role !== 'admin')
      throw new VigilError(
        'forbidden',
        auth.via === 'session' ? 'this needs an admin account' : 'this needs an admin token',
      );
    req.auth = auth;
  };
}

/** The caller's auth context; only valid in routes behind requireToken(). */
export function authOf(req: FastifyRequest): AuthContext {
  if (!req.auth) throw new VigilError('unauthorized', 'missing credentials');
  return req.auth;
}
