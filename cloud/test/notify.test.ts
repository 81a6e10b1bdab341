import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceCredentials } from '../../shared/signing/index.js';
import { Writable } from 'node:stream';
import { createLogger } from '../../shared/log/index.js';
import { deriveLinkKey, redactLinkSignature, ThumbnailLinks } from '../notify/links.js';
import { NOTIFY_JOB } from '../notify/notifier.js';
import { testBackends } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { NotifyHarness, settled, waitForEvent } from './support-llm/notify-harness.js';

/**
 * The notify job's rules inside a running collector: what is never sent to the LLM, waiting for an announced
 * thumbnail, one push per camera+label within the cooldown (also when two events race), quiet hours, the embedded
 * default (provider none), and the signed links on their own.
 */
const backends = await testBackends();
let h: NotifyHarness;
beforeAll(async () => {
  h = await NotifyHarness.start();
});
afterAll(async () => {
  await h.close();
});

describe('signed thumbnail links', () => {
  const links = new ThumbnailLinks(deriveLinkKey(Buffer.alloc(32, 1)), () => 'https://vigil.example.com/', 60_000);
  const id = 'evt_01JD0000000000000000000000';
  const now = Date.UTC(2026, 5, 1);
  const parts = (url: string) => {
    const u = new URL(url);
    return {
      exp: u.searchParams.get('exp') ?? undefined,
      sig: u.searchParams.get('sig') ?? undefined,
      path: u.pathname,
    };
  };

  it('signs the event id and expiry; verifies until expiry, and only for that event and key', () => {
    const url = links.sign(id, now);
    const { exp, sig, path } = parts(url);
    expect(url.startsWith('https://vigil.example.com/v1/events/')).toBe(true);
    expect(path).toBe(`/v1/events/${id}/thumbnail`);
    expect(Number(exp)).toBe(Math.floor((now + 60_000) / 1000));
    expect(links.verify(id, exp, sig, now)).toBe(true);
    expect(links.verify(id, exp, sig, now + 59_000)).toBe(true);
    expect(links.verify(id, exp, sig, now + 61_000)).toBe(false);
    expect(links.verify('evt_01JD0000000000000000000001', exp, sig, now)).toBe(false);
    expect(links.verify(id, String(Number(exp) + 100), sig, now)).toBe(false);
    expect(links.verify(id, exp, undefined, now)).toBe(false);
    expect(links.verify(id, 'soon', sig, now)).toBe(false);
    const other = new ThumbnailLinks(deriveLinkKey(Buffer.alloc(32, 2)), () => 'https://vigil.example.com', 60_000);
    expect(other.verify(id, exp, sig, now)).toBe(false);
  });
});

describe('signed links stay out of the logs', () => {
  it('redacts the signature of a logged request line', async () => {
    expect(redactLinkSignature('/v1/events/e/thumbnail?exp=1&sig=abc-_X')).toBe(
      '/v1/events/e/thumbnail?exp=1&sig=[redacted]',
    );
    expect(redactLinkSignature('/v1/events?label=person')).toBe('/v1/events?label=person');
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const cloud = await startTestCloud(backends[0]!, {
      logger: createLogger({ component: 'cloud', level: 'info', destination: destination as never }),
    });
    try {
      const url = cloud.cloud.notify.links.sign('evt_01JD0000000000000000000000', Date.now());
      const sig = new URL(url).searchParams.get('sig')!;
      expect((await fetch(url)).status).toBe(404); // no such event
      expect(lines.some((l) => l.includes('sig=[redacted]'))).toBe(true);
      expect(lines.some((l) => l.includes(sig))).toBe(false);
    } finally {
      await cloud.close();
    }
  });
});

describe.each(backends)('notify job on $name', (backend) => {
  let t: TestCloud;
  let creds: DeviceCredentials;
  let seq = 0;
  const cam = (): string => `n${++seq}`;

  beforeAll(async () => {
    t = await startTestCloud(backend, {
      overrides: h.overrides({
        notify: { thumbnail_wait: '600ms', labels: { person: { min_score: 0.5 }, car: { min_score: 0.5 } } },
      }),
      notify: { pushService: h.pushService },
    });
    creds = await t.pairDevice('garden box');
    await h.registerTokens(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a label not in the whitelist or a low edge score is decided without asking the LLM', async () => {
    h.llm.reset();
    const bird = await h.sendEvent(t, creds, { camera: cam(), label: 'bird' });
    const faint = await h.sendEvent(t, creds, { camera: cam(), score: 0.3 });
    const a = await waitForEvent(t, bird.eventId, settled);
    const b = await waitForEvent(t, faint.eventId, settled);
    expect(a.verification).toMatchObject({ status: 'skipped', decision: 'label_not_notified', classify_label: null });
    expect(b.verification).toMatchObject({ status: 'skipped', decision: 'low_edge_score' });
    expect(h.llm.requests).toHaveLength(0);
    expect(h.deliveries(bird.eventId).apns).toHaveLength(0);
  });

  it('waits for an announced thumbnail; without it, decides by the llm_down rule after thumbnail_wait', async () => {
    h.llm.reset();
    // Announce a thumbnail but never upload it.
    const { eventId } = await h.sendEvent(t, creds, { camera: cam(), thumbnail: true, uploadThumbnail: false });
    const waiting = await waitForEvent(t, eventId, (e) => e.verification?.last_error === 'waiting for the thumbnail');
    expect(waiting.verification).toMatchObject({ status: 'pending', attempts: 0 });
    const e = await waitForEvent(t, eventId, settled);
    expect(e.verification).toMatchObject({
      status: 'unverified',
      reason: 'no_thumbnail',
      decision: 'llm_down_push_unverified',
    });
    expect(h.llm.requests).toHaveLength(0);
    expect(h.deliveries(eventId).web).toHaveLength(1);
  });

  it('an event without an announced thumbnail does not wait', async () => {
    // With an hour of thumbnail_wait, a job that waited would never finish within the test.
    const patient = await startTestCloud(backend, {
      db: t.db,
      overrides: h.overrides({ notify: { thumbnail_wait: '1h' } }),
      notify: { pushService: h.pushService },
    });
    try {
      await t.cloud.notify.notifier.worker.stop();
      const { eventId } = await h.sendEvent(patient, creds, { camera: cam(), thumbnail: false });
      const e = await waitForEvent(patient, eventId, settled);
      expect(e.verification).toMatchObject({ reason: 'no_thumbnail', decision: 'llm_down_push_unverified' });
    } finally {
      await patient.cloud.close();
      t.cloud.notify.notifier.worker.start();
    }
  });

  it('the thumbnail arriving after the event wakes the waiting job', async () => {
    h.llm.reset();
    const { eventId, upload } = await h.sendEventDeferred(t, creds, { camera: cam() });
    await waitForEvent(t, eventId, (e) => e.verification?.last_error === 'waiting for the thumbnail');
    await upload();
    const e = await waitForEvent(t, eventId, settled);
    expect(e.verification).toMatchObject({ status: 'verified', classify_label: 'person' });
    expect(h.llm.requests).toHaveLength(1);
  });

  it('cooldown: a 2nd person on one camera within the cooldown is verified, not pushed; elsewhere is', async () => {
    const c = cam();
    const first = await h.sendEvent(t, creds, { camera: c });
    await waitForEvent(t, first.eventId, settled);
    const second = await h.sendEvent(t, creds, { camera: c });
    const elsewhere = await h.sendEvent(t, creds, { camera: cam() });
    const s = await waitForEvent(t, second.eventId, settled);
    const o = await waitForEvent(t, elsewhere.eventId, settled);
    expect(s.verification).toMatchObject({ status: 'verified', decision: 'cooldown' });
    expect(s.push_sent).toBe(false);
    expect(h.deliveries(second.eventId).apns).toHaveLength(0);
    expect(o.push_sent).toBe(true);
  });

  it('two events racing for one camera and label: exactly one of them pushes', async () => {
    const c = cam();
    const events = await Promise.all([
      h.sendEvent(t, creds, { camera: c }),
      h.sendEvent(t, creds, { camera: c }),
      h.sendEvent(t, creds, { camera: c }),
    ]);
    const views = await Promise.all(events.map((e) => waitForEvent(t, e.eventId, settled)));
    expect(views.filter((v) => v.push_sent)).toHaveLength(1);
    expect(views.filter((v) => v.verification?.decision === 'cooldown')).toHaveLength(2);
    expect(events.map((e) => h.deliveries(e.eventId).apns.length).reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('one job per event: later messages of the event do not queue another', async () => {
    const c = cam();
    const { eventId } = await h.sendEvent(t, creds, { camera: c });
    await waitForEvent(t, eventId, settled);
    await h.sendUpdate(t, creds, eventId, c);
    const n = await t.cloud.database.get<{ n: number }>(
      'SELECT COUNT(*) AS n FROM jobs WHERE kind = ? AND event_id = ?',
      [NOTIFY_JOB, eventId],
    );
    expect(Number(n!.n)).toBe(1);
  });

  it('the same picture is never paid for twice, also after a restart (answer cache in the database)', async () => {
    const first = await h.sendEvent(t, creds, { camera: cam() });
    await waitForEvent(t, first.eventId, settled);
    const fresh = await startTestCloud(backend, {
      db: t.db,
      overrides: h.overrides(),
      notify: { pushService: h.pushService },
    });
    try {
      await t.cloud.notify.notifier.worker.stop();
      h.llm.reset();
      const again = await h.sendEvent(fresh, creds, { camera: cam(), jpeg: first.jpeg });
      const e = await waitForEvent(fresh, again.eventId, settled);
      expect(e.verification).toMatchObject({
        status: 'verified',
        classify_label: 'person',
        cached: true,
        provider: 'openai',
      });
      expect(h.llm.requests).toHaveLength(0);
    } finally {
      await fresh.cloud.close();
      t.cloud.notify.notifier.worker.start();
    }
  });

  it('quiet hours hold the push (event still verified)', async () => {
    const quiet = await startTestCloud(backend, {
      db: t.db,
      overrides: h.overrides({
        notify: { quiet_hours: { start: '00:00', end: '23:59', time_zone: '+00:00' }, tenants: {} },
      }),
      notify: { pushService: h.pushService },
    });
    try {
      await t.cloud.notify.notifier.worker.stop();
      const { eventId } = await h.sendEvent(quiet, creds, { camera: cam() });
      const e = await waitForEvent(quiet, eventId, settled);
      // 23:59-00:00 UTC is the only minute outside; accept either, but it must be consistent with the clock.
      const minute = new Date().getUTCHours() * 60 + new Date().getUTCMinutes();
      if (minute < 23 * 60 + 59) expect(e.verification).toMatchObject({ status: 'verified', decision: 'quiet_hours' });
    } finally {
      await quiet.cloud.close();
      t.cloud.notify.notifier.worker.start();
    }
  });

  it("provider none (the default): pushes on the box's word, marked unverified", async () => {
    const plain = await startTestCloud(backend, {
      db: t.db,
      overrides: { ...h.overrides(), reclassify: { providers: [{ kind: 'none' }] } },
      notify: { pushService: h.pushService },
    });
    try {
      await t.cloud.notify.notifier.worker.stop();
      h.llm.reset();
      const { eventId } = await h.sendEvent(plain, creds, { camera: cam() });
      const e = await waitForEvent(plain, eventId, (v) => settled(v) && v.push_state === 'sent');
      expect(e.verification).toMatchObject({
        status: 'unverified',
        reason: 'provider_none',
        decision: 'edge_only',
        provider: 'none',
      });
      expect(h.llm.requests).toHaveLength(0);
      const web = h.deliveries(eventId).web[0]!.payload as { title: string; unverified?: boolean };
      expect(web.title).toMatch(/^Person at n\d+$/);
    } finally {
      await plain.cloud.close();
      t.cloud.notify.notifier.worker.start();
    }
  });
});
