import type { Command } from 'commander';
import { parseDuration } from '../../shared/clock/index.js';
import { userAdmin } from '../accounts/index.js';
import { SqlSessions } from '../accounts/sessions.js';
import type { UserRecord } from '../accounts/users.js';
import { VigilError } from '../errors.js';
import type { Role } from '../store/store.js';
import { SqlStore } from '../store/index.js';
import { parseChoice, printJson, withDatabase, type ConfigOpts } from './common.js';

/**
 * `vigil-cloud user create|list|delete|passwd`: owner accounts of the web app. The password is read from stdin
 * (`--password-stdin`; one trailing newline is dropped), never from the command line, and never printed or logged.
 * `passwd` and `delete` end every session of the user at once.
 *
 *   printf '%s' "$PASSWORD" | vigil-cloud user create --email owner@example.com --password-stdin
 */
interface UserOpts extends ConfigOpts {
  json?: boolean;
  passwordStdin?: boolean;
}

function withOptions(c: Command): Command {
  return c
    .option('-c, --config <file>', 'YAML config file')
    .option('-d, --data-dir <dir>', 'data directory')
    .option('--json', 'machine-readable output');
}

async function readPassword(o: UserOpts): Promise<string> {
  if (!o.passwordStdin)
    throw new VigilError(
      'invalid_argument',
      'give the password on stdin with --password-stdin, e.g. printf %s "$PASSWORD" | vigil-cloud user … ' +
        '--password-stdin (never as an argument: other users can read command lines)',
      { details: { exitCode: 2 } },
    );
  if (process.stdin.isTTY)
    throw new VigilError(
      'invalid_argument',
      '--password-stdin reads a pipe, and stdin is a terminal (what you type would be shown): pipe the password ' +
        'in, e.g. from your password manager',
      { details: { exitCode: 2 } },
    );
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (text === '') throw new VigilError('invalid_argument', 'no password on stdin', { details: { exitCode: 2 } });
  return text;
}

interface UserJson {
  id: string;
  email: string;
  tenant: string;
  role: Role;
  created_at: string;
  password_changed_at: string;
}

function userJson(u: UserRecord): UserJson {
  return {
    id: u.id,
    email: u.email,
    tenant: u.tenantId,
    role: u.role,
    created_at: new Date(u.createdAt).toISOString(),
    password_changed_at: new Date(u.passwordChangedAt).toISOString(),
  };
}

export function registerUser(program: Command): void {
  const cmd = program.command('user').description('create, list and delete owner accounts of the web app');

  withOptions(cmd.command('create').description('create a login for the web app (password from stdin)'))
    .requiredOption('-e, --email <email>', 'login email (unique on this collector)')
    .option('--tenant <id>', 'tenant whose boxes and events the user sees', 'default')
    .option('-r, --role <role>', 'admin (may pair and manage boxes) or reader', 'admin')
    .option('--password-stdin', 'read the password from stdin')
    .action(async (o: UserOpts & { email: string; tenant: string; role: string }) => {
      const role = parseChoice<Role>(o.role, ['admin', 'reader'], '--role');
      const password = await readPassword(o);
      await withDatabase(o, async (db, config) => {
        const user = await userAdmin(db, new SqlStore(db), config.accounts).create({
          email: o.email,
          tenantId: o.tenant,
          role,
          password,
        });
        if (o.json) return printJson(userJson(user));
        process.stdout.write(`created ${user.role} user ${user.email} (${user.id}) in tenant ${user.tenantId}\n`);
      });
    });

  withOptions(cmd.command('list').description('list users (never their passwords)'))
    .option('--tenant <id>', 'only this tenant (default: all)')
    .action(async (o: UserOpts & { tenant?: string }) => {
      await withDatabase(o, async (db, config) => {
        const users = await userAdmin(db, new SqlStore(db), config.accounts).list(o.tenant);
        const active = await new SqlSessions(db).countActive(Date.now(), parseDuration(config.accounts.session_idle));
        const rows = users.map((u) => ({ ...userJson(u), active_sessions: active.get(u.id) ?? 0 }));
        if (o.json) return printJson({ users: rows });
        for (const r of rows)
          process.stdout.write(
            `${r.id}  ${String(r.role).padEnd(6)}  ${String(r.tenant).padEnd(12)}  ${r.email}  ` +
              `(${r.active_sessions} active session${r.active_sessions === 1 ? '' : 's'})\n`,
          );
      });
    });

  withOptions(
    cmd.command('delete').description('delete a user and end their sessions').argument('<user>', 'email or usr_… id'),
  ).action(async (who: string, o: UserOpts) => {
    await withDatabase(o, async (db, config) => {
      const user = await userAdmin(db, new SqlStore(db), config.accounts).delete(who);
      if (o.json) return printJson({ ...userJson(user), deleted: true });
      process.stdout.write(`deleted user ${user.email} (${user.id}); their sessions ended\n`);
    });
  });

  withOptions(
    cmd
      .command('passwd')
      .description("set a user's password (from stdin) and end their sessions")
      .argument('<user>', 'email or usr_… id'),
  )
    .option('--password-stdin', 'read the password from stdin')
    .action(async (who: string, o: UserOpts) => {
      const password = await readPassword(o);
      await withDatabase(o, async (db, config) => {
        const user = await userAdmin(db, new SqlStore(db), config.accounts).setPassword(who, password);
        if (o.json) return printJson({ ...userJson(user), sessions_ended: true });
        process.stdout.write(`password changed for ${user.email} (${user.id}); their sessions ended\n`);
      });
    });
}
