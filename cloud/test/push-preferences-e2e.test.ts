import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newEventId } from '../../shared/ids/index.js';
import type { DeviceCredentials } from '../../shared/signing/index.js';
import { testBackends } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { newReviewId, wireReview } from './support/fixtures.js';
import { NotifyHarness, settled, waitForEvent } from './support-llm/notify-harness.js';
import { pushedTimes, reviewDeliveries, sendReview, waitForReview } from './support-llm/review-notify.js';
import { cookieFetch, login, type Session } from './support-session/session-client.js';

/**
 * Per-browser notification preferences end to end: the real collector verifies with the LLM test server and pushes
 * through the real Web Push sender to the local push service (which checks VAPID and decrypts); browsers set their
 * preferences through the web app's API (session cookie + CSRF token). A browser that excludes `car` gets no push
 * for a car alert while another does — for a box's review item and for a box that pushes per event — and camera
 * and quiet-hours exclusions hold the same way. On SQLite and PostgreSQL.
 */
const backends = await testBackends();
const PASSWORD = 'correct horse battery';
const CAR = { label: 'car', confidence: 0.9, summary: 'A car in the drive', threat: 0, agrees_with_edge: true };

let h: NotifyHarness;
beforeAll(async () => {
  h = await NotifyHarness.start();
});
afterAll(async () => {
  await h.close();
});

/** HH:MM in `timeZone`, `minutes` from now. */
function localTime(timeZone: string, minutes: number): string {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(Date.now() + minutes * 60_000));
  return `${parts.find((p) => p.type === 'hour')?.value}:${parts.find((p) => p.type === 'minute')?.value}`;
}

let cameraSeq = 0;
const camera = (): string => `pcam${++cameraSeq}`;

describe.each(backends)('push preferences end to end on $name', (backend) => {
  let t: TestCloud;
  let s: Session;
  /** A box that sends review items, and one (older firmware) that does not. */
  let reviewBox: DeviceCredentials;
  let eventBox: DeviceCredentials;
  /** Browser name → its push endpoint. */
  const endpoints = new Map<string, string>();

  const setPreferences = async (id: string, body: unknown): Promise<void> => {
    const res = await cookieFetch(t.url, `/v1/push/tokens/${id}/preferences`, s, {
      method: 'PUT',
      body: JSON.stringify(body),
    });
    expect(res.status, await res.clone().text()).toBe(200);
  };
  /** Which browsers a push reached. */
  const reached = (web: Array<{ endpoint: string }>): string[] =>
    [...endpoints].filter(([, e]) => web.some((d) => d.endpoint === e)).map(([name]) => name);

  beforeAll(async () => {
    t = await startTestCloud(backend, {
      overrides: { ...h.overrides(), accounts: { scrypt: { cost_log2: 14 } } },
      notify: { pushService: h.pushService },
    });
    await t.cloud.accounts.admin.create({
      email: 'o@example.com',
      tenantId: 'default',
      role: 'admin',
      password: PASSWORD,
    });
    s = await login(t.url, 'o@example.com', PASSWORD);
    reviewBox = await t.pairDevice('porch box');
    eventBox = await t.pairDevice('old box');
    // Browsers subscribed on the local push service (http endpoints: registered through the store).
    const ids = new Map<string, string>();
    for (const name of ['all', 'no_cars', 'other_camera', 'asleep', 'awake']) {
      const sub = h.web.subscribe(h.vapid.publicKey);
      const { record } = await t.cloud.store.upsertPushToken({
        tenantId: 'default',
        platform: 'webpush',
        token: sub.endpoint,
        p256dh: sub.keys.p256dh,
        auth: sub.keys.auth,
        deviceLabel: name,
        now: Date.now(),
      });
      ids.set(name, record.id);
      endpoints.set(name, sub.endpoint);
    }
    const none = { labels: null, cameras: null, quiet_hours: null };
    await setPreferences(ids.get('no_cars')!, { ...none, labels: ['person', 'dog'] });
    await setPreferences(ids.get('other_camera')!, { ...none, cameras: [`${reviewBox.deviceId}/nowhere`] });
    const zone = 'Asia/Kathmandu';
    const around = { start: localTime(zone, -60), end: localTime(zone, 60), time_zone: zone };
    await setPreferences(ids.get('asleep')!, { ...none, quiet_hours: around });
    const later = { start: localTime(zone, 120), end: localTime(zone, 180), time_zone: zone };
    await setPreferences(ids.get('awake')!, { ...none, quiet_hours: later });
    // The review box becomes one that sends review items.
    const intro = wireReview({ deviceId: reviewBox.deviceId, severity: 'detection', camera: 'intro' });
    await sendReview(t, reviewBox, intro);
    await waitForReview(t, String(intro.id), (r) => r.notification?.decision === 'detection');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a car alert (review item) reaches every browser but the one excluding cars', async () => {
    h.llm.reset();
    h.llm.script({ kind: 'answer', answer: CAR });
    const cam = camera();
    const [id, evt] = [newReviewId(), newEventId()];
    await h.sendEvent(t, reviewBox, { camera: cam, id: evt, label: 'car' });
    const item = { id, deviceId: reviewBox.deviceId, camera: cam, objects: [evt], labels: ['car'] };
    await sendReview(t, reviewBox, wireReview({ ...item, startedAt: new Date(Date.now() - 2000).toISOString() }));
    await waitForReview(t, id, pushedTimes(1));
    const web = reviewDeliveries(h, id).web;
    expect(reached(web).sort()).toEqual(['all', 'awake']);
    expect(web).toHaveLength(2);
    expect(web[0]!.payload).toMatchObject({ review_id: id, title: CAR.summary });
  });

  it('a person alert reaches the browser that wants people too', async () => {
    h.llm.reset();
    const cam = camera();
    const [id, evt] = [newReviewId(), newEventId()];
    await h.sendEvent(t, reviewBox, { camera: cam, id: evt });
    const item = { id, deviceId: reviewBox.deviceId, camera: cam, objects: [evt], labels: ['person'] };
    await sendReview(t, reviewBox, wireReview({ ...item, startedAt: new Date(Date.now() - 2000).toISOString() }));
    await waitForReview(t, id, pushedTimes(1));
    expect(reached(reviewDeliveries(h, id).web).sort()).toEqual(['all', 'awake', 'no_cars']);
  });

  it('a box that pushes per event: the car event skips the browser excluding cars; the list shows it', async () => {
    h.llm.reset();
    h.llm.script({ kind: 'answer', answer: CAR });
    const cam = camera();
    const { eventId } = await h.sendEvent(t, eventBox, { camera: cam, label: 'car' });
    const e = await waitForEvent(t, eventId, (v) => settled(v) && v.push_state === 'sent');
    await sleep(100);
    expect(reached(h.deliveries(eventId).web).sort()).toEqual(['all', 'awake']);
    expect(e.push_deliveries.map((d) => d.status)).toEqual(['sent', 'sent']);
    // the card of the event, from the list (cookie, as the app reads it)
    const res = await cookieFetch(t.url, `/v1/events?verdict=verified&camera=${cam}`, s, { csrf: false });
    const { events } = (await res.json()) as { events: Array<Record<string, unknown>> };
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      id: eventId,
      verification: { status: 'verified', label: 'car', confidence: 0.9, summary: CAR.summary, provider: 'openai' },
      push: { decision: 'verified', sent: true },
    });
  });
});
