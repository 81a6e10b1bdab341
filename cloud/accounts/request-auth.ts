import type { FastifyRequest } from 'fastify';
import type { CookieAuthenticator } from '../auth/request.js';
import type { AuthContext } from '../auth/tokens.js';
import { VigilError } from '../errors.js';
import { readCookie, SESSION_COOKIE } from './cookies.js';
import { checkCsrfToken, checkSameOrigin, isStateChanging } from './csrf.js';
import { sessionEndMessage, type SessionService } from './session-service.js';

/**
 * The session cookie as a credential of the app API (plugged into cloud/auth/request.ts's one check): the cookie's
 * session must be live (else 401 `session_expired`), and a request that changes something must pass the CSRF
 * defence (./csrf.ts; else 403 `csrf_failed`). The caller gets the tenant and role of the session's user.
 */
export function sessionAuthenticator(
  sessions: SessionService,
  publicUrl: () => string | undefined,
): CookieAuthenticator {
  return {
    async authenticate(req: FastifyRequest): Promise<AuthContext | undefined> {
      const secret = readCookie(req.headers.cookie, SESSION_COOKIE);
      if (secret === undefined) return undefined;
      const resolved = await sessions.resolve(secret);
      if (resolved.status === 'ended') throw new VigilError('session_expired', sessionEndMessage(resolved.why));
      const s = resolved.session;
      if (isStateChanging(req.method)) {
        checkSameOrigin(req, publicUrl());
        checkCsrfToken(req, s.csrfToken);
      }
      return { tenantId: s.tenantId, role: s.role, tokenId: s.id, via: 'session', userId: s.userId };
    },
  };
}
