import { createECDH, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock/index.js';
import { newEventId } from '../../shared/ids/index.js';
import { PushService } from '../push/service.js';
import { pushTargetOf, recordPushResults } from '../push/targets.js';
import { WebPushSender } from '../push/webpush.js';
import { testBackends } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { apnsDeviceToken, fcmRegistrationToken, vapidTestKeys } from './support-push/keys.js';
import { WebPushTestServer } from './support-push/webpush-server.js';

const backends = await testBackends();

function browserSubscription(endpoint = `https://push.example.net/wpush/v2/${randomBytes(24).toString('base64url')}`) {
  const ecdh = createECDH('prime256v1');
  return {
    endpoint,
    expirationTime: null,
    keys: { p256dh: ecdh.generateKeys().toString('base64url'), auth: randomBytes(16).toString('base64url') },
  };
}

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

describe.each(backends)('push token registration on $name', (backend) => {
  let t: TestCloud;
  beforeAll(async () => {
    t = await startTestCloud(backend);
  });
  afterAll(async () => {
    await t.close();
  });

  it('registers each platform, refreshes on re-registration, lists without revealing tokens', async () => {
    const apnsToken = apnsDeviceToken().toUpperCase();
    const a = await t.api('/v1/push/tokens', {
      ...json({ platform: 'apns', token: apnsToken, app_id: 'com.example.vigil', device_label: "Anna's iPhone" }),
      token: t.tokens.reader,
    });
    expect(a.status).toBe(201);
    const apns = (await a.json()) as Record<string, unknown>;
    expect(apns).toMatchObject({
      platform: 'apns',
      app_id: 'com.example.vigil',
      device_label: "Anna's iPhone",
      token_hint: `…${apnsToken.slice(-8).toLowerCase()}`,
      failures: 0,
      last_status: null,
    });
    expect(String(apns.id)).toMatch(/^pt_/);

    // Same token again (any case): the same registration, updated; the label is kept when not given.
    const again = await t.api('/v1/push/tokens', json({ platform: 'apns', token: apnsToken.toLowerCase() }));
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ id: apns.id, device_label: "Anna's iPhone" });

    const f = await t.api('/v1/push/tokens', json({ platform: 'fcm', token: fcmRegistrationToken() }));
    expect(f.status).toBe(201);
    const sub = browserSubscription();
    const w = await t.api('/v1/push/tokens', json({ platform: 'webpush', subscription: sub, device_label: 'Firefox' }));
    expect(w.status).toBe(201);
    expect(((await w.json()) as { token_hint: string }).token_hint).toBe(
      `https://push.example.net/…${sub.endpoint.slice(-6)}`,
    );

    const list = await t.api('/v1/push/tokens', { token: t.tokens.reader });
    expect(list.status).toBe(200);
    const { push_tokens } = (await list.json()) as { push_tokens: Array<Record<string, unknown>> };
    expect(push_tokens.map((p) => p.platform)).toEqual(['apns', 'fcm', 'webpush']);
    const text = JSON.stringify(push_tokens);
    expect(text).not.toContain(apnsToken.toLowerCase());
    expect(text).not.toContain(sub.keys.auth);

    // Stored in full for the senders.
    const stored = await t.cloud.store.listPushTokens('default');
    expect(stored.find((s) => s.platform === 'apns')?.token).toBe(apnsToken.toLowerCase());
    expect(stored.find((s) => s.platform === 'webpush')).toMatchObject({
      token: sub.endpoint,
      p256dh: sub.keys.p256dh,
      auth: sub.keys.auth,
      deviceLabel: 'Firefox',
    });
  });

  it('rejects bad registrations naming the field, and anonymous callers', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ platform: 'apns' }, /body\/token: required for apns/],
      [{ platform: 'apns', token: 'xyz' }, /body\/token: an APNs device token is hex/],
      [{ platform: 'fcm', token: 'short' }, /body\/token: an FCM registration token/],
      [{ platform: 'webpush', token: 'abc' }, /body\/token: webpush registers a subscription/],
      [{ platform: 'webpush' }, /body\/subscription: required for webpush/],
      [
        { platform: 'apns', token: apnsDeviceToken(), subscription: browserSubscription() },
        /body\/subscription: only for webpush/,
      ],
      [
        { platform: 'webpush', subscription: browserSubscription('http://push.example.net/x/abcdef') },
        /body\/subscription\/endpoint/,
      ],
      [
        {
          platform: 'webpush',
          subscription: {
            ...browserSubscription(),
            keys: { p256dh: 'A'.repeat(87), auth: randomBytes(16).toString('base64url') },
          },
        },
        /keys\/p256dh: must be an uncompressed P-256 point/,
      ],
      [{ platform: 'sms', token: 'x' }, /body\/platform/],
      [{ platform: 'fcm', token: fcmRegistrationToken(), extra: 1 }, /extra/],
    ];
    for (const [body, message] of cases) {
      const res = await t.api('/v1/push/tokens', json(body));
      expect(res.status, JSON.stringify(body)).toBe(400);
      const err = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect(err.code).toBe('invalid_request');
      expect(err.message).toMatch(message);
    }
    expect(
      (await t.api('/v1/push/tokens', { ...json({ platform: 'fcm', token: fcmRegistrationToken() }), token: null }))
        .status,
    ).toBe(401);
    expect((await t.api('/v1/push/tokens', { token: null })).status).toBe(401);
  });

  it('binds registrations to the tenant: another tenant neither sees nor deletes them', async () => {
    const res = await t.api('/v1/push/tokens', json({ platform: 'fcm', token: fcmRegistrationToken() }));
    const { id } = (await res.json()) as { id: string };
    const theirs = (await (await t.api('/v1/push/tokens', { token: t.tokens.otherTenant })).json()) as {
      push_tokens: Array<{ id: string }>;
    };
    expect(theirs.push_tokens.map((p) => p.id)).not.toContain(id);
    const del = await t.api(`/v1/push/tokens/${id}`, { method: 'DELETE', token: t.tokens.otherTenant });
    expect(del.status).toBe(404);
    expect(((await del.json()) as { error: { code: string } }).error.code).toBe('not_found');
    // The same token in another tenant is a separate registration.
    const token = fcmRegistrationToken();
    const mine = (await (await t.api('/v1/push/tokens', json({ platform: 'fcm', token }))).json()) as { id: string };
    const other = await t.api('/v1/push/tokens', { ...json({ platform: 'fcm', token }), token: t.tokens.otherTenant });
    expect(other.status).toBe(201);
    expect(((await other.json()) as { id: string }).id).not.toBe(mine.id);

    const ok = await t.api(`/v1/push/tokens/${id}`, { method: 'DELETE', token: t.tokens.reader });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ id, deleted: true });
    expect((await t.api(`/v1/push/tokens/${id}`, { method: 'DELETE' })).status).toBe(404);
    expect(await t.cloud.store.getPushToken('default', id)).toBeUndefined();
  });

  it('records delivery outcomes and prunes invalid tokens (store methods used by the push caller)', async () => {
    const store = t.cloud.store;
    const tenant = 'outcomes';
    await store.ensureTenant(tenant);
    const ok = await store.upsertPushToken({ tenantId: tenant, platform: 'apns', token: apnsDeviceToken(), now: 1000 });
    const dead = await store.upsertPushToken({
      tenantId: tenant,
      platform: 'fcm',
      token: fcmRegistrationToken(),
      now: 1000,
    });
    expect(ok.created && dead.created).toBe(true);
    expect(
      await store.recordOutcome(ok.record.id, { status: 'retry', httpStatus: 503, reason: 'ServiceUnavailable' }, 2000),
    ).toBe(true);
    expect(
      await store.recordOutcome(ok.record.id, { status: 'failed', httpStatus: 400, reason: 'BadPriority' }, 3000),
    ).toBe(true);
    expect(await store.getPushToken(tenant, ok.record.id)).toMatchObject({
      lastStatus: 'failed',
      lastHttpStatus: 400,
      lastReason: 'BadPriority',
      lastAttemptAt: 3000,
      lastSentAt: null,
      failures: 2,
    });
    await store.recordOutcome(ok.record.id, { status: 'sent', httpStatus: 200 }, 4000);
    expect(await store.getPushToken(tenant, ok.record.id)).toMatchObject({
      lastStatus: 'sent',
      lastHttpStatus: 200,
      lastReason: null,
      lastSentAt: 4000,
      failures: 0,
    });
    expect(await store.pruneToken(dead.record.id)).toBe(true);
    expect(await store.pruneToken(dead.record.id)).toBe(false);
    expect(await store.recordOutcome(dead.record.id, { status: 'sent', httpStatus: 200 }, 5000)).toBe(false);
    expect((await store.listPushTokens(tenant)).map((r) => r.id)).toEqual([ok.record.id]);
    expect(await store.listPushTokens(tenant, 'fcm')).toEqual([]);
  });

  it('stored registrations drive a real fan-out; the results are recorded and gone subscriptions pruned', async () => {
    const server = await WebPushTestServer.start();
    const vapid = vapidTestKeys();
    const sender = new WebPushSender({
      subject: 'mailto:ops@vigil.example.com',
      publicKey: vapid.publicKey,
      privateKey: vapid.privateKey,
    });
    try {
      const store = t.cloud.store;
      const tenant = 'fanout';
      await store.ensureTenant(tenant);
      // The local push service speaks http; the API only accepts https endpoints, so these go in through the store.
      const live = server.subscribe(vapid.publicKey);
      const gone = server.subscribe(vapid.publicKey);
      server.expire(gone);
      for (const s of [live, gone])
        await store.upsertPushToken({
          tenantId: tenant,
          platform: 'webpush',
          token: s.endpoint,
          p256dh: s.keys.p256dh,
          auth: s.keys.auth,
          now: 1,
        });
      const records = await store.listPushTokens(tenant);
      const service = new PushService({ senders: [sender] });
      const id = newEventId();
      const results = await service.send(
        {
          event_id: id,
          title: 'Person at Gate',
          body: 'now',
          thumbnail_url: `https://vigil.example.com/t/${id}`,
          collapse_id: id,
          priority: 'high',
        },
        records.map(pushTargetOf),
      );
      const clock = new ManualClock(5000);
      expect(await recordPushResults(store, results, clock.now())).toEqual({ sent: 1, pruned: 1, retry: 0, failed: 0 });
      const left = await store.listPushTokens(tenant);
      expect(left).toHaveLength(1);
      expect(left[0]).toMatchObject({
        token: live.endpoint,
        lastStatus: 'sent',
        lastHttpStatus: 201,
        lastSentAt: 5000,
      });
      expect(JSON.parse(server.deliveries[0]!.plaintext)).toMatchObject({ event_id: id });
    } finally {
      await sender.close();
      await server.close();
    }
  });
});
