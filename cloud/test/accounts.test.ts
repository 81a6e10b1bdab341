import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVigilError } from '../../shared/errors/index.js';
import { createAccounts, type Accounts } from '../accounts/index.js';
import { PasswordHasher } from '../accounts/passwords.js';
import { SqlUsers } from '../accounts/users.js';
import { cloudConfig } from '../config.js';
import { testBackends, type TestDatabase } from './support/backends.js';

/**
 * Accounts below HTTP: scrypt hashes (format, parameters carried in the hash and raised at the next login, NFC,
 * refusal of tampered parameters), the password rules, the user records and their errors, and the timing of a login
 * with an unknown email (the same scrypt work as a wrong password).
 */
const backends = await testBackends();

function accountsOn(db: TestDatabase, accounts: Record<string, unknown> = {}): Accounts {
  return createAccounts({ database: db.database, store: db.store, config: cloudConfig({ accounts }).accounts });
}

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isVigilError(err, code), String(err)).toBe(true);
  expect((err as Error).message).toMatch(message);
}

describe('password hashing (scrypt)', () => {
  const hasher = new PasswordHasher({ ln: 14, r: 8, p: 1 });

  it('stores the parameters, a salt and the key; verifies the right password only', async () => {
    const hash = await hasher.hash('correct horse battery');
    expect(hash).toMatch(/^\$scrypt\$ln=14,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await hasher.hash('correct horse battery')).not.toBe(hash); // salted
    expect(await hasher.verify('correct horse battery', hash)).toBe(true);
    expect(await hasher.verify('correct horse batterY', hash)).toBe(false);
    expect(await hasher.verify('', hash)).toBe(false);
  });

  it('treats the same text typed composed or decomposed as the same password (NFC)', async () => {
    const hash = await hasher.hash('caf\u00e9 au lait 42');
    expect(await hasher.verify('cafe\u0301 au lait 42', hash)).toBe(true);
  });

  it('refuses unreadable or tampered hashes without trying them; asks to re-hash weaker parameters', async () => {
    const hash = await hasher.hash('correct horse battery');
    const huge = hash.replace('ln=14', 'ln=40');
    expect(await hasher.verify('correct horse battery', huge)).toBe(false);
    expect(await hasher.verify('correct horse battery', 'plain text')).toBe(false);
    expect(hasher.needsRehash(hash)).toBe(false);
    expect(new PasswordHasher({ ln: 15, r: 8, p: 1 }).needsRehash(hash)).toBe(true);
    expect(hasher.needsRehash('$scrypt$ln=14,r=4,p=1$AAAAAAAAAAAAAAAAAAAAAA$' + 'A'.repeat(43))).toBe(true);
  });

  it('runs `concurrency` hashes at once, queues a bounded number, refuses beyond with 503', async () => {
    const gated = new PasswordHasher({ ln: 14, r: 8, p: 1 }, 1, 2);
    const hash = await gated.hash('correct horse battery');
    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, () => gated.verify('correct horse battery', hash)),
    );
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected']);
    const err = (outcomes[3] as PromiseRejectedResult).reason as Error;
    expect(isVigilError(err, 'service_unavailable')).toBe(true);
    expect(err.message).toBe('too many logins at once; try again in a few seconds');
    // the queue drained: the next one runs
    expect(await gated.verify('correct horse battery', hash)).toBe(true);
  });

  it('defaults to N = 2^17, r = 8, p = 1 (128 MiB per hash)', async () => {
    const accounts = cloudConfig().accounts;
    expect(accounts.scrypt).toEqual({ cost_log2: 17, block_size: 8, parallelism: 1, concurrency: 2 });
    const hash = await new PasswordHasher({ ln: 17, r: 8, p: 1 }).hash('correct horse battery');
    expect(hash.startsWith('$scrypt$ln=17,r=8,p=1$')).toBe(true);
  });
});

describe.each(backends)('users and logins on $name', (backend) => {
  let db: TestDatabase;
  let accounts: Accounts;
  beforeAll(async () => {
    db = await backend.open();
    accounts = accountsOn(db, { scrypt: { cost_log2: 14 } });
  });
  afterAll(async () => {
    await db?.cleanup();
  });

  it('creates users with a lower-case unique email in a tenant made on the way; keeps only the hash', async () => {
    const u = await accounts.admin.create({
      email: ' Anna@Example.COM ',
      tenantId: 'house',
      role: 'admin',
      password: 'a long enough password',
    });
    expect(u).toMatchObject({ email: 'anna@example.com', tenantId: 'house', role: 'admin' });
    expect(u.id).toMatch(/^usr_[0-9A-Z]{26}$/);
    expect(Object.keys(u)).not.toContain('passwordHash');
    expect(JSON.stringify(u)).not.toContain('$scrypt');
    const stored = await new SqlUsers(db.database).find('anna@example.com');
    expect(stored?.passwordHash).toMatch(/^\$scrypt\$ln=14,/);
    expect((await accounts.admin.list('house')).map((x) => x.email)).toEqual(['anna@example.com']);
    await rejects(
      accounts.admin.create({
        email: 'ANNA@example.com',
        tenantId: 'default',
        role: 'reader',
        password: 'x'.repeat(20),
      }),
      'conflict',
      /a user with email anna@example.com exists already/,
    );
  });

  it('refuses short passwords, bad emails and bad tenants with pointed messages', async () => {
    const base = { email: 'b@example.com', tenantId: 'default', role: 'reader' as const };
    await rejects(
      accounts.admin.create({ ...base, password: 'short pw' }),
      'invalid_request',
      /the password is 8 characters long; it needs at least 12 \(accounts.password_min_length\)/,
    );
    await rejects(
      accounts.admin.create({ ...base, email: 'not an email', password: 'x'.repeat(20) }),
      'invalid_request',
      /"not an email" is not an email address/,
    );
    await rejects(
      accounts.admin.create({ ...base, tenantId: 'Bad Tenant', password: 'x'.repeat(20) }),
      'invalid_request',
      /tenant "Bad Tenant" must be/,
    );
    await rejects(accounts.admin.setPassword('nobody@example.com', 'x'.repeat(20)), 'not_found', /no user nobody/);
    await rejects(accounts.admin.delete('usr_01NOSUCHUSER0000000000000'), 'not_found', /no user usr_/);
  });

  it('re-hashes a password with the raised parameters at the next login', async () => {
    await accounts.admin.create({
      email: 'c@example.com',
      tenantId: 'default',
      role: 'reader',
      password: 'the old parameters',
    });
    const stronger = accountsOn(db, { scrypt: { cost_log2: 15 } });
    await stronger.sessions.login('c@example.com', 'the old parameters', '127.0.0.1');
    const users = new SqlUsers(db.database);
    let hash = '';
    for (let i = 0; i < 100 && !hash.startsWith('$scrypt$ln=15,'); i++) {
      hash = (await users.find('c@example.com'))!.passwordHash;
      if (!hash.startsWith('$scrypt$ln=15,')) await new Promise((r) => setTimeout(r, 20));
    }
    expect(hash).toMatch(/^\$scrypt\$ln=15,r=8,p=1\$/);
    await stronger.sessions.login('c@example.com', 'the old parameters', '127.0.0.1');
    // the old parameters still verify the new hash (the parameters travel with it)
    await accounts.sessions.login('c@example.com', 'the old parameters', '127.0.0.1');
  });

  it('an unknown email costs the same scrypt work as a wrong password (no timing hint)', async () => {
    const slow = accountsOn(db, {
      scrypt: { cost_log2: 16 },
      login: { account_burst: 100, source_burst: 100 },
    });
    await slow.admin.create({ email: 'd@example.com', tenantId: 'default', role: 'reader', password: 'x'.repeat(20) });
    const time = async (email: string): Promise<number> => {
      const start = process.hrtime.bigint();
      await rejects(slow.sessions.login(email, 'wrong password!!', '127.0.0.1'), 'invalid_credentials', /wrong/);
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 4; i++) {
      known.push(await time('d@example.com'));
      unknown.push(await time(`ghost${i}@example.com`));
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    // Without the dummy hash an unknown email answers in ~1 ms against ~100 ms: a factor 3 leaves room for noise.
    expect(median(unknown)).toBeGreaterThan(median(known) / 3);
  });
});
