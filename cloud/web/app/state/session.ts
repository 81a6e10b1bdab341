import { ApiError, api, setCsrfToken, UnreachableError } from '../api/http.js';
import type { SessionJson, SessionUser } from '../api/types.js';
import { navigate } from '../router.js';
import { createStore } from './store.js';

/**
 * Who is signed in. The session itself is an HttpOnly cookie the scripts never see; what the app keeps is the
 * user (for the role and the header) and the CSRF token, in memory only.
 */
export type SessionState =
  | { status: 'loading' }
  | { status: 'signed-out'; message: string | null }
  | { status: 'signed-in'; user: SessionUser; expiresAt: string }
  /** No answer from the collector and no session known yet: the shell shows the offline banner. */
  | { status: 'unknown' };

export const session = createStore<SessionState>({ status: 'loading' });

export const EXPIRED_MESSAGE = 'Your session has ended. Please sign in again.';

function signedIn(s: SessionJson): void {
  setCsrfToken(s.csrf_token);
  session.set({ status: 'signed-in', user: s.user, expiresAt: s.expires_at });
}

export async function loadSession(): Promise<void> {
  try {
    signedIn(await api.get<SessionJson>('/v1/session', { expect401: true }));
  } catch (err) {
    if (err instanceof UnreachableError) {
      if (session.get().status !== 'signed-in') session.set({ status: 'unknown' });
      return;
    }
    setCsrfToken(null);
    const expired = err instanceof ApiError && err.code === 'session_expired';
    session.set({ status: 'signed-out', message: expired ? err.message || EXPIRED_MESSAGE : null });
  }
}

export async function login(email: string, password: string): Promise<void> {
  signedIn(await api.post<SessionJson>('/v1/session', { email, password }, { expect401: true }));
}

export async function logout(): Promise<void> {
  try {
    await api.del<void>('/v1/session', { expect401: true });
  } finally {
    setCsrfToken(null);
    // To the plain login page first (no ?next=: signing out is not an interruption to come back from).
    navigate('/login', { replace: true });
    session.set({ status: 'signed-out', message: 'You are signed out.' });
  }
}

/** A call was refused with 401 while we thought we were signed in. */
export function sessionEnded(err: ApiError): void {
  if (session.get().status !== 'signed-in') return;
  setCsrfToken(null);
  session.set({
    status: 'signed-out',
    message: err.code === 'session_expired' && err.message ? err.message : EXPIRED_MESSAGE,
  });
}

export function isAdmin(s: SessionState): boolean {
  return s.status === 'signed-in' && s.user.role === 'admin';
}
