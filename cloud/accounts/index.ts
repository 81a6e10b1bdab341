import { parseDuration, systemClock, type Clock } from '../../shared/clock/index.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import type { SqlDatabase } from '../db/sql.js';
import type { Store } from '../store/store.js';
import type { AccountsConfig } from './config.js';
import { LoginAttemptLimiter } from './login-limit.js';
import { PasswordHasher } from './passwords.js';
import { SessionService } from './session-service.js';
import { SqlSessions } from './sessions.js';
import { UserAdmin } from './user-admin.js';
import { SqlUsers } from './users.js';

/**
 * cloud/accounts — owner accounts of the web app: users with scrypt password hashes (./passwords.ts, ./users.ts),
 * login sessions behind an HttpOnly cookie (./sessions.ts, ./session-service.ts, ./cookies.ts), login attempt limits
 * (./login-limit.ts) and the CSRF defence (./csrf.ts). ./request-auth.ts plugs the cookie into the API's one
 * credential check (cloud/auth/request.ts); cloud/api/session.ts has the routes; `vigil-cloud user` the CLI.
 * Tables `users` and `user_sessions` (migration 9) are this folder's.
 */
export { AccountsConfigSchema, type AccountsConfig } from './config.js';
export { sessionAuthenticator } from './request-auth.js';
export { SessionService, sessionEndMessage } from './session-service.js';
export { UserAdmin } from './user-admin.js';

/** Sessions that ended stay this long (a request with their cookie hears "expired", not "never logged in"). */
const KEEP_ENDED_MS = 7 * 24 * 3600_000;
const PURGE_EVERY_MS = 3600_000;

export function passwordHasher(config: AccountsConfig): PasswordHasher {
  const s = config.scrypt;
  return new PasswordHasher({ ln: s.cost_log2, r: s.block_size, p: s.parallelism }, s.concurrency);
}

/** The operator's side (CLI): users, password changes. */
export function userAdmin(database: SqlDatabase, store: Pick<Store, 'ensureTenant'>, config: AccountsConfig) {
  return new UserAdmin({
    users: new SqlUsers(database),
    store,
    hasher: passwordHasher(config),
    passwordMinLength: config.password_min_length,
  });
}

export interface Accounts {
  sessions: SessionService;
  admin: UserAdmin;
  /** Starts the hourly purge of sessions that ended a week ago. */
  startPurge(): void;
  close(): void;
}

export function createAccounts(o: {
  database: SqlDatabase;
  store: Pick<Store, 'ensureTenant'>;
  config: AccountsConfig;
  clock?: Clock;
  log?: Logger;
}): Accounts {
  const clock = o.clock ?? systemClock;
  const log = o.log ?? silentLogger();
  const users = new SqlUsers(o.database);
  const sessionRows = new SqlSessions(o.database);
  const hasher = passwordHasher(o.config);
  const idleMs = parseDuration(o.config.session_idle);
  const login = o.config.login;
  const sessions = new SessionService({
    users,
    sessions: sessionRows,
    hasher,
    limiter: new LoginAttemptLimiter({
      accountBurst: login.account_burst,
      accountPerHour: login.account_per_hour,
      sourceBurst: login.source_burst,
      sourcePerMinute: login.source_per_minute,
      clock,
    }),
    ttlMs: parseDuration(o.config.session_ttl),
    idleMs,
    clock,
    log,
  });
  const admin = new UserAdmin({
    users,
    store: o.store,
    hasher,
    passwordMinLength: o.config.password_min_length,
    clock,
  });
  let timer: NodeJS.Timeout | undefined;
  const purge = (): void => {
    sessionRows
      .purge(clock.now(), idleMs, KEEP_ENDED_MS)
      .then((n) => n > 0 && log.info({ sessions: n }, 'ended sessions purged'))
      .catch((err: unknown) => log.warn({ err }, 'session purge failed'));
  };
  return {
    sessions,
    admin,
    startPurge() {
      if (timer) return;
      timer = setInterval(purge, PURGE_EVERY_MS);
      timer.unref();
    },
    close() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
