import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { vapidTestKeys } from './support-push/keys.js';
import { WebPushTestServer } from './support-push/webpush-server.js';
import { cookieFetch, login, type Session } from './support-session/session-client.js';

/**
 * What the web app's Notifications screen calls, logged in with the cookie, over real HTTP: the VAPID public key,
 * and "send a test notification" to a registered browser — delivered through the real Web Push sender to a local
 * push service that checks VAPID and decrypts the payload, the outcome recorded on the registration.
 */
const backends = await testBackends();
const PASSWORD = 'correct horse battery';

interface ErrorBody {
  error: { code: string; message: string };
}

describe.each(backends)('Web Push set-up from the web app on $name', (backend) => {
  let t: TestCloud;
  let bare: TestCloud;
  let pushService: WebPushTestServer;
  let s: Session;
  let other: Session;
  const vapid = vapidTestKeys();

  beforeAll(async () => {
    pushService = await WebPushTestServer.start();
    t = await startTestCloud(backend, {
      overrides: {
        accounts: { scrypt: { cost_log2: 14 } },
        push: {
          webpush: {
            subject: 'mailto:ops@vigil.example.com',
            public_key: vapid.publicKey,
            private_key: vapid.privateKey,
          },
        },
      },
    });
    bare = await startTestCloud(backend, { db: t.db, overrides: { accounts: { scrypt: { cost_log2: 14 } } } });
    await t.cloud.accounts.admin.create({
      email: 'o@example.com',
      tenantId: 'default',
      role: 'reader',
      password: PASSWORD,
    });
    await t.cloud.accounts.admin.create({
      email: 'a@example.com',
      tenantId: 'acme',
      role: 'admin',
      password: PASSWORD,
    });
    s = await login(t.url, 'o@example.com', PASSWORD);
    other = await login(t.url, 'a@example.com', PASSWORD);
  });
  afterAll(async () => {
    await bare?.close();
    await t?.close();
    await pushService?.close();
  });

  it('gives the VAPID public key to a logged-in browser; 404, pointed, where push is not set up', async () => {
    const res = await cookieFetch(t.url, '/v1/push/vapid-public-key', s, { csrf: false });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ public_key: vapid.publicKey });
    expect((await fetch(`${t.url}/v1/push/vapid-public-key`)).status).toBe(401);
    const none = await cookieFetch(bare.url, '/v1/push/vapid-public-key', s, { csrf: false });
    expect(none.status).toBe(404);
    expect(((await none.json()) as ErrorBody).error.message).toMatch(/Web Push is not configured on this collector/);
  });

  it("sends a test notification to the tenant's registration, records the outcome, limits repeats", async () => {
    // PushManager.subscribe() on the local push service (http, so registered through the store as the API wants https)
    const sub = pushService.subscribe(vapid.publicKey);
    const { record } = await t.cloud.store.upsertPushToken({
      tenantId: 'default',
      platform: 'webpush',
      token: sub.endpoint,
      p256dh: sub.keys.p256dh,
      auth: sub.keys.auth,
      deviceLabel: 'test browser',
      now: Date.now(),
    });
    const path = `/v1/push/tokens/${record.id}/test`;
    // state-changing: the CSRF token is needed with the cookie
    expect((await cookieFetch(t.url, path, s, { method: 'POST', csrf: false })).status).toBe(403);
    expect(pushService.deliveries).toHaveLength(0);

    const sent = await cookieFetch(t.url, path, s, { method: 'POST' });
    expect(sent.status).toBe(200);
    expect(await sent.json()).toEqual({ id: record.id, status: 'sent', http_status: 201, reason: null, attempts: 1 });
    expect(pushService.deliveries).toHaveLength(1);
    expect(JSON.parse(pushService.deliveries[0]!.plaintext)).toEqual({
      title: 'Vigil test notification',
      body: 'Notifications work on this device.',
      event_id: 'test',
      thumbnail_url: `${t.url}/icons/icon-192.png`,
      tag: `test-${record.id}`,
    });
    const listed = await cookieFetch(t.url, '/v1/push/tokens', s, { csrf: false });
    const tokens = ((await listed.json()) as { push_tokens: Array<Record<string, unknown>> }).push_tokens;
    expect(tokens.find((p) => p.id === record.id)).toMatchObject({ last_status: 'sent', failures: 0 });

    const again = await cookieFetch(t.url, path, s, { method: 'POST' });
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await again.json()) as ErrorBody).error.message).toMatch(/a test notification was sent to this device/);

    // another tenant's registration id is not found
    const foreign = await cookieFetch(t.url, path, other, { method: 'POST' });
    expect(foreign.status).toBe(404);
    expect(pushService.deliveries).toHaveLength(1);
  });

  it('says so when the collector has no sender for the platform', async () => {
    const sub = pushService.subscribe(vapid.publicKey);
    const { record } = await t.cloud.store.upsertPushToken({
      tenantId: 'default',
      platform: 'webpush',
      token: sub.endpoint,
      p256dh: sub.keys.p256dh,
      auth: sub.keys.auth,
      now: Date.now(),
    });
    const res = await cookieFetch(bare.url, `/v1/push/tokens/${record.id}/test`, s, { method: 'POST' });
    expect(res.status).toBe(409);
    expect(((await res.json()) as ErrorBody).error.message).toBe(
      'push for webpush is not configured on this collector (push.webpush)',
    );
  });
});
