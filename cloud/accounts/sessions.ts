import { ulid } from '../../shared/ids/index.js';
import type { SqlDatabase } from '../db/sql.js';
import type { Role } from '../store/store.js';

/**
 * Login sessions (`user_sessions`, migration 9). The cookie carries a random secret; only its SHA-256 is stored, so
 * a copy of the database opens no session. `id` (`ses_…`) names a session in logs and limits and is no credential.
 * Each session keeps its CSRF token (synchronizer token, ./csrf.ts). A session ends at `expires_at` (absolute),
 * after `idle` without use (`last_seen_at`), or when revoked (logout, password change, user deleted: rows go).
 */
export interface SessionRecord {
  id: string;
  userId: string;
  tenantId: string;
  email: string;
  role: Role;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

interface SessionRow {
  id: string;
  user_id: string;
  tenant_id: string;
  email: string;
  role: Role;
  csrf_token: string;
  created_at: number | string;
  last_seen_at: number | string;
  expires_at: number | string;
  revoked_at: number | string | null;
}

const session = (r: SessionRow): SessionRecord => ({
  id: r.id,
  userId: r.user_id,
  tenantId: r.tenant_id,
  email: r.email,
  role: r.role,
  csrfToken: r.csrf_token,
  createdAt: Number(r.created_at),
  lastSeenAt: Number(r.last_seen_at),
  expiresAt: Number(r.expires_at),
  revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
});

export class SqlSessions {
  constructor(private readonly db: SqlDatabase) {}

  async create(input: {
    userId: string;
    secretSha256: string;
    csrfToken: string;
    now: number;
    expiresAt: number;
  }): Promise<string> {
    const id = `ses_${ulid(input.now)}`;
    await this.db.run(
      `INSERT INTO user_sessions (id, secret_sha256, user_id, csrf_token, created_at, last_seen_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [id, input.secretSha256, input.userId, input.csrfToken, input.now, input.now, input.expiresAt],
    );
    return id;
  }

  /** The session (with its user's tenant, email and role as they are now) for a secret's hash, whatever its state. */
  async findBySecret(secretSha256: string): Promise<SessionRecord | undefined> {
    const row = await this.db.get<SessionRow>(
      `SELECT s.id, s.user_id, u.tenant_id, u.email, u.role, s.csrf_token, s.created_at, s.last_seen_at,
              s.expires_at, s.revoked_at
         FROM user_sessions s JOIN users u ON u.id = s.user_id
        WHERE s.secret_sha256 = ?`,
      [secretSha256],
    );
    return row && session(row);
  }

  /** Moves the idle clock on (only forward: concurrent requests may race). */
  async touch(id: string, now: number): Promise<void> {
    await this.db.run('UPDATE user_sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?', [now, id, now]);
  }

  /** Revokes one session; false when it was revoked already or does not exist. */
  async revoke(id: string, now: number): Promise<boolean> {
    const r = await this.db.run('UPDATE user_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [
      now,
      id,
    ]);
    return r.changes > 0;
  }

  /** Active sessions per user id (for `user list`). */
  async countActive(now: number, idleMs: number): Promise<Map<string, number>> {
    const rows = await this.db.all<{ user_id: string; n: number | string }>(
      `SELECT user_id, COUNT(*) AS n FROM user_sessions
        WHERE revoked_at IS NULL AND expires_at > ? AND last_seen_at > ? GROUP BY user_id`,
      [now, now - idleMs],
    );
    return new Map(rows.map((r) => [r.user_id, Number(r.n)]));
  }

  /**
   * Deletes sessions that ended more than `keepMs` ago (expired, idle or revoked). Until then a request with their
   * cookie is told its session expired, rather than that it never logged in.
   */
  async purge(now: number, idleMs: number, keepMs: number): Promise<number> {
    const before = now - keepMs;
    const r = await this.db.run(
      `DELETE FROM user_sessions
        WHERE expires_at < ? OR last_seen_at < ? OR (revoked_at IS NOT NULL AND revoked_at < ?)`,
      [before, before - idleMs, before],
    );
    return r.changes;
  }
}
