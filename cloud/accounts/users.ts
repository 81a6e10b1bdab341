import { ulid } from '../../shared/ids/index.js';
import type { SqlDatabase } from '../db/sql.js';
import { VigilError } from '../errors.js';
import type { Role } from '../store/store.js';

/**
 * Owner accounts (`users`, migration 9): one row per person who logs in to the web app, in one tenant with one role
 * (admin | reader, the same roles as API tokens). The email is the login name, unique across tenants, stored lower
 * case. Only the password hash is kept (./passwords.ts). Deleting a user deletes their sessions in the same
 * transaction.
 */
export interface UserRecord {
  id: string;
  tenantId: string;
  email: string;
  role: Role;
  createdAt: number;
  updatedAt: number;
  passwordChangedAt: number;
}

export interface UserWithHash extends UserRecord {
  passwordHash: string;
}

interface UserRow {
  id: string;
  tenant_id: string;
  email: string;
  role: Role;
  password_hash: string;
  created_at: number | string;
  updated_at: number | string;
  password_changed_at: number | string;
}

const COLUMNS = 'id, tenant_id, email, role, password_hash, created_at, updated_at, password_changed_at';

const user = (r: UserRow): UserWithHash => ({
  id: r.id,
  tenantId: r.tenant_id,
  email: r.email,
  role: r.role,
  passwordHash: r.password_hash,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
  passwordChangedAt: Number(r.password_changed_at),
});

/** Without the hash: what leaves this module for listings. */
export function publicUser(u: UserWithHash): UserRecord {
  const { passwordHash: _hash, ...rest } = u;
  return rest;
}

const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]{1,189}$/;

/** The login name as stored: trimmed, lower case; refused when it does not look like an email address. */
export function normaliseEmail(email: string): string {
  const e = email.trim().toLowerCase();
  if (!EMAIL_RE.test(e))
    throw new VigilError('invalid_request', `"${email.slice(0, 80)}" is not an email address`, {
      details: { field: 'email' },
    });
  return e;
}

export class SqlUsers {
  constructor(private readonly db: SqlDatabase) {}

  async create(input: {
    tenantId: string;
    email: string;
    role: Role;
    passwordHash: string;
    now: number;
  }): Promise<UserRecord> {
    const email = normaliseEmail(input.email);
    const id = `usr_${ulid(input.now)}`;
    return this.db.tx(async (x) => {
      if (await x.get('SELECT id FROM users WHERE email = ?', [email]))
        throw new VigilError('conflict', `a user with email ${email} exists already`, { details: { email } });
      await x.run(`INSERT INTO users (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, [
        id,
        input.tenantId,
        email,
        input.role,
        input.passwordHash,
        input.now,
        input.now,
        input.now,
      ]);
      return {
        id,
        tenantId: input.tenantId,
        email,
        role: input.role,
        createdAt: input.now,
        updatedAt: input.now,
        passwordChangedAt: input.now,
      };
    });
  }

  async findByEmail(email: string): Promise<UserWithHash | undefined> {
    const row = await this.db.get<UserRow>(`SELECT ${COLUMNS} FROM users WHERE email = ?`, [
      email.trim().toLowerCase(),
    ]);
    return row && user(row);
  }

  /** By id (`usr_…`) or email. */
  async find(idOrEmail: string): Promise<UserWithHash | undefined> {
    if (idOrEmail.startsWith('usr_')) {
      const row = await this.db.get<UserRow>(`SELECT ${COLUMNS} FROM users WHERE id = ?`, [idOrEmail]);
      return row && user(row);
    }
    return this.findByEmail(idOrEmail);
  }

  async list(tenantId?: string): Promise<UserRecord[]> {
    const rows =
      tenantId === undefined
        ? await this.db.all<UserRow>(`SELECT ${COLUMNS} FROM users ORDER BY tenant_id, email`)
        : await this.db.all<UserRow>(`SELECT ${COLUMNS} FROM users WHERE tenant_id = ? ORDER BY email`, [tenantId]);
    return rows.map((r) => publicUser(user(r)));
  }

  /** Deletes the user and every session of theirs; false when there is no such user. */
  async delete(id: string): Promise<boolean> {
    return this.db.tx(async (x) => {
      await x.run('DELETE FROM user_sessions WHERE user_id = ?', [id]);
      return (await x.run('DELETE FROM users WHERE id = ?', [id])).changes > 0;
    });
  }

  /**
   * Stores a new password hash. `revokeSessions`: every session of the user ends in the same transaction (a password
   * change by the owner or an operator); false for a silent re-hash at login.
   */
  async setPasswordHash(id: string, hash: string, now: number, revokeSessions: boolean): Promise<boolean> {
    return this.db.tx(async (x) => {
      const changed = revokeSessions
        ? await x.run('UPDATE users SET password_hash = ?, updated_at = ?, password_changed_at = ? WHERE id = ?', [
            hash,
            now,
            now,
            id,
          ])
        : await x.run('UPDATE users SET password_hash = ? WHERE id = ?', [hash, id]);
      if (changed.changes === 0) return false;
      if (revokeSessions)
        await x.run('UPDATE user_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL', [now, id]);
      return true;
    });
  }
}
