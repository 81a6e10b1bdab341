import { createHash } from 'node:crypto';
import { systemClock, type Clock } from '../../shared/clock/index.js';
import { randomToken } from '../../shared/ids/index.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import { VigilError } from '../errors.js';
import type { LoginAttemptLimiter } from './login-limit.js';
import type { PasswordHasher } from './passwords.js';
import type { SessionRecord, SqlSessions } from './sessions.js';
import type { SqlUsers } from './users.js';

/**
 * Logging in and out, and finding the session behind a cookie.
 *
 * `login`: the attempt limits first (./login-limit.ts; no hashing for a refused attempt), then the password check.
 * An unknown email costs the same scrypt work as a known one with a wrong password and gets the same 401
 * `invalid_credentials`, so neither the answer nor its time tells which emails have accounts. A hash made with
 * weaker parameters than the configured ones is replaced after a successful login.
 *
 * `resolve`: the session of a cookie's secret when it is live (not revoked, not past its absolute expiry, used within
 * the idle time); its idle clock moves on at most once a minute (one write per session per minute, not per request).
 */
export interface SessionServiceOptions {
  users: SqlUsers;
  sessions: SqlSessions;
  hasher: PasswordHasher;
  limiter: LoginAttemptLimiter;
  ttlMs: number;
  idleMs: number;
  clock?: Clock;
  log?: Logger;
}

export type SessionEnd = 'expired' | 'idle' | 'revoked' | 'unknown';

export type ResolvedSession = { status: 'live'; session: SessionRecord } | { status: 'ended'; why: SessionEnd };

export interface LoginResult {
  session: SessionRecord;
  /** The cookie value: shown to the browser once, never stored. */
  secret: string;
}

const TOUCH_EVERY_MS = 60_000;
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;

export function secretSha256(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export class SessionService {
  readonly ttlMs: number;
  readonly idleMs: number;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(private readonly o: SessionServiceOptions) {
    this.ttlMs = o.ttlMs;
    this.idleMs = o.idleMs;
    this.clock = o.clock ?? systemClock;
    this.log = o.log ?? silentLogger();
  }

  async login(email: string, password: string, ip: string): Promise<LoginResult> {
    const verdict = this.o.limiter.take(email, ip);
    if (!verdict.ok) {
      const wait = verdict.retryAfterS;
      const what =
        verdict.scope === 'account'
          ? 'for this account (email address)'
          : `from your address (${verdict.source}, all accounts together)`;
      this.log.warn({ scope: verdict.scope, source: verdict.source, retry_after_s: wait }, 'login attempt refused');
      throw new VigilError('rate_limited', `too many login attempts ${what}; try again in ${describeWait(wait)}`, {
        details: { scope: verdict.scope, retry_after_s: wait },
      });
    }
    const user = await this.o.users.findByEmail(email);
    const ok = user
      ? await this.o.hasher.verify(password, user.passwordHash)
      : await this.o.hasher.verifyNobody(password);
    if (!user || !ok) {
      this.log.info({ source: ip }, 'login failed');
      throw new VigilError('invalid_credentials', 'wrong email or password');
    }
    this.o.limiter.succeeded(email);
    const now = this.clock.now();
    if (this.o.hasher.needsRehash(user.passwordHash)) void this.rehash(user.id, password);
    const secret = randomToken(32);
    const csrfToken = randomToken(32);
    const expiresAt = now + this.ttlMs;
    const id = await this.o.sessions.create({
      userId: user.id,
      secretSha256: secretSha256(secret),
      csrfToken,
      now,
      expiresAt,
    });
    this.log.info({ user_id: user.id, session_id: id, tenant: user.tenantId }, 'logged in');
    const session: SessionRecord = {
      id,
      userId: user.id,
      tenantId: user.tenantId,
      email: user.email,
      role: user.role,
      csrfToken,
      createdAt: now,
      lastSeenAt: now,
      expiresAt,
      revokedAt: null,
    };
    return { session, secret };
  }

  async resolve(secret: string): Promise<ResolvedSession> {
    if (!SECRET_RE.test(secret)) return { status: 'ended', why: 'unknown' };
    const s = await this.o.sessions.findBySecret(secretSha256(secret));
    if (!s) return { status: 'ended', why: 'unknown' };
    const now = this.clock.now();
    if (s.revokedAt !== null) return { status: 'ended', why: 'revoked' };
    if (s.expiresAt <= now) return { status: 'ended', why: 'expired' };
    if (s.lastSeenAt + this.idleMs <= now) return { status: 'ended', why: 'idle' };
    if (now - s.lastSeenAt >= TOUCH_EVERY_MS) {
      await this.o.sessions.touch(s.id, now);
      s.lastSeenAt = now;
    }
    return { status: 'live', session: s };
  }

  async logout(session: SessionRecord): Promise<void> {
    await this.o.sessions.revoke(session.id, this.clock.now());
    this.log.info({ user_id: session.userId, session_id: session.id }, 'logged out');
  }

  /** When a live session ends at the latest if unused: the earlier of its absolute and idle expiry. */
  idleExpiry(session: SessionRecord): number {
    return Math.min(session.expiresAt, session.lastSeenAt + this.idleMs);
  }

  private async rehash(userId: string, password: string): Promise<void> {
    try {
      const hash = await this.o.hasher.hash(password);
      await this.o.users.setPasswordHash(userId, hash, this.clock.now(), false);
      this.log.info({ user_id: userId }, 'password re-hashed with the configured scrypt parameters');
    } catch (err) {
      this.log.warn({ err, user_id: userId }, 'password re-hash failed; kept the old hash');
    }
  }
}

/** The message of a session that ended, for 401 `session_expired`. */
export function sessionEndMessage(why: SessionEnd): string {
  switch (why) {
    case 'expired':
      return 'your session expired (accounts.session_ttl); log in again';
    case 'idle':
      return 'your session expired after a time without use (accounts.session_idle); log in again';
    case 'revoked':
      return 'your session was ended (logged out, or the password changed); log in again';
    default:
      return 'this session is not known (it ended or the cookie is damaged); log in again';
  }
}

function describeWait(s: number): string {
  if (s < 120) return `${s} s`;
  return `${Math.ceil(s / 60)} min`;
}
