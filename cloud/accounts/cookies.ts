import type { FastifyRequest } from 'fastify';

/**
 * The session cookie: `vigil_session=<secret>; Path=/; HttpOnly; SameSite=Strict; Max-Age=…`, plus `Secure` unless
 * the request came over plain http to a loopback name (127.0.0.0/8, ::1, localhost): browsers keep Secure cookies
 * only from secure contexts, and loopback http is the one insecure origin they treat as secure enough to log in on
 * (the demo, a first try). Behind a TLS proxy `req.protocol` is https with `server.trust_proxy`; without it the
 * proxy's public host name is not loopback, so the cookie is Secure either way.
 */
export const SESSION_COOKIE = 'vigil_session';

/** The value of cookie `name` in a Cookie header (first one wins), undefined when absent or empty. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    return value === '' ? undefined : value;
  }
  return undefined;
}

/** True for a loopback host name, with or without port: localhost, *.localhost, 127.0.0.0/8, ::1 (bracketed or not). */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(h);
  if (bracketed) h = bracketed[1]!;
  else if (h.split(':').length === 2) h = h.replace(/:\d+$/, '');
  return h === 'localhost' || h.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(h) || h === '::1';
}

/** Whether the cookie set in answer to `req` carries `Secure`. */
export function cookieSecure(req: FastifyRequest): boolean {
  return !(req.protocol === 'http' && isLoopbackHost(req.hostname));
}

function attributes(secure: boolean): string {
  return `Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

export function sessionCookie(secret: string, maxAgeS: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${secret}; Max-Age=${Math.max(0, Math.floor(maxAgeS))}; ${attributes(secure)}`;
}

/** Tells the browser to drop the cookie. */
export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; ${attributes(secure)}`;
}
