import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock/index.js';
import { newEventId } from '../../shared/ids/index.js';
import type { Notification } from '../push/notification.js';
import { PushService } from '../push/service.js';
import { WebPushSender } from '../push/webpush.js';
import { vapidTestKeys } from './support-push/keys.js';
import { WebPushTestServer } from './support-push/webpush-server.js';

const SUBJECT = 'mailto:ops@vigil.example.com';

function notification(over: Partial<Notification> = {}): Notification {
  const id = newEventId();
  return {
    event_id: id,
    title: 'Dog at Garden',
    body: 'Seen at 08:00',
    thumbnail_url: `https://vigil.example.com/v1/events/${id}/thumbnail`,
    collapse_id: id,
    priority: 'high',
    ...over,
  };
}

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function setup() {
  const vapid = vapidTestKeys();
  const server = await WebPushTestServer.start();
  open.push(server);
  const sender = new WebPushSender({
    subject: SUBJECT,
    publicKey: vapid.publicKey,
    privateKey: vapid.privateKey,
    ttlMs: 3_600_000,
  });
  open.push(sender);
  return { vapid, server, sender };
}

describe('Web Push sender against the local push service', () => {
  it('sends a VAPID-signed, aes128gcm-encrypted message the browser side decrypts', async () => {
    const { server, sender, vapid } = await setup();
    const subscription = server.subscribe(vapid.publicKey);
    const n = notification({ unverified: true });
    const outcome = await sender.send({ platform: 'webpush', subscription }, n);
    expect(outcome.status).toBe('sent');
    expect(outcome.httpStatus).toBe(201);
    expect(outcome.providerId).toMatch(new RegExp(`^${server.url}/message/[0-9a-f]+$`));
    expect(server.deliveries).toHaveLength(1);
    const d = server.deliveries[0]!;
    expect(JSON.parse(d.plaintext)).toEqual({
      title: n.title,
      body: n.body,
      event_id: n.event_id,
      thumbnail_url: n.thumbnail_url,
      tag: n.event_id,
      unverified: true,
    });
    expect(d.headers).toMatchObject({
      ttl: '3600',
      urgency: 'high',
      topic: n.event_id,
      'content-encoding': 'aes128gcm',
    });
    expect(d.headers.authorization).toMatch(new RegExp(`^vapid t=[^,]+, k=${vapid.publicKey}$`));
    expect(d.vapid.aud).toBe(server.url);
    expect(d.vapid.sub).toBe(SUBJECT);
    expect((d.vapid.exp ?? 0) * 1000).toBeGreaterThan(Date.now());
  });

  it('a review item update: same Topic and tag as the first push, review_id, renotify false', async () => {
    const { server, sender, vapid } = await setup();
    const subscription = server.subscribe(vapid.publicKey);
    const reviewId = 'rev_01JAAAAAAAAAAAAAAAAAAAAAAA';
    const first = notification({ review_id: reviewId, collapse_id: reviewId });
    const update = notification({ review_id: reviewId, collapse_id: reviewId, update: true, priority: 'normal' });
    for (const n of [first, update])
      expect((await sender.send({ platform: 'webpush', subscription }, n)).status).toBe('sent');
    const [a, b] = server.deliveries.map((d) => ({ headers: d.headers, payload: JSON.parse(d.plaintext) }));
    expect(a!.headers.topic).toBe(reviewId);
    expect(b!.headers.topic).toBe(reviewId);
    expect(a!.payload).toMatchObject({ review_id: reviewId, tag: reviewId, event_id: first.event_id });
    expect(a!.payload.update).toBeUndefined();
    expect(b!.payload).toMatchObject({ review_id: reviewId, tag: reviewId, update: true, renotify: false });
    expect(b!.headers.urgency).toBe('normal');
  });

  it('uses Urgency normal for normal pushes and a 32-character Topic for long collapse ids', async () => {
    const { server, sender } = await setup();
    const subscription = server.subscribe();
    const outcome = await sender.send(
      { platform: 'webpush', subscription },
      notification({ priority: 'normal', collapse_id: 'camera front-door / person / 2026-03-01' }),
    );
    expect(outcome.status).toBe('sent');
    const h = server.deliveries[0]!.headers;
    expect(h.urgency).toBe('normal');
    expect(h.topic).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });

  it('reports 410 (unsubscribed) and 404 (unknown endpoint) as invalid subscriptions to prune', async () => {
    const { server, sender } = await setup();
    const gone = server.subscribe();
    server.expire(gone);
    const unknown = { ...server.subscribe(), endpoint: `${server.url}/push/nosuchsubscription` };
    const service = new PushService({ senders: [sender] });
    const results = await service.send(notification(), [
      { id: 'gone', platform: 'webpush', subscription: gone },
      { id: 'unknown', platform: 'webpush', subscription: unknown },
    ]);
    expect(results.map((r) => [r.target.id, r.outcome.status, r.outcome.httpStatus])).toEqual([
      ['gone', 'invalid_token', 410],
      ['unknown', 'invalid_token', 404],
    ]);
  });

  it('treats a subscription with unusable keys as invalid without a request', async () => {
    const { server, sender } = await setup();
    const sub = server.subscribe();
    const o = await sender.send(
      { platform: 'webpush', subscription: { ...sub, keys: { ...sub.keys, p256dh: 'AAAA' } } },
      notification(),
    );
    expect(o).toMatchObject({ status: 'invalid_token', httpStatus: null, reason: 'invalid_subscription' });
    expect(server.requests).toHaveLength(0);
  });

  it('retries 429 after its Retry-After', async () => {
    const { server, sender } = await setup();
    const subscription = server.subscribe();
    server.script(subscription, { status: 429, retryAfterS: 4 }, { status: 502 });
    const clock = new ManualClock(0);
    const waits: number[] = [];
    const service = new PushService({
      senders: [sender],
      backoffBaseMs: 250,
      random: () => 0,
      sleep: async (ms) => {
        waits.push(ms);
        clock.advance(ms);
      },
    });
    const [r] = await service.send(notification(), [{ platform: 'webpush', subscription }]);
    expect(r).toMatchObject({ attempts: 3, outcome: { status: 'sent', httpStatus: 201 } });
    expect(waits).toEqual([4000, 250]); // Retry-After, then half of the 2nd backoff step (500 ms, no jitter)
    expect(clock.now()).toBeGreaterThanOrEqual(4000);
    expect(server.requests.map((q) => q.status)).toEqual([429, 502, 201]);
  });

  it('is refused when signed with a VAPID key not the subscription’s, or with a mismatched key pair', async () => {
    const { server, vapid } = await setup();
    const subscription = server.subscribe(vapid.publicKey);
    const other = vapidTestKeys();
    const stranger = new WebPushSender({ subject: SUBJECT, publicKey: other.publicKey, privateKey: other.privateKey });
    open.push(stranger);
    expect(await stranger.send({ platform: 'webpush', subscription }, notification())).toMatchObject({
      status: 'failed',
      httpStatus: 403,
      reason: 'vapid key does not match the subscription',
    });
    // Right public key in `k`, but the JWT signed by another private key: the signature check catches it.
    const forger = new WebPushSender({ subject: SUBJECT, publicKey: vapid.publicKey, privateKey: other.privateKey });
    open.push(forger);
    const o = await forger.send({ platform: 'webpush', subscription }, notification());
    expect(o).toMatchObject({ status: 'failed', httpStatus: 403 });
    expect(o.reason).toMatch(/^vapid jwt invalid: signature verification failed/);
    expect(server.deliveries).toHaveLength(0);
  });

  it('the push service really decrypts: a payload encrypted for the wrong auth secret is refused', async () => {
    const { server, sender } = await setup();
    const subscription = server.subscribe();
    const wrongAuth = {
      ...subscription,
      keys: { ...subscription.keys, auth: Buffer.alloc(16, 7).toString('base64url') },
    };
    const o = await sender.send({ platform: 'webpush', subscription: wrongAuth }, notification());
    expect(o).toMatchObject({ status: 'failed', httpStatus: 400 });
    expect(o.reason).toMatch(/^payload does not decrypt/);
  });
});
