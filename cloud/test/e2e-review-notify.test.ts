import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newEventId } from '../../shared/ids/index.js';
import type { DeviceCredentials } from '../../shared/signing/index.js';
import { PushService, type Notification, type PushResult, type PushTarget } from '../push/index.js';
import { testBackends } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { newReviewId, wireReview } from './support/fixtures.js';
import { NO_PERSON_ANSWER, PERSON_ANSWER } from './support-llm/llm-server.js';
import { NotifyHarness, settled, waitForEvent } from './support-llm/notify-harness.js';
import {
  pushedTimes,
  reviewDeliveries,
  reviewSettled,
  sendReview,
  waitForReview,
} from './support-llm/review-notify.js';

/**
 * Review items end to end with the real collector (HTTP ingest, job queue, the vision LLM server, the real push
 * senders against local APNs / FCM / Web Push servers that check credentials and decrypt), on SQLite and PostgreSQL:
 * one alert item → one push, updated in place (same collapse id / Topic / tag) as objects join, never a second
 * "new" push; its objects' LLM verdicts decide; a snoozed camera pushes nothing until the snooze ends; a box without
 * review items keeps one push per event.
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
const camera = (): string => `rcam${++cameraSeq}`;
const started = () => new Date(Date.now() - 2000).toISOString();

describe.each(backends)('review item pushes on $name', (backend) => {
  let t: TestCloud;
  /** A box that sends review items (it has sent one before these tests). */
  let box: DeviceCredentials;

  beforeAll(async () => {
    t = await startTestCloud(backend, { overrides: h.overrides(), notify: { pushService: h.pushService } });
    box = await t.pairDevice('porch box');
    await h.registerTokens(t);
    const intro = wireReview({ deviceId: box.deviceId, severity: 'detection', camera: 'intro', startedAt: started() });
    await sendReview(t, box, intro);
    await waitForReview(t, String(intro.id), (r) => r.notification?.decision === 'detection');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('one alert item: one push, then updates in place as objects join — never a second new push', async () => {
    h.llm.reset();
    const cam = camera();
    const id = newReviewId();
    const [a, b] = [newEventId(), newEventId()];
    const item = (rev: number, objects: string[], labels: string[], type: 'new' | 'update' | 'end') =>
      wireReview({
        id,
        deviceId: box.deviceId,
        camera: cam,
        type,
        rev,
        objects,
        labels,
        zones: ['porch'],
        thumbnail_event: a,
        startedAt: started(),
        ...(type === 'end' ? { endedAt: new Date().toISOString() } : {}),
      });

    await h.sendEvent(t, box, { camera: cam, id: a });
    await sendReview(t, box, item(0, [a], ['person'], 'new'));
    let r = await waitForReview(t, id, pushedTimes(1));
    expect(r.notification).toMatchObject({ decision: 'pushed', push_title: PERSON_ANSWER.summary });
    expect(r.thumbnail).toEqual({ event_id: a, url: `/v1/events/${a}/thumbnail` });

    await h.sendEvent(t, box, { camera: cam, id: b, label: 'person' });
    await sendReview(t, box, item(1, [a, b], ['person'], 'update'));
    r = await waitForReview(t, id, pushedTimes(2));
    expect(r.notification).toMatchObject({ decision: 'updated' });
    expect(r.notification!.push_body).toContain('2 objects');
    // Both objects verified by the LLM; the item's job settles once more when b's verdict lands (nothing new).
    await waitForEvent(t, b, settled);
    await sendReview(t, box, item(2, [a, b], ['person'], 'end'));
    r = await waitForReview(t, id, (x) => reviewSettled(x) && x.rev === 2);
    await sleep(300);

    const d = reviewDeliveries(h, id);
    expect({ apns: d.apns.length, fcm: d.fcm.length, web: d.web.length }).toEqual({ apns: 2, fcm: 2, web: 2 });
    // Web Push: same Topic and tag, the second marked as an update (quiet), with the new body.
    expect(d.web.map((x) => x.headers.topic)).toEqual([id, id]);
    expect(d.web.map((x) => x.payload.tag)).toEqual([id, id]);
    expect(d.web.map((x) => x.payload.update ?? false)).toEqual([false, true]);
    expect(d.web[1]!.payload).toMatchObject({ review_id: id, event_id: a, renotify: false });
    expect(String(d.web[1]!.payload.body)).toContain('2 objects');
    expect(d.web.map((x) => x.headers.urgency)).toEqual(['high', 'normal']);
    // APNs and FCM collapse the same way.
    expect(d.apns.map((x) => x.headers['apns-collapse-id'])).toEqual([id, id]);
    expect(d.apns.map((x) => (x.payload.aps as { sound?: string }).sound)).toEqual(['default', undefined]);
    const android = d.fcm.map((x) => x.message.android as { collapse_key: string; notification: { tag: string } });
    expect(android.map((x) => [x.collapse_key, x.notification.tag])).toEqual([
      [id, id],
      [id, id],
    ]);
    // Exactly one "new" push per platform.
    expect(d.web.filter((x) => !x.payload.update)).toHaveLength(1);
    expect(d.apns.filter((x) => !x.payload.update)).toHaveLength(1);

    // The objects were verified, but never pushed on their own.
    for (const e of [a, b]) {
      const v = await waitForEvent(t, e, settled);
      expect(v.verification).toMatchObject({ status: 'verified', decision: 'verified' });
      expect(v.push_state).toBeNull();
      expect(v.push_deliveries).toEqual([]);
    }
  });

  it("its objects' verdicts decide: a rejected first object pushes nothing; a verified one joining does", async () => {
    h.llm.reset();
    h.llm.script({ kind: 'answer', answer: NO_PERSON_ANSWER });
    const cam = camera();
    const id = newReviewId();
    const [a, b] = [newEventId(), newEventId()];
    const base = { id, deviceId: box.deviceId, camera: cam, startedAt: started() };
    await h.sendEvent(t, box, { camera: cam, id: a });
    await sendReview(t, box, wireReview({ ...base, objects: [a] }));
    let r = await waitForReview(t, id, (x) => reviewSettled(x) && x.notification?.decision === 'not_confirmed');
    expect(r.notification!.push_count).toBe(0);
    expect((await waitForEvent(t, a, settled)).verification).toMatchObject({ status: 'rejected' });

    await h.sendEvent(t, box, { camera: cam, id: b });
    await sendReview(t, box, wireReview({ ...base, type: 'update', rev: 1, objects: [a, b] }));
    r = await waitForReview(t, id, pushedTimes(1));
    expect(r.notification).toMatchObject({ decision: 'pushed', push_title: PERSON_ANSWER.summary });
    const d = reviewDeliveries(h, id);
    expect(d.web).toHaveLength(1);
    expect(d.web[0]!.payload).toMatchObject({ review_id: id, event_id: b });
    expect(d.web[0]!.payload.update).toBeUndefined();
  });

  it('a snoozed camera pushes nothing until the snooze ends; then pushes resume', async () => {
    h.llm.reset();
    const cam = camera();
    const until = new Date(Date.now() + 2500).toISOString();
    const set = await t.api(`/v1/cameras/${box.deviceId}/${cam}/snooze`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ until }),
    });
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ snoozed: true, until });

    const quiet = { id: newReviewId(), evt: newEventId() };
    await h.sendEvent(t, box, { camera: cam, id: quiet.evt });
    const msg = { id: quiet.id, deviceId: box.deviceId, camera: cam, objects: [quiet.evt], startedAt: started() };
    await sendReview(t, box, wireReview(msg));
    const r = await waitForReview(t, quiet.id, (x) => reviewSettled(x) && x.notification?.decision === 'snoozed');
    expect(r.notification!.push_count).toBe(0);
    expect(reviewDeliveries(h, quiet.id)).toEqual({ apns: [], fcm: [], web: [] });

    const left = Date.parse(until) - Date.now();
    if (left > 0) await sleep(left + 50);
    const get = await t.api(`/v1/cameras/${box.deviceId}/${cam}/snooze`);
    expect(await get.json()).toMatchObject({ snoozed: false, until: null });
    const loud = { id: newReviewId(), evt: newEventId() };
    await h.sendEvent(t, box, { camera: cam, id: loud.evt });
    await sendReview(
      t,
      box,
      wireReview({ id: loud.id, deviceId: box.deviceId, camera: cam, objects: [loud.evt], startedAt: started() }),
    );
    await waitForReview(t, loud.id, pushedTimes(1));
    expect(reviewDeliveries(h, loud.id).web).toHaveLength(1);
    // The item held during the snooze was not pushed late.
    expect(reviewDeliveries(h, quiet.id).web).toHaveLength(0);
  });

  it('a detection item never pushes; a box without review items keeps one push per event', async () => {
    h.llm.reset();
    const cam = camera();
    const id = newReviewId();
    const evt = newEventId();
    await h.sendEvent(t, box, { camera: cam, id: evt, label: 'car' });
    await sendReview(
      t,
      box,
      wireReview({ id, deviceId: box.deviceId, camera: cam, severity: 'detection', objects: [evt], labels: ['car'] }),
    );
    await waitForReview(t, id, (x) => reviewSettled(x) && x.notification?.decision === 'detection');
    await waitForEvent(t, evt, settled);
    expect(reviewDeliveries(h, id)).toEqual({ apns: [], fcm: [], web: [] });
    expect(h.deliveries(evt)).toEqual({ apns: [], fcm: [], web: [] });

    const oldBox = await t.pairDevice('old box');
    const { eventId } = await h.sendEvent(t, oldBox, { camera: camera() });
    const e = await waitForEvent(t, eventId, (x) => settled(x) && x.push_state === 'sent');
    expect(e.verification).toMatchObject({ status: 'verified', decision: 'verified' });
    const d = h.deliveries(eventId);
    expect({ apns: d.apns.length, fcm: d.fcm.length, web: d.web.length }).toEqual({ apns: 1, fcm: 1, web: 1 });
    expect(d.web[0]!.headers.topic).toBe(eventId);
    expect(d.web[0]!.payload.review_id).toBeUndefined();
  });

  it('a box that starts sending review items: its first item does not push again what an event pushed', async () => {
    h.llm.reset();
    const upgraded = await t.pairDevice('upgraded box');
    const cam = camera();
    // The box's first event is decided before its first review item arrives: pushed on its own.
    const { eventId: first } = await h.sendEvent(t, upgraded, { camera: cam });
    await waitForEvent(t, first, (x) => settled(x) && x.push_state === 'sent');
    const id = newReviewId();
    const msg = { id, deviceId: upgraded.deviceId, camera: cam, objects: [first], startedAt: started() };
    await sendReview(t, upgraded, wireReview(msg));
    const r = await waitForReview(t, id, (x) => reviewSettled(x) && x.notification?.decision === 'object_pushed');
    expect(r.notification!.push_count).toBe(0);
    expect(reviewDeliveries(h, id).web).toHaveLength(0);
    expect(h.deliveries(first).web).toHaveLength(1);
    // From now on the box is known to send review items: its events are judged, not pushed on their own.
    const second = newEventId();
    await h.sendEvent(t, upgraded, { camera: cam, id: second });
    await sendReview(t, upgraded, wireReview({ ...msg, type: 'update', rev: 1, objects: [first, second] }));
    const e = await waitForEvent(t, second, settled);
    expect(e.verification).toMatchObject({ status: 'verified', decision: 'verified' });
    expect(e.push_state).toBeNull();
    // The item was pushed by its first object's own push; it does not push now either.
    const after = await waitForReview(t, id, (x) => reviewSettled(x) && x.rev === 1);
    expect(after.notification).toMatchObject({ decision: 'object_pushed', push_count: 0 });
    expect(reviewDeliveries(h, id).web).toHaveLength(0);
  });

  it('killed between sending and recording: sent again with the same collapse id, then never again', async () => {
    const blocked = new SendThenHang(h);
    await t.cloud.notify.reviews.worker.stop(); // only the victim's workers take these jobs
    await t.cloud.notify.notifier.worker.stop();
    const victim = await startTestCloud(backend, {
      db: t.db,
      overrides: h.overrides(),
      notify: { pushService: blocked },
    });
    let survivor: TestCloud | undefined;
    try {
      h.llm.reset();
      const cam = camera();
      const id = newReviewId();
      const evt = newEventId();
      await h.sendEvent(victim, box, { camera: cam, id: evt });
      await sendReview(
        victim,
        box,
        wireReview({ id, deviceId: box.deviceId, camera: cam, objects: [evt], startedAt: started() }),
      );
      await blocked.reached;
      await victim.cloud.notify.close({ abandon: true });
      await victim.cloud.close();
      survivor = await startTestCloud(backend, {
        db: t.db,
        overrides: h.overrides(),
        notify: { pushService: h.pushService },
      });
      const r = await waitForReview(survivor, id, pushedTimes(1));
      expect(r.notification).toMatchObject({ decision: 'pushed' });
      const d = reviewDeliveries(h, id);
      expect(d.web.map((x) => x.headers.topic)).toEqual([id, id]);
      expect(d.web.every((x) => !x.payload.update)).toBe(true);
      await survivor.cloud.close();
      survivor = await startTestCloud(backend, {
        db: t.db,
        overrides: h.overrides(),
        notify: { pushService: h.pushService },
      });
      await sleep(1000);
      expect(reviewDeliveries(h, id).web).toHaveLength(2);
    } finally {
      await survivor?.cloud.close();
      t.cloud.notify.notifier.worker.start();
      t.cloud.notify.reviews.worker.start();
    }
  });

  it('a box without review items: a snoozed camera holds its per-event push', async () => {
    h.llm.reset();
    const oldBox = await t.pairDevice('old box 2');
    const cam = camera();
    const snooze = await t.api(`/v1/cameras/${oldBox.deviceId}/${cam}/snooze`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ until: new Date(Date.now() + 3600_000).toISOString() }),
    });
    expect(snooze.status).toBe(200);
    const { eventId } = await h.sendEvent(t, oldBox, { camera: cam });
    const e = await waitForEvent(t, eventId, settled);
    expect(e.verification).toMatchObject({ status: 'verified', decision: 'snoozed' });
    expect(h.deliveries(eventId)).toEqual({ apns: [], fcm: [], web: [] });
  });
});

/** A PushService that delivers the first push, then never returns (as a process killed before recording it). */
class SendThenHang extends PushService {
  reached: Promise<void>;
  private arrive!: () => void;

  constructor(harness: NotifyHarness) {
    super({ senders: harness.senders, maxAttempts: 1 });
    this.reached = new Promise((r) => (this.arrive = r));
  }

  override async send(n: Notification, targets: readonly PushTarget[]): Promise<PushResult[]> {
    await super.send(n, targets);
    this.arrive();
    return new Promise<PushResult[]>(() => undefined);
  }
}
