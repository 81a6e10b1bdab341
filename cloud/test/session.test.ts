import { request } from 'node:http';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OffsetClock } from '../../shared/clock/index.js';
import { createLogger } from '../../shared/log/index.js';
import { newEventId } from '../../shared/ids/index.js';
import { isLoopbackHost } from '../accounts/cookies.js';
import { sqliteBackend, testBackends } from './support/backends.js';
import { pairTestBox } from './support/box.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { cookieFetch, login, postLogin, type Session } from './support-session/session-client.js';

/**
 * Owner logins over real HTTP (POST/GET/DELETE /v1/session) on SQLite and PostgreSQL: wrong and right passwords,
 * the cookie's attributes, the cookie as a credential of the app routes (tenant and role of the user), logout,
 * password change and user deletion ending sessions, absolute and idle expiry, and the login attempt limits.
 */
const backends = await testBackends();
const FAST_HASH = { scrypt: { cost_log2: 14 } };
const PASSWORD = 'correct horse battery';

interface ErrorBody {
  error: { code: string; message: string; request_id: string };
}

/** A raw HTTP request (fetch will not send another Host). */
function rawRequest(
  url: string,
  path: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe.each(backends)('login sessions on $name', (backend) => {
  let t: TestCloud;
  beforeAll(async () => {
    t = await startTestCloud(backend, { overrides: { accounts: FAST_HASH, server: { trust_proxy: true } } });
    const admin = t.cloud.accounts.admin;
    await admin.create({ email: 'Owner@Example.com', tenantId: 'default', role: 'admin', password: PASSWORD });
    await admin.create({ email: 'viewer@example.com', tenantId: 'default', role: 'reader', password: PASSWORD });
    await admin.create({ email: 'acme@example.com', tenantId: 'acme', role: 'admin', password: PASSWORD });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses a wrong password and an unknown email with the same 401; accepts the right one', async () => {
    const wrong = await postLogin(t.url, 'owner@example.com', 'not the password');
    const unknown = await postLogin(t.url, 'nobody@example.com', PASSWORD);
    const bodies: ErrorBody[] = [];
    for (const res of [wrong, unknown]) {
      expect(res.status).toBe(401);
      expect(res.headers.get('set-cookie')).toBeNull();
      bodies.push((await res.json()) as ErrorBody);
    }
    expect(bodies.map((b) => [b.error.code, b.error.message])).toEqual([
      ['invalid_credentials', 'wrong email or password'],
      ['invalid_credentials', 'wrong email or password'],
    ]);

    const s = await login(t.url, 'OWNER@example.com ', PASSWORD);
    expect(s.body.user).toMatchObject({ email: 'owner@example.com', tenant: 'default', role: 'admin' });
    expect(s.body.user.id).toMatch(/^usr_/);
    expect(s.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(s.body.expires_at) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expect(s.cookie).toMatch(/^vigil_session=[A-Za-z0-9_-]{43}$/);
    // the secret is in the cookie only, never in the body
    expect(JSON.stringify(s.body)).not.toContain(s.cookie.split('=')[1]);
  });

  it('sets the cookie HttpOnly, SameSite=Strict, Path=/; Secure except on loopback http', async () => {
    const s = await login(t.url, 'owner@example.com', PASSWORD);
    const attrs = s.setCookie.split(';').map((a) => a.trim().toLowerCase());
    expect(attrs).toEqual(expect.arrayContaining(['httponly', 'samesite=strict', 'path=/', 'max-age=2592000']));
    expect(attrs).not.toContain('secure');

    const body = JSON.stringify({ email: 'owner@example.com', password: PASSWORD });
    const json = { 'content-type': 'application/json' };
    const lan = await rawRequest(t.url, '/v1/session', 'POST', { ...json, host: '192.168.1.20:8080' }, body);
    const proxied = await rawRequest(
      t.url,
      '/v1/session',
      'POST',
      { ...json, 'x-forwarded-proto': 'https', 'x-forwarded-host': 'vigil.example.com' },
      body,
    );
    for (const r of [lan, proxied]) {
      expect(r.status).toBe(200);
      const cookie = String(r.headers['set-cookie']).toLowerCase();
      expect(cookie).toContain('; secure');
      expect(cookie).toContain('httponly');
    }
  });

  it('GET /v1/session gives the session back with its CSRF token; without a cookie 401 unauthorized', async () => {
    const s = await login(t.url, 'viewer@example.com', PASSWORD);
    const res = await cookieFetch(t.url, '/v1/session', s, { csrf: false });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toMatchObject({ user: { role: 'reader' }, csrf_token: s.csrf });
    const anonymous = await fetch(`${t.url}/v1/session`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as ErrorBody).error.code).toBe('unauthorized');
  });

  it("the cookie opens the app API with the user's tenant and role; bearer tokens keep working", async () => {
    const box = await pairTestBox(t, 'cookie-box');
    const id = newEventId();
    expect((await box.send(box.event({ id, label: 'person' }))).status).toBe(200);
    const owner = await login(t.url, 'owner@example.com', PASSWORD);
    const list = await cookieFetch(t.url, '/v1/events?limit=50', owner, { csrf: false });
    expect(list.status).toBe(200);
    expect(((await list.json()) as { events: Array<{ id: string }> }).events.map((e) => e.id)).toContain(id);
    expect((await cookieFetch(t.url, `/v1/events/${id}`, owner, { csrf: false })).status).toBe(200);

    // another tenant's user: the same event id is simply not found
    const acme = await login(t.url, 'acme@example.com', PASSWORD);
    const foreign = await cookieFetch(t.url, `/v1/events/${id}`, acme, { csrf: false });
    expect(foreign.status).toBe(404);
    expect(((await foreign.json()) as ErrorBody).error.code).toBe('not_found');

    // a reader may look, not pair
    const viewer = await login(t.url, 'viewer@example.com', PASSWORD);
    const forbidden = await cookieFetch(t.url, '/v1/pairing-codes', viewer, { method: 'POST', body: '{}' });
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as ErrorBody).error).toMatchObject({
      code: 'forbidden',
      message: 'this needs an admin account',
    });
    expect((await cookieFetch(t.url, '/v1/pairing-codes', owner, { method: 'POST', body: '{}' })).status).toBe(201);

    // bearer: unchanged, and it decides when both are sent
    expect((await t.api('/v1/events?limit=1')).status).toBe(200);
    const badBearer = await cookieFetch(t.url, '/v1/events', owner, { headers: { authorization: 'Bearer nope' } });
    expect(badBearer.status).toBe(401);
  });

  it('logout revokes the session server-side and clears the cookie', async () => {
    const s = await login(t.url, 'owner@example.com', PASSWORD);
    const out = await cookieFetch(t.url, '/v1/session', s, { method: 'DELETE' });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/^vigil_session=; Max-Age=0;/);
    // a copy of the old cookie is dead
    for (const path of ['/v1/session', '/v1/events', '/v1/stream']) {
      const res = await cookieFetch(t.url, path, s, { csrf: false });
      expect(res.status, path).toBe(401);
      const body = (await res.json()) as ErrorBody;
      expect(body.error.code).toBe('session_expired');
      expect(body.error.message).toMatch(/ended \(logged out/);
    }
    // logging out again is harmless
    expect((await cookieFetch(t.url, '/v1/session', s, { method: 'DELETE' })).status).toBe(204);
  });

  it('a password change and a deleted user end their sessions', async () => {
    const admin = t.cloud.accounts.admin;
    await admin.create({ email: 'temp@example.com', tenantId: 'default', role: 'reader', password: PASSWORD });
    const a = await login(t.url, 'temp@example.com', PASSWORD);
    const b = await login(t.url, 'temp@example.com', PASSWORD);
    await admin.setPassword('temp@example.com', 'a brand new passphrase');
    for (const s of [a, b]) expect((await cookieFetch(t.url, '/v1/events', s, { csrf: false })).status).toBe(401);
    expect((await postLogin(t.url, 'temp@example.com', PASSWORD)).status).toBe(401);
    const c = await login(t.url, 'temp@example.com', 'a brand new passphrase');
    expect((await cookieFetch(t.url, '/v1/events', c, { csrf: false })).status).toBe(200);
    await admin.delete('temp@example.com');
    const gone = await cookieFetch(t.url, '/v1/events', c, { csrf: false });
    expect(gone.status).toBe(401);
    expect((await postLogin(t.url, 'temp@example.com', 'a brand new passphrase')).status).toBe(401);
  });
});

describe.each(backends)('session expiry and login limits on $name', (backend) => {
  let t: TestCloud;
  const clock = new OffsetClock();
  beforeAll(async () => {
    t = await startTestCloud(backend, {
      clock,
      overrides: {
        server: { trust_proxy: true },
        accounts: {
          ...FAST_HASH,
          session_ttl: '2h',
          session_idle: '30m',
          login: { account_burst: 3, account_per_hour: 12, source_burst: 6, source_per_minute: 1 },
        },
      },
    });
    await t.cloud.accounts.admin.create({
      email: 'o@example.com',
      tenantId: 'default',
      role: 'admin',
      password: PASSWORD,
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  const from = (ip: string): Record<string, string> => ({ 'x-forwarded-for': ip });
  const events = (s: Session) => cookieFetch(t.url, '/v1/events', s, { csrf: false });

  it('a session unused for session_idle expires; use keeps it alive until session_ttl', async () => {
    const idle = await login(t.url, 'o@example.com', PASSWORD);
    const busy = await login(t.url, 'o@example.com', PASSWORD);
    for (let i = 0; i < 5; i++) {
      clock.offsetMs += 20 * 60_000; // 20 min steps: busy is used each time, idle never
      expect((await events(busy)).status, `step ${i}`).toBe(200);
    }
    const idleAnswer = await events(idle);
    expect(idleAnswer.status).toBe(401);
    expect(((await idleAnswer.json()) as ErrorBody).error.message).toMatch(/without use \(accounts.session_idle\)/);
    clock.offsetMs += 21 * 60_000; // 121 min after login, used 21 min ago: past the 2 h lifetime
    const old = await events(busy);
    expect(old.status).toBe(401);
    expect(((await old.json()) as ErrorBody).error).toMatchObject({
      code: 'session_expired',
      message: 'your session expired (accounts.session_ttl); log in again',
    });
    const whoAmI = await cookieFetch(t.url, '/v1/session', busy, { csrf: false });
    expect(whoAmI.status).toBe(401);
    expect(whoAmI.headers.get('set-cookie')).toMatch(/^vigil_session=; Max-Age=0;/);
  });

  it('limits attempts per account: 429 with Retry-After, unknown emails alike; success refills', async () => {
    for (const email of ['o@example.com', 'ghost@example.com']) {
      for (let i = 0; i < 3; i++)
        expect((await postLogin(t.url, email, 'wrong password!', from('10.0.0.1'))).status).toBe(401);
      const refused = await postLogin(t.url, email, PASSWORD, from('10.0.0.2'));
      expect(refused.status).toBe(429);
      // 12 an hour: one every 300 s (less the little time the attempts took)
      const wait = Number(refused.headers.get('retry-after'));
      expect(wait).toBeGreaterThanOrEqual(280);
      expect(wait).toBeLessThanOrEqual(300);
      const body = (await refused.json()) as ErrorBody & { error: { details: Record<string, unknown> } };
      expect(body.error).toMatchObject({ code: 'rate_limited', details: { scope: 'account', retry_after_s: wait } });
      expect(body.error.message).toBe('too many login attempts for this account (email address); try again in 5 min');
    }
    clock.offsetMs += 300_000;
    await login(t.url, 'o@example.com', PASSWORD);
    // the success refilled the account: three more tries before a refusal
    for (let i = 0; i < 3; i++)
      expect((await postLogin(t.url, 'o@example.com', 'wrong again!', from('10.0.0.3'))).status).toBe(401);
    expect((await postLogin(t.url, 'o@example.com', 'wrong again!', from('10.0.0.3'))).status).toBe(429);
  });

  it('limits attempts per source address across accounts', async () => {
    for (let i = 0; i < 6; i++)
      expect((await postLogin(t.url, `u${i}@example.com`, 'whatever pw', from('198.51.100.7'))).status).toBe(401);
    const refused = await postLogin(t.url, 'fresh@example.com', 'whatever pw', from('198.51.100.7'));
    expect(refused.status).toBe(429);
    const wait = Number(refused.headers.get('retry-after'));
    expect(wait).toBeGreaterThanOrEqual(50);
    expect(wait).toBeLessThanOrEqual(60);
    const body = (await refused.json()) as ErrorBody;
    expect(body.error.message).toBe(
      `too many login attempts from your address (198.51.100.7, all accounts together); try again in ${wait} s`,
    );
    // another address is not held back
    expect((await postLogin(t.url, 'fresh@example.com', 'whatever pw', from('198.51.100.8'))).status).toBe(401);
  });
});

describe('loopback names (no Secure on plain http there)', () => {
  it('knows localhost, *.localhost, 127.0.0.0/8 and ::1, with or without port, and nothing else', () => {
    const loopback = [
      'localhost',
      'LOCALHOST:8080',
      'app.localhost',
      '127.0.0.1',
      '127.1.2.3:80',
      '[::1]',
      '[::1]:8080',
    ];
    for (const h of [...loopback, '::1']) expect(isLoopbackHost(h), h).toBe(true);
    const others = [
      '192.168.1.2',
      '10.127.0.0.1',
      'localhost.evil.com',
      '[::2]:80',
      '127.0.0.1.nip.io',
      'vigil.example',
    ];
    for (const h of others) expect(isLoopbackHost(h), h).toBe(false);
  });
});

describe('what the collector logs about logins', () => {
  it('never a password, a session secret or a CSRF token, at any level', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const t = await startTestCloud(sqliteBackend, {
      logger: createLogger({ component: 'cloud', level: 'trace', destination: destination as never }),
      overrides: { accounts: FAST_HASH },
    });
    let s: Session | undefined;
    try {
      await t.cloud.accounts.admin.create({
        email: 'l@example.com',
        tenantId: 'default',
        role: 'admin',
        password: PASSWORD,
      });
      expect((await postLogin(t.url, 'l@example.com', 'a wrong password')).status).toBe(401);
      s = await login(t.url, 'l@example.com', PASSWORD);
      expect((await cookieFetch(t.url, '/v1/pairing-codes', s, { method: 'POST', body: '{}' })).status).toBe(201);
      expect((await cookieFetch(t.url, '/v1/session', s, { method: 'DELETE' })).status).toBe(204);
    } finally {
      await t.close();
    }
    const log = lines.join('');
    expect(log).toContain('logged in');
    expect(log).toContain('login failed');
    const secrets = [PASSWORD, 'a wrong password', s!.cookie.slice('vigil_session='.length), s!.csrf];
    for (const secret of secrets) expect(log).not.toContain(secret);
    expect(log).not.toMatch(/csrf_token|x-csrf-token/i);
  });
});
