import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { ManualClock } from '../../shared/clock/index.js';
import { newEventId } from '../../shared/ids/index.js';
import { ApnsSender, type ApnsSenderOptions } from '../push/apns.js';
import type { Notification } from '../push/notification.js';
import { PushService } from '../push/service.js';
import { ApnsTestServer } from './support-push/apns-server.js';
import { apnsDeviceToken, apnsTestKey, type ApnsTestKey } from './support-push/keys.js';
import { selfSignedCert, type TestCert } from './support-push/tls.js';

const BUNDLE = 'com.example.vigil';
const T0 = Date.UTC(2026, 2, 1, 8);
const MIN = 60_000;

function notification(over: Partial<Notification> = {}): Notification {
  const id = newEventId();
  return {
    event_id: id,
    title: 'Person at Front door',
    body: 'Seen at 08:00',
    thumbnail_url: `https://vigil.example.com/v1/events/${id}/thumbnail`,
    collapse_id: id,
    priority: 'high',
    ...over,
  };
}

let key: ApnsTestKey;
let cert: TestCert | undefined;
const open: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  key = await apnsTestKey();
  cert = selfSignedCert();
  if (!cert)
    process.stderr.write('\n!!! openssl not found: APNs tests run over cleartext HTTP/2 (h2c) instead of TLS\n\n');
});
afterAll(() => cert?.cleanup());
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

/** An ApnsSender's options for the test key, against the local APNs at `endpoint` (trusting its cert when TLS). */
function senderOptions(endpoint: string, clock: ManualClock): ApnsSenderOptions {
  return {
    teamId: key.teamId,
    keyId: key.keyId,
    keyPem: key.pem,
    bundleId: BUNDLE,
    endpoint,
    ...(cert ? { ca: cert.cert } : {}),
    clock,
  };
}

async function setup(
  opts: { serverClock?: ManualClock; clock?: ManualClock; sender?: Partial<ApnsSenderOptions> } = {},
) {
  const clock = opts.clock ?? new ManualClock(T0);
  const server = await ApnsTestServer.start({
    teamId: key.teamId,
    keyId: key.keyId,
    publicKey: key.publicKey,
    bundleId: BUNDLE,
    clock: opts.serverClock ?? clock,
    ...(cert ? { tls: { key: cert.key, cert: cert.cert } } : {}),
  });
  open.push(server);
  const sender = new ApnsSender({ ...senderOptions(server.url, clock), ttlMs: 3_600_000, ...opts.sender });
  open.push(sender);
  return { clock, server, sender };
}

describe('APNs sender against the local APNs', () => {
  it('delivers with the provider token, headers and payload APNs expects (over TLS when openssl exists)', async () => {
    const { server, sender, clock } = await setup();
    if (cert) expect(server.url.startsWith('https://')).toBe(true);
    const token = apnsDeviceToken();
    const n = notification({ unverified: true, thread_id: 'front-door' });
    const outcome = await sender.send({ platform: 'apns', token }, n);
    expect(outcome.status).toBe('sent');
    expect(outcome.httpStatus).toBe(200);
    expect(server.deliveries).toHaveLength(1);
    const d = server.deliveries[0]!;
    expect(outcome.providerId).toBe(d.apnsId);
    expect(d.token).toBe(token);
    expect(d.headers).toMatchObject({
      'apns-topic': BUNDLE,
      'apns-push-type': 'alert',
      'apns-priority': '10',
      'apns-expiration': String(Math.floor((clock.now() + 3_600_000) / 1000)),
      'apns-collapse-id': n.event_id,
    });
    expect(d.headers.authorization).toBe(`bearer ${d.jwt}`);
    expect(decodeProtectedHeader(d.jwt)).toEqual({ alg: 'ES256', kid: key.keyId });
    expect(decodeJwt(d.jwt)).toEqual({ iss: key.teamId, iat: Math.floor(T0 / 1000) });
    expect(d.payload).toEqual({
      aps: {
        alert: { title: n.title, body: n.body },
        sound: 'default',
        'mutable-content': 1,
        'thread-id': 'front-door',
      },
      event_id: n.event_id,
      thumbnail_url: n.thumbnail_url,
      unverified: true,
    });
  });

  it('a review item update replaces the first push quietly: same collapse id, no sound, review_id', async () => {
    const { server, sender } = await setup();
    const token = apnsDeviceToken();
    const reviewId = 'rev_01JAAAAAAAAAAAAAAAAAAAAAAA';
    const first = notification({ review_id: reviewId, collapse_id: reviewId });
    const update = notification({ review_id: reviewId, collapse_id: reviewId, update: true, priority: 'normal' });
    for (const n of [first, update]) expect((await sender.send({ platform: 'apns', token }, n)).status).toBe('sent');
    const [a, b] = server.deliveries;
    expect([a!.headers['apns-collapse-id'], b!.headers['apns-collapse-id']]).toEqual([reviewId, reviewId]);
    expect(a!.payload).toMatchObject({ review_id: reviewId, aps: { sound: 'default' } });
    expect(b!.payload).toMatchObject({ review_id: reviewId, update: true });
    expect((b!.payload.aps as Record<string, unknown>).sound).toBeUndefined();
    expect(b!.headers['apns-priority']).toBe('5');
  });

  it('sends priority 5 for normal pushes and shortens collapse ids over 64 bytes', async () => {
    const { server, sender } = await setup();
    const long = 'x'.repeat(100);
    const outcome = await sender.send(
      { platform: 'apns', token: apnsDeviceToken() },
      notification({ priority: 'normal', collapse_id: long }),
    );
    expect(outcome.status).toBe('sent');
    const h = server.deliveries[0]!.headers;
    expect(h['apns-priority']).toBe('5');
    expect(h['apns-collapse-id']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('reports Unregistered, BadDeviceToken and DeviceTokenNotForTopic as invalid tokens to prune', async () => {
    const { server, sender, clock } = await setup();
    const gone = apnsDeviceToken();
    server.unregister(gone);
    const otherApp = apnsDeviceToken();
    server.registerTokenForTopic(otherApp, 'com.example.other');
    const malformed = apnsDeviceToken() + 'ab'; // hex, but not the 32 bytes APNs issues
    const good = apnsDeviceToken();
    const service = new PushService({ senders: [sender] });
    const results = await service.send(notification(), [
      { id: 'gone', platform: 'apns', token: gone },
      { id: 'other', platform: 'apns', token: otherApp },
      { id: 'bad', platform: 'apns', token: malformed },
      { id: 'good', platform: 'apns', token: good },
    ]);
    const byId = Object.fromEntries(results.map((r) => [r.target.id, r.outcome]));
    expect(byId.gone).toEqual({ status: 'invalid_token', httpStatus: 410, reason: 'Unregistered' });
    expect(byId.other).toEqual({ status: 'invalid_token', httpStatus: 400, reason: 'DeviceTokenNotForTopic' });
    expect(byId.bad).toEqual({ status: 'invalid_token', httpStatus: 400, reason: 'BadDeviceToken' });
    expect(byId.good?.status).toBe('sent');
    expect(results.map((r) => r.attempts)).toEqual([1, 1, 1, 1]);
    // The 410 carries the time APNs learned the token was gone.
    expect(server.requests.find((r) => r.token === gone)?.reason).toBe('Unregistered');
    expect(clock.now()).toBe(T0);
  });

  it('retries 429 TooManyRequests after the Retry-After the server gave', async () => {
    const { server, sender, clock } = await setup();
    const token = apnsDeviceToken();
    server.script(
      token,
      { status: 429, reason: 'TooManyRequests', retryAfterS: 3 },
      { status: 503, reason: 'ServiceUnavailable' },
    );
    const waits: number[] = [];
    const service = new PushService({
      senders: [sender],
      backoffBaseMs: 500,
      random: () => 1,
      sleep: async (ms) => {
        waits.push(ms);
        clock.advance(ms);
      },
    });
    const [r] = await service.send(notification(), [{ platform: 'apns', token }]);
    expect(r?.outcome.status).toBe('sent');
    expect(r?.attempts).toBe(3);
    expect(waits).toEqual([3000, 1000]); // Retry-After, then backoff (2nd retry: 500 * 2)
    const times = server.requests.filter((q) => q.token === token).map((q) => [q.status, q.at - T0]);
    expect(times).toEqual([
      [429, 0],
      [503, 3000],
      [200, 4000],
    ]);
  });

  it('gives up after max attempts with outcome retry', async () => {
    const { server, sender } = await setup();
    const token = apnsDeviceToken();
    server.script(token, ...Array.from({ length: 5 }, () => ({ status: 500, reason: 'InternalServerError' })));
    const service = new PushService({ senders: [sender], maxAttempts: 3, sleep: async () => undefined });
    const [r] = await service.send(notification(), [{ platform: 'apns', token }]);
    expect(r).toMatchObject({
      attempts: 3,
      outcome: { status: 'retry', httpStatus: 500, reason: 'InternalServerError' },
    });
    expect(server.deliveries).toHaveLength(0);
  });

  it('reuses one provider token for 20+ minutes and rebuilds it at the refresh age', async () => {
    const { server, sender, clock } = await setup({ sender: { tokenRefreshMs: 50 * MIN } });
    const token = apnsDeviceToken();
    for (const step of [0, 10, 9, 20, 10]) {
      clock.advance(step * MIN); // 0, 10, 19, 39, 49 minutes
      expect((await sender.send({ platform: 'apns', token }, notification())).status).toBe('sent');
    }
    expect(sender.providerToken.builds).toBe(1);
    expect(new Set(server.deliveries.map((d) => d.jwt)).size).toBe(1);
    clock.advance(1 * MIN); // 50 minutes: refresh
    expect((await sender.send({ platform: 'apns', token }, notification())).status).toBe('sent');
    expect(sender.providerToken.builds).toBe(2);
    const last = server.deliveries.at(-1)!;
    expect(decodeJwt(last.jwt).iat).toBe(Math.floor((T0 + 50 * MIN) / 1000));
    expect(server.providerTokens).toHaveLength(2);
  });

  it('never rebuilds sooner than 20 minutes even when configured to', async () => {
    const { sender, clock } = await setup({ sender: { tokenRefreshMs: 5 * MIN } });
    expect(sender.providerToken.refreshAfterMs).toBe(20 * MIN);
    const token = apnsDeviceToken();
    await sender.send({ platform: 'apns', token }, notification());
    clock.advance(19 * MIN);
    await sender.send({ platform: 'apns', token }, notification());
    expect(sender.providerToken.builds).toBe(1);
    clock.advance(1 * MIN);
    await sender.send({ platform: 'apns', token }, notification());
    expect(sender.providerToken.builds).toBe(2);
  });

  it('the server refuses a new provider token within 20 min of the last (TooManyProviderTokenUpdates)', async () => {
    const { server, sender, clock } = await setup();
    const token = apnsDeviceToken();
    expect((await sender.send({ platform: 'apns', token }, notification())).status).toBe('sent');
    clock.advance(5 * MIN);
    // A second sender with the same key builds its own token: APNs counts that as an update.
    const second = new ApnsSender(senderOptions(server.url, clock));
    open.push(second);
    const o = await second.send({ platform: 'apns', token }, notification());
    expect(o).toMatchObject({ status: 'retry', httpStatus: 429, reason: 'TooManyProviderTokenUpdates' });
  });

  it('rebuilds the provider token once when APNs calls it expired, and retries', async () => {
    const serverClock = new ManualClock(T0);
    const senderClock = new ManualClock(T0);
    const { server, sender } = await setup({ serverClock, clock: senderClock });
    const token = apnsDeviceToken();
    expect((await sender.send({ platform: 'apns', token }, notification())).status).toBe('sent');
    // The provider's clock lags: it thinks 5 minutes passed, APNs knows it was 62.
    senderClock.advance(5 * MIN);
    serverClock.advance(62 * MIN);
    const o = await sender.send({ platform: 'apns', token }, notification());
    expect(o.status).toBe('sent');
    expect(sender.providerToken.builds).toBe(2);
    expect(server.requests.map((r) => [r.status, r.reason ?? ''])).toEqual([
      [200, ''],
      [403, 'ExpiredProviderToken'],
      [200, ''],
    ]);
  });

  it('a provider token signed with another key is rejected (InvalidProviderToken); nothing is delivered', async () => {
    const { server } = await setup();
    const stranger = await apnsTestKey(key.teamId, key.keyId);
    const wrong = new ApnsSender({
      teamId: key.teamId,
      keyId: key.keyId,
      keyPem: stranger.pem,
      bundleId: BUNDLE,
      endpoint: server.url,
      ...(cert ? { ca: cert.cert } : {}),
    });
    open.push(wrong);
    expect(await wrong.send({ platform: 'apns', token: apnsDeviceToken() }, notification())).toEqual({
      status: 'failed',
      httpStatus: 403,
      reason: 'InvalidProviderToken',
    });
    const wrongTeam = new ApnsSender({
      teamId: 'OTHER12345',
      keyId: key.keyId,
      keyPem: key.pem,
      bundleId: BUNDLE,
      endpoint: server.url,
      ...(cert ? { ca: cert.cert } : {}),
    });
    open.push(wrongTeam);
    expect((await wrongTeam.send({ platform: 'apns', token: apnsDeviceToken() }, notification())).reason).toBe(
      'InvalidProviderToken',
    );
    const wrongTopic = new ApnsSender({
      teamId: key.teamId,
      keyId: key.keyId,
      keyPem: key.pem,
      bundleId: 'com.example.nope',
      endpoint: server.url,
      ...(cert ? { ca: cert.cert } : {}),
    });
    open.push(wrongTopic);
    expect((await wrongTopic.send({ platform: 'apns', token: apnsDeviceToken() }, notification())).reason).toBe(
      'TopicDisallowed',
    );
    expect(server.deliveries).toHaveLength(0);
  });

  it('keeps one HTTP/2 connection for concurrent pushes and reconnects after GOAWAY', async () => {
    const { server, sender } = await setup();
    const service = new PushService({ senders: [sender], concurrency: 8 });
    const targets = Array.from({ length: 20 }, () => ({ platform: 'apns' as const, token: apnsDeviceToken() }));
    const results = await service.send(notification(), targets);
    expect(results.every((r) => r.outcome.status === 'sent')).toBe(true);
    expect(server.sessionsOpened).toBe(1);
    expect(sender.connects).toBe(1);
    server.goaway();
    await new Promise((r) => setTimeout(r, 50));
    expect((await sender.send({ platform: 'apns', token: apnsDeviceToken() }, notification())).status).toBe('sent');
    expect(sender.connects).toBe(2);
    expect(server.sessionsOpened).toBe(2);
    expect(server.deliveries).toHaveLength(21);
  });

  it('reports an unreachable endpoint as retry, and a token that is not hex as invalid without a request', async () => {
    const { server, sender } = await setup();
    expect(await sender.send({ platform: 'apns', token: 'not-a-token' }, notification())).toEqual({
      status: 'invalid_token',
      httpStatus: null,
      reason: 'BadDeviceToken',
    });
    expect(server.requests).toHaveLength(0);
    const url = server.url;
    await server.close();
    open.splice(open.indexOf(server), 1);
    const dead = new ApnsSender({
      teamId: key.teamId,
      keyId: key.keyId,
      keyPem: key.pem,
      bundleId: BUNDLE,
      endpoint: url,
      ...(cert ? { ca: cert.cert } : {}),
    });
    open.push(dead);
    expect(await dead.send({ platform: 'apns', token: apnsDeviceToken() }, notification())).toMatchObject({
      status: 'retry',
      httpStatus: null,
    });
  });
});
