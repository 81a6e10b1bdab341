import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceCredentials } from '../../shared/signing/index.js';
import { PushService, type Notification, type PushResult, type PushTarget } from '../push/index.js';
import { testBackends } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { NO_PERSON_ANSWER, PERSON_ANSWER } from './support-llm/llm-server.js';
import { NotifyHarness, settled, waitForEvent, type EventView } from './support-llm/notify-harness.js';

/**
 * Acceptance of verify-then-notify, through the real HTTP ingest, the real job queue and the real push senders
 * against local APNs / FCM / Web Push servers (which check credentials and decrypt), on SQLite and PostgreSQL.
 */
const backends = await testBackends();
let h: NotifyHarness;

beforeAll(async () => {
  h = await NotifyHarness.start();
});
afterAll(async () => {
  await h.close();
});

let cameraSeq = 0;
/** A fresh camera per case: the cooldown is per device + camera + label. */
const camera = (): string => `cam${++cameraSeq}`;

const pushed = (e: EventView): boolean => settled(e) && e.push_state === 'sent';

function expectOnePushEach(eventId: string): void {
  const d = h.deliveries(eventId);
  expect({ apns: d.apns.length, fcm: d.fcm.length, web: d.web.length }).toEqual({ apns: 1, fcm: 1, web: 1 });
}

describe.each(backends)('verify then notify on $name', (backend) => {
  let t: TestCloud;
  let creds: DeviceCredentials;

  beforeAll(async () => {
    t = await startTestCloud(backend, { overrides: h.overrides(), notify: { pushService: h.pushService } });
    creds = await t.pairDevice('porch box');
    await h.registerTokens(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('LLM says person 0.93: exactly one push per platform, with the event id and a signed thumbnail link', async () => {
    h.llm.reset();
    const { eventId, jpeg } = await h.sendEvent(t, creds, { camera: camera() });
    const e = await waitForEvent(t, eventId, pushed);

    expect(h.llm.invalid).toEqual([]);
    const asked = h.llm.requests.filter((r) => r.prompt.includes('person'));
    expect(asked).toHaveLength(1);
    expect(Math.max(asked[0]!.image!.width, asked[0]!.image!.height)).toBeLessThanOrEqual(512);

    expect(e.verification).toMatchObject({
      status: 'verified',
      classify_label: 'person',
      classify_confidence: 0.93,
      classify_summary: PERSON_ANSWER.summary,
      agrees_with_edge: true,
      provider: 'openai',
      model: 'vision-1',
      prompt_tokens: 812,
      completion_tokens: 41,
      decision: 'verified',
      job_state: 'done',
    });
    expect(e.push_sent).toBe(true);
    expect(e.push_deliveries.map((d) => `${d.platform}:${d.status}`).sort()).toEqual([
      'apns:sent',
      'fcm:sent',
      'webpush:sent',
    ]);

    expectOnePushEach(eventId);
    const d = h.deliveries(eventId);
    const apnsPayload = d.apns[0]!.payload as {
      aps: { alert: { title: string } };
      event_id: string;
      thumbnail_url: string;
    };
    const fcmData = d.fcm[0]!.message.data as Record<string, string>;
    const webPayload = d.web[0]!.payload as { title: string; thumbnail_url: string };
    expect(apnsPayload.aps.alert.title).toBe(PERSON_ANSWER.summary);
    expect(Array.from(apnsPayload.aps.alert.title).length).toBeLessThanOrEqual(50);
    expect(webPayload.title).toBe(PERSON_ANSWER.summary);
    expect(d.apns[0]!.headers['apns-collapse-id']).toBe(eventId);
    expect((d.fcm[0]!.message.android as { collapse_key: string }).collapse_key).toBe(eventId);
    expect(d.web[0]!.headers.topic).toBe(eventId);

    const url = apnsPayload.thumbnail_url;
    expect(fcmData.thumbnail_url).toBe(url);
    expect(webPayload.thumbnail_url).toBe(url);
    expect(url).toMatch(new RegExp(`^${t.url}/v1/events/${eventId}/thumbnail\\?exp=\\d+&sig=[A-Za-z0-9_-]{43}$`));

    // The link works without a token, and only as signed.
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await ok.arrayBuffer()).equals(jpeg)).toBe(true);
    const sig = new URL(url).searchParams.get('sig')!;
    const tampered = url.replace(`sig=${sig}`, `sig=${sig.startsWith('A') ? 'B' : 'A'}${sig.slice(1)}`);
    expect((await fetch(tampered)).status).toBe(404);
    const exp = Number(new URL(url).searchParams.get('exp'));
    expect((await fetch(url.replace(`exp=${exp}`, `exp=${exp + 1}`))).status).toBe(404);
    const expired = t.cloud.notify.links.sign(eventId, Date.now() - 48 * 3600_000);
    expect((await fetch(expired)).status).toBe(404);
    // Another event's signature does not open this one's picture.
    expect((await fetch(url.replace(eventId, 'evt_01JAAAAAAAAAAAAAAAAAAAAAAA'))).status).toBe(404);
    // Without a link the route still wants a token.
    expect((await fetch(`${t.url}/v1/events/${eventId}/thumbnail`)).status).toBe(401);
  });

  it('LLM sees no person: no push, event marked rejected', async () => {
    h.llm.script({ kind: 'answer', answer: NO_PERSON_ANSWER });
    const { eventId } = await h.sendEvent(t, creds, { camera: camera() });
    const e = await waitForEvent(t, eventId, settled);
    expect(e.verification).toMatchObject({
      status: 'rejected',
      decision: 'llm_disagrees',
      classify_label: 'none',
      agrees_with_edge: false,
    });
    expect(e.push_sent).toBe(false);
    expect(e.push_deliveries).toEqual([]);
    expect(h.deliveries(eventId)).toEqual({ apns: [], fcm: [], web: [] });
  });

  it('LLM down: the fallback rule (push_unverified) applies within the budget', async () => {
    h.llm.script({ kind: 'status', status: 500 });
    const { eventId } = await h.sendEvent(t, creds, { camera: camera() });
    const e = await waitForEvent(t, eventId, pushed);
    expect(e.verification).toMatchObject({
      status: 'unverified',
      reason: 'unavailable',
      decision: 'llm_down_push_unverified',
      provider: 'none',
    });
    expectOnePushEach(eventId);
    const web = h.deliveries(eventId).web[0]!.payload as { title: string; unverified?: boolean };
    expect(web.title).toMatch(/^Unverified: Person at cam\d+$/);
  });

  it('LLM hangs: over budget, fallback applied, the job does not wait forever', async () => {
    const cloud = await startTestCloud(backend, {
      db: t.db,
      overrides: h.overrides({ reclassify: { budget: '800ms', request_timeout: '30s' }, notify: { llm_down: 'hold' } }),
      notify: { pushService: h.pushService },
    });
    try {
      await cloud.cloud.notify.notifier.worker.stop(); // only this collector's worker should take the job
      await t.cloud.notify.notifier.worker.stop();
      cloud.cloud.notify.notifier.worker.start();
      h.llm.script({ kind: 'hang' });
      const { eventId } = await h.sendEvent(cloud, creds, { camera: camera() });
      const e = await waitForEvent(cloud, eventId, settled);
      expect(e.verification).toMatchObject({ status: 'held', reason: 'over_budget', decision: 'llm_down_hold' });
      expect(h.deliveries(eventId)).toEqual({ apns: [], fcm: [], web: [] });
    } finally {
      await cloud.cloud.close();
      t.cloud.notify.notifier.worker.start();
    }
  });

  describe('restart in the middle of a job', () => {
    /** A second collector on the same database, after the first one died. */
    async function survivor(): Promise<TestCloud> {
      return startTestCloud(backend, { db: t.db, overrides: h.overrides(), notify: { pushService: h.pushService } });
    }

    /** The first collector dies (its worker abandons the job as a killed process would; then it closes). */
    async function die(cloud: TestCloud): Promise<void> {
      await cloud.cloud.notify.close({ abandon: true });
      await cloud.cloud.close();
    }

    async function victim(push?: PushService): Promise<TestCloud> {
      await t.cloud.notify.notifier.worker.stop(); // the main collector stays out of this
      return startTestCloud(backend, {
        db: t.db,
        overrides: h.overrides(),
        notify: { pushService: push ?? h.pushService },
      });
    }

    it('killed while the LLM thinks: the classification is completed by the next collector, one push', async () => {
      const a = await victim();
      let b: TestCloud | undefined;
      try {
        h.llm.reset();
        h.llm.script({ kind: 'answer', answer: PERSON_ANSWER, delayMs: 10_000 });
        const { eventId } = await h.sendEvent(a, creds, { camera: camera() });
        await waitUntil(() => h.llm.requests.length === 1);
        await die(a);
        b = await survivor();
        const e = await waitForEvent(b, eventId, pushed);
        expect(e.verification).toMatchObject({ status: 'verified', classify_label: 'person', attempts: 2 });
        expect(h.llm.requests).toHaveLength(2);
        expectOnePushEach(eventId);
      } finally {
        await b?.cloud.close();
        t.cloud.notify.notifier.worker.start();
      }
    });

    it('killed after the classification was stored, before the push: no second LLM call, one push', async () => {
      const blocked = new BlockingPush(h, 'before-send');
      const a = await victim(blocked);
      let b: TestCloud | undefined;
      try {
        h.llm.reset();
        const { eventId } = await h.sendEvent(a, creds, { camera: camera() });
        await blocked.reached;
        await die(a);
        b = await survivor();
        const e = await waitForEvent(b, eventId, pushed);
        expect(e.verification).toMatchObject({ status: 'verified', classify_label: 'person' });
        expect(h.llm.requests).toHaveLength(1);
        expectOnePushEach(eventId);
      } finally {
        await b?.cloud.close();
        t.cloud.notify.notifier.worker.start();
      }
    });

    it('killed between sending and recording: resent with the same collapse id; never after recording', async () => {
      const blocked = new BlockingPush(h, 'after-send');
      const a = await victim(blocked);
      let b: TestCloud | undefined;
      let c: TestCloud | undefined;
      try {
        h.llm.reset();
        const { eventId } = await h.sendEvent(a, creds, { camera: camera() });
        await blocked.reached;
        await die(a);
        b = await survivor();
        const e = await waitForEvent(b, eventId, pushed);
        expect(h.llm.requests).toHaveLength(1);
        expect(e.push_deliveries.every((d) => d.status === 'sent')).toBe(true);
        const d = h.deliveries(eventId);
        expect({ apns: d.apns.length, fcm: d.fcm.length, web: d.web.length }).toEqual({ apns: 2, fcm: 2, web: 2 });
        expect(new Set(d.apns.map((x) => x.headers['apns-collapse-id']))).toEqual(new Set([eventId]));
        expect(new Set(d.fcm.map((x) => (x.message.android as { collapse_key: string }).collapse_key))).toEqual(
          new Set([eventId]),
        );
        expect(new Set(d.web.map((x) => x.headers.topic))).toEqual(new Set([eventId]));

        // Once recorded, a restart sends nothing more.
        await b.cloud.close();
        b = undefined;
        c = await survivor();
        await sleep(1000);
        const after = h.deliveries(eventId);
        expect({ apns: after.apns.length, fcm: after.fcm.length, web: after.web.length }).toEqual({
          apns: 2,
          fcm: 2,
          web: 2,
        });
      } finally {
        await b?.cloud.close();
        await c?.cloud.close();
        t.cloud.notify.notifier.worker.start();
      }
    });
  });

  it('an invalid (unregistered) token is pruned; a 429 is retried after Retry-After', async () => {
    const extra = await h.registerTokens(t); // a second phone on each platform
    h.apns.unregister(extra.apns);
    h.fcm.script(extra.fcm, { status: 429, errorCode: 'QUOTA_EXCEEDED', retryAfterS: 1 });
    const { eventId } = await h.sendEvent(t, creds, { camera: camera() });
    const e = await waitForEvent(t, eventId, pushed);
    const byTarget = e.push_deliveries.map((d) => `${d.platform}:${d.status}`).sort();
    expect(byTarget).toEqual([
      'apns:invalid_token',
      'apns:sent',
      'fcm:sent',
      'fcm:sent',
      'webpush:sent',
      'webpush:sent',
    ]);
    const tokens = (await (await t.api('/v1/push/tokens')).json()) as { push_tokens: Array<{ platform: string }> };
    expect(tokens.push_tokens.filter((x) => x.platform === 'apns')).toHaveLength(1);
    const d = h.deliveries(eventId);
    expect(d.fcm).toHaveLength(2);
    // The retried delivery came at least Retry-After (1 s) after the 429.
    const refused = h.fcm.sends.filter((s) => s.status === 429).at(-1)!;
    expect(Math.max(...d.fcm.map((x) => x.at)) - refused.at).toBeGreaterThanOrEqual(950);
  });
});

/**
 * A PushService that stops the job at a chosen point and never returns, as a process killed there would:
 * `before-send` — nothing sent; `after-send` — delivered, but the outcomes never recorded.
 */
class BlockingPush extends PushService {
  reached: Promise<void>;
  private arrive!: () => void;

  constructor(
    harness: NotifyHarness,
    private readonly point: 'before-send' | 'after-send',
  ) {
    super({ senders: harness.senders, maxAttempts: 1 });
    this.reached = new Promise((r) => (this.arrive = r));
  }

  override async send(n: Notification, targets: readonly PushTarget[]): Promise<PushResult[]> {
    if (this.point === 'after-send') await super.send(n, targets);
    this.arrive();
    return new Promise<PushResult[]>(() => undefined);
  }
}

async function waitUntil(cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(20);
  }
}
