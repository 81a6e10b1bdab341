import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { apnsDeviceToken } from './support-push/keys.js';
import { cookieFetch, login, type Session } from './support-session/session-client.js';

/**
 * PUT /v1/push/tokens/{id}/preferences over real HTTP: what it stores and GET /v1/push/tokens shows, pointed 400s
 * for what the schema and the checks refuse (bad times, unknown time zones, cameras of no device of the tenant),
 * tenant scope, the web app's cookie with its CSRF token, and a re-registration keeping the preferences.
 */
const backends = await testBackends();
const PASSWORD = 'correct horse battery';

interface Registration {
  id: string;
  preferences: { labels: string[] | null; cameras: string[] | null; quiet_hours: Record<string, string> | null };
}

describe.each(backends)('push preferences API on $name', (backend) => {
  let t: TestCloud;
  let s: Session;
  let deviceId: string;
  let token: string;
  let id: string;

  beforeAll(async () => {
    t = await startTestCloud(backend, {
      overrides: { notify: { enabled: false }, accounts: { scrypt: { cost_log2: 14 } } },
    });
    await t.cloud.accounts.admin.create({
      email: 'o@example.com',
      tenantId: 'default',
      role: 'reader',
      password: PASSWORD,
    });
    s = await login(t.url, 'o@example.com', PASSWORD);
    deviceId = (await t.pairDevice('porch')).deviceId;
    token = apnsDeviceToken();
    const res = await t.api('/v1/push/tokens', {
      method: 'POST',
      token: t.tokens.reader,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ platform: 'apns', token, device_label: 'iPhone' }),
    });
    expect(res.status).toBe(201);
    id = ((await res.json()) as Registration).id;
  });
  afterAll(async () => {
    await t?.close();
  });

  const put = (body: unknown, who: { token?: string } = {}) =>
    t.api(`/v1/push/tokens/${id}/preferences`, {
      method: 'PUT',
      ...(who.token ? { token: who.token } : {}),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const listed = async (tok?: string): Promise<Registration[]> => {
    const res = await t.api('/v1/push/tokens', tok ? { token: tok } : {});
    return ((await res.json()) as { push_tokens: Registration[] }).push_tokens;
  };
  const all = { labels: null, cameras: null, quiet_hours: null };

  it('lists every registration with its preferences: nothing restricted at first', async () => {
    expect((await listed()).find((r) => r.id === id)?.preferences).toEqual(all);
  });

  it('stores them (reader token), answers the registration, lists them, keeps them on re-registration', async () => {
    const prefs = {
      labels: ['person', 'dog'],
      cameras: [`${deviceId}/front`],
      quiet_hours: { start: '22:30', end: '06:15', time_zone: 'Europe/Berlin' },
    };
    const res = await put(prefs, { token: t.tokens.reader });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Registration & { platform: string; device_label: string };
    expect(body).toMatchObject({ id, platform: 'apns', device_label: 'iPhone', preferences: prefs });
    expect((await listed()).find((r) => r.id === id)?.preferences).toEqual(prefs);
    const again = await t.api('/v1/push/tokens', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ platform: 'apns', token }),
    });
    expect(again.status).toBe(200);
    expect(((await again.json()) as Registration).preferences).toEqual(prefs);
    // [] is a choice too (nothing of that kind), null lifts the restriction
    const none = await put({ labels: [], cameras: null, quiet_hours: null });
    expect(((await none.json()) as Registration).preferences).toEqual({ ...all, labels: [] });
    expect(((await (await put(all)).json()) as Registration).preferences).toEqual(all);
  });

  it('refuses what it cannot honour with a 400 naming the field', async () => {
    const q = (start: string, end: string, time_zone = 'Europe/Berlin') => ({
      ...all,
      quiet_hours: { start, end, time_zone },
    });
    for (const [body, field, words] of [
      [q('24:00', '06:00'), 'body/quiet_hours/start', 'pattern'],
      [q('7:30', '08:00'), 'body/quiet_hours/start', 'pattern'],
      [q('22:00', '06:60'), 'body/quiet_hours/end', 'pattern'],
      [q('22:00', '22:00'), 'body/quiet_hours/end', 'equals start (22:00)'],
      [q('22:00', '06:00', 'Mars/Olympus_Mons'), 'body/quiet_hours/time_zone', 'not a known IANA time zone'],
      [q('22:00', '06:00', '+01:00'), 'body/quiet_hours/time_zone', 'not a known IANA time zone'],
      [{ ...all, quiet_hours: { start: '22:00', end: '06:00' } }, 'body/quiet_hours/time_zone', 'required'],
      [{ ...all, quiet_hours: '22:00-06:00' }, 'body/quiet_hours', 'object'],
      [{ ...all, cameras: ['front'] }, 'body/cameras/0', 'pattern'],
      [{ ...all, cameras: ['dev_nope/front'] }, 'body/cameras/0', 'no device dev_nope in this tenant'],
      [{ ...all, labels: { person: true } }, 'body/labels', 'array'],
      [{ ...all, labels: [''] }, 'body/labels/0', 'fewer than 1'],
      [{ labels: null, cameras: null }, 'body/quiet_hours', 'required'],
      [{ ...all, colour: 'red' }, 'body/colour', 'additional'],
    ] as const) {
      const res = await put(body);
      const text = await res.text();
      expect(res.status, `${JSON.stringify(body)} → ${text}`).toBe(400);
      const { error } = JSON.parse(text) as { error: { code: string; message: string } };
      expect(error.code).toBe('invalid_request');
      expect(error.message, JSON.stringify(body)).toContain(`${field}:`);
      expect(error.message, JSON.stringify(body)).toContain(words);
    }
    expect((await listed()).find((r) => r.id === id)?.preferences).toEqual(all);
  });

  it("is tenant-scoped: another tenant's token cannot see or change the registration", async () => {
    const res = await put({ ...all, labels: ['car'] }, { token: t.tokens.otherTenant });
    expect(res.status).toBe(404);
    expect((await listed(t.tokens.otherTenant)).map((r) => r.id)).not.toContain(id);
    expect((await listed()).find((r) => r.id === id)?.preferences).toEqual(all);
    expect((await t.api(`/v1/push/tokens/${id}/preferences`, { method: 'PUT', token: null })).status).toBe(401);
  });

  it("takes the web app's session cookie, with its CSRF token", async () => {
    const path = `/v1/push/tokens/${id}/preferences`;
    const body = JSON.stringify({ ...all, labels: ['cat'] });
    expect((await cookieFetch(t.url, path, s, { method: 'PUT', body, csrf: false })).status).toBe(403);
    const ok = await cookieFetch(t.url, path, s, { method: 'PUT', body });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as Registration).preferences.labels).toEqual(['cat']);
  });
});
