import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock/index.js';
import { newEventId } from '../../shared/ids/index.js';
import { FcmSender, serviceAccountFromConfig, type FcmSenderOptions } from '../push/fcm.js';
import type { Notification } from '../push/notification.js';
import { PushService } from '../push/service.js';
import { FcmTestServer } from './support-push/fcm-server.js';
import { fcmRegistrationToken, fcmTestAccount, type FcmTestAccount } from './support-push/keys.js';

const T0 = Date.UTC(2026, 2, 1, 8);

function notification(over: Partial<Notification> = {}): Notification {
  const id = newEventId();
  return {
    event_id: id,
    title: 'Car at Driveway',
    body: 'Seen at 08:00',
    thumbnail_url: `https://vigil.example.com/v1/events/${id}/thumbnail`,
    collapse_id: id,
    priority: 'high',
    ...over,
  };
}

const open: Array<{ close(): Promise<void> }> = [];
// RSA key generation is slow: one account (and one stranger) for the file.
let base: FcmTestAccount;
let stranger: FcmTestAccount;
beforeAll(async () => {
  [base, stranger] = await Promise.all([
    fcmTestAccount('http://127.0.0.1/token'),
    fcmTestAccount('http://127.0.0.1/token'),
  ]);
});
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function setup(opts: { tokenLifetimeS?: number; sender?: Partial<FcmSenderOptions> } = {}) {
  const clock = new ManualClock(T0);
  const placeholder = base;
  const server = await FcmTestServer.start({
    clientEmail: placeholder.json.client_email,
    publicKey: placeholder.publicKey,
    projectId: placeholder.json.project_id,
    clock,
    ...(opts.tokenLifetimeS ? { tokenLifetimeS: opts.tokenLifetimeS } : {}),
  });
  open.push(server);
  // The token URI is only known once the server listens.
  const account: FcmTestAccount = { ...placeholder, json: { ...placeholder.json, token_uri: server.tokenUri } };
  const sender = new FcmSender({
    account: account.json,
    endpoint: server.url,
    ttlMs: 3_600_000,
    clock,
    ...opts.sender,
  });
  open.push(sender);
  return { clock, server, sender, account };
}

describe('FCM HTTP v1 sender against the local FCM', () => {
  it('gets an access token with a JWT-bearer assertion and sends the v1 message', async () => {
    const { server, sender, account } = await setup();
    const token = fcmRegistrationToken();
    const n = notification({ unverified: false });
    const outcome = await sender.send({ platform: 'fcm', token }, n);
    expect(outcome.status).toBe('sent');
    expect(outcome.providerId).toMatch(/^projects\/vigil-test\/messages\/[0-9a-f]+$/);
    expect(server.grants).toHaveLength(1);
    const claims = server.grants[0]!.claims!;
    expect(claims).toMatchObject({
      iss: account.json.client_email,
      scope: 'https://www.googleapis.com/auth/firebase.messaging',
      aud: server.tokenUri,
      iat: T0 / 1000,
      exp: T0 / 1000 + 3600,
    });
    expect(server.deliveries).toHaveLength(1);
    expect(server.deliveries[0]!.message).toEqual({
      token,
      notification: { title: n.title, body: n.body },
      data: { event_id: n.event_id, thumbnail_url: n.thumbnail_url, unverified: 'false' },
      android: { collapse_key: n.event_id, priority: 'HIGH', ttl: '3600s', notification: { tag: n.event_id } },
      apns: { headers: { 'apns-collapse-id': n.event_id, 'apns-priority': '10' } },
    });
  });

  it('a review item update: same collapse key and Android tag, review_id and update in the data', async () => {
    const { server, sender } = await setup();
    const token = fcmRegistrationToken();
    const reviewId = 'rev_01JAAAAAAAAAAAAAAAAAAAAAAA';
    const first = notification({ review_id: reviewId, collapse_id: reviewId });
    const update = notification({ review_id: reviewId, collapse_id: reviewId, update: true, priority: 'normal' });
    for (const n of [first, update]) expect((await sender.send({ platform: 'fcm', token }, n)).status).toBe('sent');
    const [a, b] = server.deliveries.map((d) => d.message);
    for (const m of [a!, b!])
      expect(m.android).toMatchObject({ collapse_key: reviewId, notification: { tag: reviewId } });
    expect(a!.data).toMatchObject({ review_id: reviewId, event_id: first.event_id });
    expect((a!.data as Record<string, string>).update).toBeUndefined();
    expect(b!.data).toMatchObject({ review_id: reviewId, update: 'true' });
    expect(b!.android).toMatchObject({ priority: 'NORMAL' });
  });

  it('caches the access token until shortly before expires_in; concurrent sends share one fetch', async () => {
    const { server, sender, clock } = await setup();
    const service = new PushService({ senders: [sender], concurrency: 6 });
    const targets = Array.from({ length: 12 }, () => ({ platform: 'fcm' as const, token: fcmRegistrationToken() }));
    const results = await service.send(notification({ priority: 'normal' }), targets);
    expect(results.every((r) => r.outcome.status === 'sent')).toBe(true);
    expect(server.grants).toHaveLength(1);
    expect(server.deliveries[0]!.message.android).toMatchObject({ priority: 'NORMAL' });
    clock.advance(54 * 60_000);
    await sender.send(targets[0]!, notification());
    expect(server.grants).toHaveLength(1);
    clock.advance(2 * 60_000); // 56 min: inside the last 5 minutes of the hour
    await sender.send(targets[0]!, notification());
    expect(server.grants).toHaveLength(2);
    expect(sender.accessToken.fetches).toBe(2);
    expect(new Set(server.deliveries.map((d) => d.accessToken)).size).toBe(2);
  });

  it('renews a short-lived access token after 90 % of its life', async () => {
    const { server, sender, clock } = await setup({ tokenLifetimeS: 100 });
    const target = { platform: 'fcm' as const, token: fcmRegistrationToken() };
    await sender.send(target, notification());
    clock.advance(89_000);
    await sender.send(target, notification());
    expect(server.grants).toHaveLength(1);
    clock.advance(2_000);
    await sender.send(target, notification());
    expect(server.grants).toHaveLength(2);
  });

  it('refreshes the access token once on 401 and retries', async () => {
    const { server, sender } = await setup();
    const target = { platform: 'fcm' as const, token: fcmRegistrationToken() };
    expect((await sender.send(target, notification())).status).toBe('sent');
    server.revokeAccessTokens();
    expect((await sender.send(target, notification())).status).toBe('sent');
    expect(server.grants).toHaveLength(2);
    expect(server.sends.map((s) => s.status)).toEqual([200, 401, 200]);
  });

  it('prunes UNREGISTERED and malformed tokens, not a message the server calls invalid for another field', async () => {
    const { server, sender } = await setup();
    const gone = fcmRegistrationToken();
    server.unregister(gone);
    const scriptedInvalid = fcmRegistrationToken();
    server.script(scriptedInvalid, { status: 400, errorCode: 'INVALID_ARGUMENT' });
    const service = new PushService({ senders: [sender] });
    const results = await service.send(notification(), [
      { id: 'gone', platform: 'fcm', token: gone },
      { id: 'malformed', platform: 'fcm', token: 'short' },
      { id: 'invalid', platform: 'fcm', token: scriptedInvalid },
    ]);
    const byId = Object.fromEntries(results.map((r) => [r.target.id, r.outcome]));
    expect(byId.gone).toEqual({ status: 'invalid_token', httpStatus: 404, reason: 'UNREGISTERED' });
    expect(byId.malformed).toEqual({ status: 'invalid_token', httpStatus: 400, reason: 'INVALID_ARGUMENT' });
    expect(byId.invalid).toEqual({ status: 'invalid_token', httpStatus: 400, reason: 'INVALID_ARGUMENT' });

    // A payload the server rejects (string data values are required) is a failure, not a dead token.
    const original = sender.message.bind(sender);
    sender.message = (token, n) => ({ ...original(token, n), data: { event_id: n.event_id, count: 3 } });
    const o = await sender.send({ platform: 'fcm', token: fcmRegistrationToken() }, notification());
    expect(o).toEqual({ status: 'failed', httpStatus: 400, reason: 'INVALID_ARGUMENT' });
  });

  it('retries 429 and 503 after the Retry-After the server gave', async () => {
    const { server, sender, clock } = await setup();
    const token = fcmRegistrationToken();
    server.script(
      token,
      { status: 429, errorCode: 'QUOTA_EXCEEDED', retryAfterS: 7 },
      { status: 503, errorCode: 'UNAVAILABLE', retryAfterS: 2 },
    );
    const waits: number[] = [];
    const service = new PushService({
      senders: [sender],
      sleep: async (ms) => {
        waits.push(ms);
        clock.advance(ms);
      },
    });
    const [r] = await service.send(notification(), [{ platform: 'fcm', token }]);
    expect(r).toMatchObject({ attempts: 3, outcome: { status: 'sent' } });
    expect(waits).toEqual([7000, 2000]);
    expect(server.sends.map((s) => [s.status, s.at - T0])).toEqual([
      [429, 0],
      [503, 7000],
      [200, 9000],
    ]);
  });

  it('an assertion signed with another key gets invalid_grant and nothing is sent', async () => {
    const { server, account } = await setup();
    const impostor = new FcmSender({
      account: { ...account.json, private_key: stranger.json.private_key },
      endpoint: server.url,
    });
    open.push(impostor);
    const o = await impostor.send({ platform: 'fcm', token: fcmRegistrationToken() }, notification());
    expect(o).toEqual({ status: 'failed', httpStatus: 400, reason: 'oauth_token_failed' });
    expect(server.grants).toHaveLength(1);
    expect(server.grants[0]).toMatchObject({ ok: false, error: 'invalid_grant' });
    expect(server.sends).toHaveLength(0);
  });

  it('reads the service account from JSON text or a file, with clear errors', async () => {
    const { account } = await setup();
    expect(serviceAccountFromConfig({ service_account_json: JSON.stringify(account.json) }).client_email).toBe(
      account.json.client_email,
    );
    expect(() => serviceAccountFromConfig({ service_account_json: '{"client_email":"x"}' })).toThrow(
      /push\.fcm\.service_account_json: .*private_key/,
    );
    expect(() => serviceAccountFromConfig({ service_account_file: '/nonexistent/sa.json' })).toThrow(/cannot read/);
    expect(() => serviceAccountFromConfig({})).toThrow(/set service_account_file or service_account_json/);
  });
});
