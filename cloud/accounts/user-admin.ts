import { systemClock, type Clock } from '../../shared/clock/index.js';
import { checkTenantId } from '../auth/tokens.js';
import { VigilError } from '../errors.js';
import type { Role, Store } from '../store/store.js';
import { checkNewPassword, type PasswordHasher } from './passwords.js';
import { publicUser, type SqlUsers, type UserRecord } from './users.js';

/**
 * What an operator does with accounts (`vigil-cloud user …`): create one (the tenant is made when new), change a
 * password (every session of the user ends), delete one (with their sessions), list them. Passwords are checked
 * against the rules (./passwords.ts `checkNewPassword`) and only their hash is kept.
 */
export interface UserAdminOptions {
  users: SqlUsers;
  store: Pick<Store, 'ensureTenant'>;
  hasher: PasswordHasher;
  passwordMinLength: number;
  clock?: Clock;
}

export class UserAdmin {
  private readonly clock: Clock;

  constructor(private readonly o: UserAdminOptions) {
    this.clock = o.clock ?? systemClock;
  }

  async create(input: { email: string; tenantId: string; role: Role; password: string }): Promise<UserRecord> {
    checkNewPassword(input.password, this.o.passwordMinLength);
    const tenantId = checkTenantId(input.tenantId);
    await this.o.store.ensureTenant(tenantId);
    const passwordHash = await this.o.hasher.hash(input.password);
    return this.o.users.create({ tenantId, email: input.email, role: input.role, passwordHash, now: this.clock.now() });
  }

  /** Sets a new password; every session of the user ends. */
  async setPassword(idOrEmail: string, password: string): Promise<UserRecord> {
    const user = await this.find(idOrEmail);
    checkNewPassword(password, this.o.passwordMinLength);
    const hash = await this.o.hasher.hash(password);
    const now = this.clock.now();
    if (!(await this.o.users.setPasswordHash(user.id, hash, now, true))) throw this.notFound(idOrEmail);
    return { ...publicUser(user), updatedAt: now, passwordChangedAt: now };
  }

  async delete(idOrEmail: string): Promise<UserRecord> {
    const user = await this.find(idOrEmail);
    if (!(await this.o.users.delete(user.id))) throw this.notFound(idOrEmail);
    return publicUser(user);
  }

  list(tenantId?: string): Promise<UserRecord[]> {
    return this.o.users.list(tenantId);
  }

  private async find(idOrEmail: string) {
    const user = await this.o.users.find(idOrEmail);
    if (!user) throw this.notFound(idOrEmail);
    return user;
  }

  private notFound(idOrEmail: string): VigilError {
    return new VigilError('not_found', `no user ${idOrEmail.slice(0, 120)}`);
  }
}
