import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqliteBackend } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { cookieFetch, login, postLogin, type Session } from './support-session/session-client.js';

/**
 * A page on another origin must not change anything with the owner's cookie: every cookie-authenticated POST, PUT,
 * PATCH or DELETE needs the session's X-CSRF-Token and, when the browser says where it comes from (Origin,
 * Sec-Fetch-Site), this origin. Bearer-token requests are not affected. Real HTTP, the pairing-code route as the
 * state-changing example (admin), the count of codes as the proof nothing changed.
 */
const PASSWORD = 'correct horse battery';
const PUBLIC_URL = 'https://vigil.example.com';

interface ErrorBody {
  error: { code: string; message: string; details?: { reason?: string } };
}

describe('CSRF defence of cookie-authenticated requests', () => {
  let t: TestCloud;
  let s: Session;
  const codes = async (): Promise<number> =>
    ((await (await t.api('/v1/pairing-codes')).json()) as { pairing_codes: unknown[] }).pairing_codes.length;
  const createCode = (init: Parameters<typeof cookieFetch>[3] = {}) =>
    cookieFetch(t.url, '/v1/pairing-codes', s, { method: 'POST', body: '{}', ...init });
  const refused = async (res: Response, reason: string): Promise<void> => {
    expect(res.status).toBe(403);
    const body = (await res.json()) as ErrorBody;
    expect(body.error.code).toBe('csrf_failed');
    expect(body.error.details?.reason).toBe(reason);
  };

  beforeAll(async () => {
    t = await startTestCloud(sqliteBackend, {
      overrides: { accounts: { scrypt: { cost_log2: 14 } }, server: { public_url: PUBLIC_URL } },
    });
    await t.cloud.accounts.admin.create({
      email: 'o@example.com',
      tenantId: 'default',
      role: 'admin',
      password: PASSWORD,
    });
    s = await login(t.url, 'o@example.com', PASSWORD);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses a cookie request without the token, with a wrong one, or from another origin or site', async () => {
    const before = await codes();
    await refused(await createCode({ csrf: false }), 'token_missing');
    await refused(await createCode({ csrf: 'A'.repeat(43) }), 'token_mismatch');
    // the right token does not help a page on another origin (a token leaked into it, say)
    await refused(await createCode({ origin: 'https://evil.example.net' }), 'origin');
    await refused(await createCode({ origin: 'null' }), 'origin');
    await refused(await createCode({ headers: { 'sec-fetch-site': 'cross-site' } }), 'sec_fetch_site');
    await refused(await createCode({ headers: { 'sec-fetch-site': 'same-site' } }), 'sec_fetch_site');
    // DELETE too: logout and device revocation are state changes
    await refused(await cookieFetch(t.url, '/v1/session', s, { method: 'DELETE', csrf: false }), 'token_missing');
    expect(await codes()).toBe(before);
    // the session survived the refused logout
    expect((await cookieFetch(t.url, '/v1/session', s, { csrf: false })).status).toBe(200);
  });

  it('accepts the token from this origin: as sent to it, as server.public_url, or without origin headers', async () => {
    const before = await codes();
    expect((await createCode({ origin: t.url })).status).toBe(201);
    expect((await createCode({ origin: PUBLIC_URL })).status).toBe(201);
    expect((await createCode({ headers: { 'sec-fetch-site': 'same-origin' } })).status).toBe(201);
    expect((await createCode()).status).toBe(201);
    expect(await codes()).toBe(before + 4);
  });

  it('reads need no token (SameSite=Strict keeps the cookie off cross-site requests anyway)', async () => {
    expect((await cookieFetch(t.url, '/v1/events', s, { csrf: false })).status).toBe(200);
  });

  it('refuses a login posted from another origin (no session to steal, but no login to plant either)', async () => {
    const res = await postLogin(t.url, 'o@example.com', PASSWORD, { origin: 'https://evil.example.net' });
    await refused(res, 'origin');
    expect(res.headers.get('set-cookie')).toBeNull();
    const same = await postLogin(t.url, 'o@example.com', PASSWORD, { origin: t.url });
    expect(same.status).toBe(200);
  });

  it('leaves bearer-token requests alone, whatever their origin headers say', async () => {
    const res = await t.api('/v1/pairing-codes', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        origin: 'https://evil.example.net',
        'sec-fetch-site': 'cross-site',
      },
      body: '{}',
    });
    expect(res.status).toBe(201);
  });
});
