import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { VigilError } from '../errors.js';
import { authenticate, type AuthContext } from './tokens.js';
import type { Role, Store } from '../store/store.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by requireToken(): who is calling, for which tenant. */
    auth?: AuthContext;
  }
}

/**
 * onRequest hook for app-facing routes (runs before body parsing and validation, so an anonymous caller learns
 * nothing about the body rules): a valid `Authorization: Bearer <api token>` (401 `unauthorized` otherwise), and
 * for admin routes the admin role (403 `forbidden`).
 */
export function requireToken(store: Store, role: Role = 'reader'): onRequestAsyncHookHandler {
  return async (req: FastifyRequest, _reply: FastifyReply) => {
    const auth = await authenticate(store, req.headers.authorization);
    if (role === 'admin' && auth.role !== 'admin') throw new VigilError('forbidden', 'this needs an admin token');
    req.auth = auth;
  };
}

/** The caller's auth context; only valid in routes behind requireToken(). */
export function authOf(req: FastifyRequest): AuthContext {
  if (!req.auth) throw new VigilError('unauthorized', 'missing credentials');
  return req.auth;
}
