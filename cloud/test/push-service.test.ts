import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { isVigilError } from '../../shared/errors/index.js';
import { newEventId } from '../../shared/ids/index.js';
import { createPushService, PushConfigSchema } from '../push/index.js';
import {
  apnsCollapseId,
  webPushTopic,
  type Notification,
  type PushOutcome,
  type PushSender,
  type PushTarget,
} from '../push/notification.js';
import { parseRetryAfter } from '../push/retry-after.js';
import { PushService } from '../push/service.js';
import { ApnsTestServer } from './support-push/apns-server.js';
import { FcmTestServer } from './support-push/fcm-server.js';
import {
  apnsDeviceToken,
  apnsTestKey,
  fcmRegistrationToken,
  fcmTestAccount,
  vapidTestKeys,
} from './support-push/keys.js';
import { selfSignedCert, type TestCert } from './support-push/tls.js';
import { WebPushTestServer } from './support-push/webpush-server.js';

function notification(over: Partial<Notification> = {}): Notification {
  const id = newEventId();
  return {
    event_id: id,
    title: 'Person at Porch',
    body: 'now',
    thumbnail_url: `https://vigil.example.com/t/${id}`,
    collapse_id: id,
    priority: 'high',
    ...over,
  };
}

/**
 * A sender whose answers are scripted per token. It stands in for a provider only where the subject is the
 * service's own scheduling (concurrency, attempts, waits); the provider protocols are tested against their servers.
 */
class ScriptedSender implements PushSender {
  readonly platform = 'fcm' as const;
  inFlight = 0;
  maxInFlight = 0;
  calls: string[] = [];
  constructor(private readonly answers: Map<string, Array<PushOutcome | Error>> = new Map()) {}
  async send(target: PushTarget): Promise<PushOutcome> {
    const token = target.platform === 'webpush' ? target.subscription.endpoint : target.token;
    this.calls.push(token);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, 2));
    this.inFlight--;
    const next = this.answers.get(token)?.shift();
    if (next instanceof Error) throw next;
    return next ?? { status: 'sent', httpStatus: 200 };
  }
  async close(): Promise<void> {}
}

describe('PushService', () => {
  it('keeps at most `concurrency` requests in flight and returns results in target order', async () => {
    const sender = new ScriptedSender();
    const service = new PushService({ senders: [sender], concurrency: 3 });
    const targets = Array.from({ length: 25 }, (_, i) => ({ id: `t${i}`, platform: 'fcm' as const, token: `tok${i}` }));
    const results = await service.send(notification(), targets);
    expect(results.map((r) => r.target.id)).toEqual(targets.map((t) => t.id));
    expect(sender.maxInFlight).toBe(3);
    expect(sender.calls).toHaveLength(25);
  });

  it('skips platforms without a sender with a clear outcome', async () => {
    const service = new PushService({ senders: [new ScriptedSender()] });
    expect(service.platforms()).toEqual(['fcm']);
    const [r] = await service.send(notification(), [{ platform: 'apns', token: apnsDeviceToken() }]);
    expect(r).toMatchObject({
      attempts: 0,
      outcome: { status: 'failed', httpStatus: null, reason: 'platform_not_configured' },
    });
  });

  it('stops at a Retry-After longer than max wait and hands it to the caller', async () => {
    const sender = new ScriptedSender(
      new Map([['a', [{ status: 'retry', httpStatus: 429, reason: 'QUOTA_EXCEEDED', retryAfterMs: 600_000 }]]]),
    );
    const waits: number[] = [];
    const service = new PushService({
      senders: [sender],
      maxRetryWaitMs: 60_000,
      sleep: async (ms) => void waits.push(ms),
    });
    const [r] = await service.send(notification(), [{ platform: 'fcm', token: 'a' }]);
    expect(r).toMatchObject({ attempts: 1, outcome: { status: 'retry', retryAfterMs: 600_000 } });
    expect(waits).toEqual([]);
  });

  it('backs off exponentially with jitter when no Retry-After is given, and never retries failed/invalid', async () => {
    const retry: PushOutcome = { status: 'retry', httpStatus: 503 };
    const sender = new ScriptedSender(
      new Map<string, Array<PushOutcome | Error>>([
        ['r', [retry, retry, retry, retry, retry]],
        ['f', [{ status: 'failed', httpStatus: 400, reason: 'x' }]],
        ['i', [{ status: 'invalid_token', httpStatus: 404 }]],
        ['e', [new Error('boom')]],
      ]),
    );
    const waits: number[] = [];
    const service = new PushService({
      senders: [sender],
      maxAttempts: 4,
      backoffBaseMs: 1000,
      random: () => 0.5,
      sleep: async (ms) => void waits.push(ms),
    });
    const results = await service.send(
      notification(),
      ['r', 'f', 'i', 'e'].map((token) => ({ platform: 'fcm' as const, token })),
    );
    expect(results.map((r) => [r.outcome.status, r.attempts])).toEqual([
      ['retry', 4],
      ['failed', 1],
      ['invalid_token', 1],
      ['failed', 1],
    ]);
    expect(results[3]!.outcome.reason).toBe('sender_error');
    expect(waits).toEqual([750, 1500, 3000]);
    const s = new PushService({ senders: [], backoffBaseMs: 1000, maxRetryWaitMs: 5000, random: () => 1 });
    expect([1, 2, 3, 4, 5].map((a) => s.retryDelay(a, undefined))).toEqual([1000, 2000, 4000, 5000, 5000]);
    expect(s.retryDelay(1, 0)).toBe(0);
  });

  it('rejects an invalid notification naming the field', async () => {
    const service = new PushService({ senders: [new ScriptedSender()] });
    const err = await service.send(notification({ title: 'x'.repeat(51) }), []).catch((e: unknown) => e);
    expect(isVigilError(err, 'push_notification_invalid')).toBe(true);
    expect((err as Error).message).toMatch(/\/title: .*length 1\.\.50/);
  });
});

describe('push helpers', () => {
  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.UTC(2026, 0, 1, 0, 0, 0);
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('derives platform collapse keys within their limits', () => {
    const id = newEventId();
    expect(webPushTopic(id)).toBe(id);
    expect(webPushTopic('a b')).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(webPushTopic('x'.repeat(33))).toHaveLength(32);
    expect(apnsCollapseId(id)).toBe(id);
    expect(Buffer.byteLength(apnsCollapseId('é'.repeat(40)))).toBe(64);
  });
});

describe('createPushService from config', () => {
  const Schema = Type.Object({ push: PushConfigSchema });
  let dir: string;
  let cert: TestCert | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-push-config-'));
    cert = selfSignedCert();
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    cert?.cleanup();
  });
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });

  it('builds the three senders from key files and fans out to every platform', async () => {
    const clock = new ManualClock(Date.now());
    const apnsKey = await apnsTestKey();
    const apns = await ApnsTestServer.start({
      teamId: apnsKey.teamId,
      keyId: apnsKey.keyId,
      publicKey: apnsKey.publicKey,
      bundleId: 'com.example.vigil',
      clock,
      ...(cert ? { tls: { key: cert.key, cert: cert.cert } } : {}),
    });
    open.push(apns);
    const account = await fcmTestAccount('http://127.0.0.1/token');
    const fcm = await FcmTestServer.start({
      clientEmail: account.json.client_email,
      publicKey: account.publicKey,
      projectId: account.json.project_id,
      clock,
    });
    open.push(fcm);
    const web = await WebPushTestServer.start();
    open.push(web);
    const vapid = vapidTestKeys();
    writeFileSync(join(dir, 'AuthKey.p8'), apnsKey.pem);
    writeFileSync(join(dir, 'sa.json'), JSON.stringify(account.json));
    const { config } = loadConfig({
      schema: Schema,
      overrides: {
        push: {
          apns: {
            team_id: apnsKey.teamId,
            key_id: apnsKey.keyId,
            key_file: join(dir, 'AuthKey.p8'),
            bundle_id: 'com.example.vigil',
            endpoint: apns.url,
            ...(cert ? { ca_file: cert.caFile } : {}),
          },
          fcm: { service_account_file: join(dir, 'sa.json'), endpoint: fcm.url, token_uri: fcm.tokenUri },
          webpush: {
            subject: 'mailto:ops@vigil.example.com',
            public_key: vapid.publicKey,
            private_key: vapid.privateKey,
          },
          ttl: '30m',
        },
      },
    });
    expect(config.push.max_attempts).toBe(4);
    const service = createPushService(config.push, { clock });
    open.push(service);
    expect(service.platforms().sort()).toEqual(['apns', 'fcm', 'webpush']);
    const n = notification();
    const results = await service.send(n, [
      { id: 'a', platform: 'apns', token: apnsDeviceToken() },
      { id: 'f', platform: 'fcm', token: fcmRegistrationToken() },
      { id: 'w', platform: 'webpush', subscription: web.subscribe(vapid.publicKey) },
    ]);
    expect(results.map((r) => [r.target.id, r.outcome.status])).toEqual([
      ['a', 'sent'],
      ['f', 'sent'],
      ['w', 'sent'],
    ]);
    expect(apns.deliveries[0]!.headers['apns-expiration']).toBe(String(Math.floor((clock.now() + 30 * 60_000) / 1000)));
    expect(fcm.deliveries[0]!.message.android).toMatchObject({ ttl: '1800s' });
    expect(web.deliveries[0]!.headers.ttl).toBe('1800');
    expect(JSON.parse(web.deliveries[0]!.plaintext).event_id).toBe(n.event_id);
  });

  it('rejects bad push config with the path, and reports unreadable key files', () => {
    expect(() =>
      loadConfig({
        schema: Schema,
        overrides: { push: { apns: { team_id: 'short', key_id: 'KEY1234567', bundle_id: 'b' } } },
      }),
    ).toThrow(/push\.apns\.team_id/);
    expect(() =>
      loadConfig({
        schema: Schema,
        overrides: { push: { webpush: { subject: 'ops@example.com', public_key: 'x', private_key: 'y' } } },
      }),
    ).toThrow(/push\.webpush\.subject/);
    expect(() => loadConfig({ schema: Schema, overrides: { push: { gcm: {} } } })).toThrow(/gcm/);
    const { config } = loadConfig({
      schema: Schema,
      overrides: {
        push: {
          apns: { team_id: 'TEAM123456', key_id: 'KEY1234567', bundle_id: 'b', key_file: join(dir, 'missing.p8') },
        },
      },
    });
    expect(() => createPushService(config.push)).toThrow(/push\.apns\.key_file: cannot read/);
    const none = loadConfig({ schema: Schema }).config;
    expect(createPushService(none.push).platforms()).toEqual([]);
  });
});
