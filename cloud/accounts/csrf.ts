import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { VigilError } from '../errors.js';

/**
 * CSRF defence for cookie-authenticated requests that change something (POST, PUT, PATCH, DELETE), in two layers:
 *
 * 1. The request must come from this origin: an `Origin` header, when present, equals the collector's own origin
 *    (as the request reached it, or `server.public_url`); without one, `Sec-Fetch-Site`, when present, is
 *    `same-origin` (or `none`, a user's own navigation).
 * 2. Header `X-CSRF-Token` equals the session's synchronizer token (given by POST/GET /v1/session; a page on another
 *    origin cannot read it), compared in constant time.
 *
 * Either failing is 403 `csrf_failed`. Bearer-token requests skip this (a browser never adds that header by itself);
 * the login itself gets layer 1 (no session, no token yet).
 */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export const CSRF_HEADER = 'x-csrf-token';

export function isStateChanging(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase());
}

function originOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.origin === 'null' ? undefined : u.origin.toLowerCase();
  } catch {
    return undefined;
  }
}

/** This collector's origins for `req`: the one the request was sent to, and the configured public URL's. */
export function ownOrigins(req: FastifyRequest, publicUrl: string | undefined): string[] {
  const out: string[] = [];
  const own = originOf(`${req.protocol}://${req.host}`);
  if (own) out.push(own);
  const configured = publicUrl === undefined ? undefined : originOf(publicUrl);
  if (configured && configured !== own) out.push(configured);
  return out;
}

function refused(message: string, reason: string): VigilError {
  return new VigilError('csrf_failed', message, { details: { reason } });
}

/** Layer 1: throws 403 `csrf_failed` when Origin or Sec-Fetch-Site says the request comes from another site. */
export function checkSameOrigin(req: FastifyRequest, publicUrl: string | undefined): void {
  const origin = req.headers.origin;
  if (origin !== undefined) {
    const normalised = originOf(origin);
    if (normalised === undefined || !ownOrigins(req, publicUrl).includes(normalised))
      throw refused(
        `request from another origin (${origin.slice(0, 100)}) refused: the web app only works from its own origin`,
        'origin',
      );
    return;
  }
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none')
    throw refused(`request from another site (Sec-Fetch-Site: ${site.slice(0, 20)}) refused`, 'sec_fetch_site');
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Layer 2: throws 403 `csrf_failed` unless header X-CSRF-Token equals `expected`. */
export function checkCsrfToken(req: FastifyRequest, expected: string): void {
  const given = req.headers[CSRF_HEADER];
  if (typeof given !== 'string' || given === '')
    throw refused(
      'missing X-CSRF-Token header: a logged-in request that changes something must send the csrf_token ' +
        'from POST or GET /v1/session',
      'token_missing',
    );
  // Hashes first: equal lengths for timingSafeEqual, whatever was sent.
  if (!timingSafeEqual(digest(given), digest(expected)))
    throw refused('X-CSRF-Token does not match this session (reload the app to get the current one)', 'token_mismatch');
}
