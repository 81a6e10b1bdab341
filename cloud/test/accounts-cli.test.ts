import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../shared/paths/index.js';
import { testBackends, type TestDatabase } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { cookieFetch, login, postLogin } from './support-session/session-client.js';

/**
 * `vigil-cloud user create|list|passwd|delete` as an operator runs it: the real binary (needs `npm run build`; `npm
 * test` builds first) in a process of its own, the password piped to stdin, on SQLite and PostgreSQL, with a
 * collector on the same database to log in with. The password never shows up in the output, nor in the database.
 */
const backends = await testBackends();
const root = projectRoot();
const bin = join(root, 'bin', 'vigil-cloud.js');
const built = existsSync(join(root, 'dist', 'cloud', 'cli', 'user.js'));
const PASSWORD = 'Stdin-only passphrase 1';
const NEW_PASSWORD = 'another stdin passphrase';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

describe.runIf(built).each(backends)('vigil-cloud user on $name', (backend) => {
  let db: TestDatabase;
  let t: TestCloud;
  const run = (args: string[], input?: string): Run => {
    const env: NodeJS.ProcessEnv = { ...process.env, VIGIL_LOG_LEVEL: 'warn', VIGIL_CLOUD_CONFIG: '' };
    if (db.config.database.url) env.VIGIL_CLOUD__DATABASE__URL = db.config.database.url;
    if (db.config.database.schema) env.VIGIL_CLOUD__DATABASE__SCHEMA = db.config.database.schema;
    const r = spawnSync(process.execPath, [bin, 'user', ...args, '--data-dir', db.dataDir], {
      encoding: 'utf8',
      env,
      input: input ?? '',
      timeout: 60_000,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const noSecret = (r: Run): void => {
    for (const secret of [PASSWORD, NEW_PASSWORD]) {
      expect(r.stdout).not.toContain(secret);
      expect(r.stderr).not.toContain(secret);
    }
  };

  beforeAll(async () => {
    db = await backend.open();
    t = await startTestCloud(backend, { db });
  });
  afterAll(async () => {
    await t?.close();
    await db?.cleanup();
  });

  it('creates a user from a password on stdin, and refuses other ways', async () => {
    const created = run(['create', '--email', 'Owner@Example.com', '--password-stdin', '--json'], `${PASSWORD}\n`);
    expect(created.status, created.stderr).toBe(0);
    noSecret(created);
    const user = JSON.parse(created.stdout) as Record<string, unknown>;
    expect(user).toMatchObject({ email: 'owner@example.com', tenant: 'default', role: 'admin' });
    expect(String(user.id)).toMatch(/^usr_/);

    const noFlag = run(['create', '--email', 'x@example.com'], PASSWORD);
    expect(noFlag.status).toBe(2);
    expect(noFlag.stderr).toMatch(/give the password on stdin with --password-stdin/);
    const short = run(['create', '--email', 'y@example.com', '--password-stdin'], 'short');
    expect(short.status).toBe(1);
    expect(short.stderr).toMatch(/invalid_request: the password is 5 characters long; it needs at least 12/);
    const twice = run(['create', '--email', 'owner@example.com', '--password-stdin'], PASSWORD);
    expect(twice.status).toBe(1);
    expect(twice.stderr).toMatch(/conflict: a user with email owner@example.com exists already/);
    const reader = run(
      ['create', '-e', 'r@example.com', '--tenant', 'acme', '-r', 'reader', '--password-stdin'],
      PASSWORD,
    );
    expect(reader.status, reader.stderr).toBe(0);
    expect(reader.stdout).toBe(
      `created reader user r@example.com (${/usr_\w+/.exec(reader.stdout)![0]}) in tenant acme\n`,
    );

    // the collector on the same database logs the user in with that password
    const s = await login(t.url, 'owner@example.com', PASSWORD);
    expect(s.body.user).toMatchObject({ role: 'admin', tenant: 'default' });
  });

  it('lists users with their active sessions, never a password or hash', async () => {
    const listed = run(['list', '--json']);
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).not.toContain('$scrypt');
    const { users } = JSON.parse(listed.stdout) as { users: Array<Record<string, unknown>> };
    expect(users.map((u) => [u.email, u.tenant, u.role, u.active_sessions])).toEqual([
      ['r@example.com', 'acme', 'reader', 0],
      ['owner@example.com', 'default', 'admin', 1],
    ]);
    const acme = run(['list', '--tenant', 'acme']);
    expect(acme.stdout).toMatch(/^usr_\w+ {2}reader {2}acme +r@example.com {2}\(0 active sessions\)\n$/);
  });

  it('passwd sets a new password from stdin and ends the sessions; delete removes the user', async () => {
    const s = await login(t.url, 'owner@example.com', PASSWORD);
    expect((await cookieFetch(t.url, '/v1/session', s, { csrf: false })).status).toBe(200);
    const changed = run(['passwd', 'owner@example.com', '--password-stdin'], `${NEW_PASSWORD}\r\n`);
    expect(changed.status, changed.stderr).toBe(0);
    noSecret(changed);
    expect(changed.stdout).toMatch(/^password changed for owner@example.com \(usr_\w+\); their sessions ended\n$/);
    const dead = await cookieFetch(t.url, '/v1/session', s, { csrf: false });
    expect(dead.status).toBe(401);
    expect((await postLogin(t.url, 'owner@example.com', PASSWORD)).status).toBe(401);
    const again = await login(t.url, 'owner@example.com', NEW_PASSWORD);

    const deleted = run(['delete', 'owner@example.com']);
    expect(deleted.status, deleted.stderr).toBe(0);
    expect((await cookieFetch(t.url, '/v1/events', again, { csrf: false })).status).toBe(401);
    expect((await postLogin(t.url, 'owner@example.com', NEW_PASSWORD)).status).toBe(401);
    const missing = run(['delete', 'owner@example.com']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/not_found: no user owner@example.com/);
  });

  if (backend.name === 'sqlite') {
    it('keeps no password in the database files', () => {
      for (const f of readdirSync(db.dataDir).filter((n) => n.startsWith('vigil.db'))) {
        const bytes = readFileSync(join(db.dataDir, f));
        for (const secret of [PASSWORD, NEW_PASSWORD]) expect(bytes.includes(Buffer.from(secret)), f).toBe(false);
      }
    });
  }
});
