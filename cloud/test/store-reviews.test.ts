import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newEventId } from '../../shared/ids/index.js';
import type { ReviewCursor, ReviewRecord, Store } from '../store/store.js';
import { testBackends, type TestDatabase } from './support/backends.js';
import { ingestMessage, newReviewId, pairTestDevice, reviewInput, wireEvent, wireReview } from './support/fixtures.js';

/**
 * Review items in the store, on SQLite and PostgreSQL: stored with the request's events in one transaction,
 * deduplicated by (device, id, rev) and fingerprint, applied by rev, filtered and paged, marked reviewed, tenant
 * scoped; the zones of events and the camera snoozes.
 */
const backends = await testBackends();
const T0 = Date.UTC(2026, 0, 1, 12);
const MIN = 60_000;

describe.each(backends)('review items on $name', (backend) => {
  let db: TestDatabase;
  let store: Store;
  let device: string;
  beforeEach(async () => {
    db = await backend.open();
    store = db.store;
    device = await pairTestDevice(store);
  });
  afterEach(async () => {
    await db.cleanup();
  });

  const put = (...reviews: ReturnType<typeof wireReview>[]) =>
    store.storeEventMessages(device, reviews.map(reviewInput), T0);

  it('stores a new item; an identical resend is a duplicate, other content under its rev a conflict', async () => {
    const evt = newEventId();
    const r = wireReview({ deviceId: device, objects: [evt], labels: ['person'], zones: ['porch'] });
    expect(await put(r)).toEqual([{ id: r.id, rev: 0, status: 'stored' }]);
    const resend = { ...Object.fromEntries(Object.entries(r).reverse()), sent_at: new Date(T0 + 5000).toISOString() };
    expect(await put(resend)).toEqual([{ id: r.id, rev: 0, status: 'duplicate' }]);
    const [conflict] = await put({ ...r, labels: ['car'] });
    expect(conflict).toMatchObject({ id: r.id, rev: 0, status: 'conflict', code: 'event_conflict' });
    expect(await store.getReview('default', String(r.id))).toMatchObject({
      id: r.id,
      deviceId: device,
      camera: 'front',
      severity: 'alert',
      status: 'active',
      startedAt: T0,
      endedAt: null,
      objects: [evt],
      labels: ['person'],
      zones: ['porch'],
      lastRev: 0,
      reviewedAt: null,
    });
  });

  it('applies by rev: a later rev replaces, a late older rev fills gaps only, severity never goes down', async () => {
    const [a, b] = [newEventId(), newEventId()];
    const id = newReviewId();
    const rev0 = wireReview({ id, deviceId: device, severity: 'detection', objects: [a], labels: ['car'] });
    const rev1 = wireReview({
      id,
      deviceId: device,
      type: 'update',
      rev: 1,
      severity: 'alert',
      objects: [a, b],
      labels: ['car', 'person'],
      zones: ['drive'],
      thumbnail_event: b,
    });
    const end = wireReview({
      id,
      deviceId: device,
      type: 'end',
      rev: 2,
      severity: 'alert',
      objects: [a, b],
      labels: ['car', 'person'],
      zones: ['drive'],
      endedAt: T0 + 30_000,
    });
    // Arrival order: end, then new, then the update (each in its own request).
    for (const r of [end, rev0, rev1]) expect((await put(r))[0]!.status).toBe('stored');
    const got = (await store.getReview('default', id))!;
    expect(got).toMatchObject({
      severity: 'alert',
      status: 'ended',
      endedAt: T0 + 30_000,
      objects: [a, b],
      labels: ['car', 'person'],
      zones: ['drive'],
      lastRev: 2,
    });
    // A stray later rev saying detection does not lower it.
    const odd = wireReview({ id, deviceId: device, type: 'update', rev: 3, severity: 'detection', objects: [a, b] });
    await put(odd);
    expect((await store.getReview('default', id))!.severity).toBe('alert');
    expect((await store.getReview('default', id))!.status).toBe('ended');
  });

  it("another device's review id is rejected and changes nothing", async () => {
    const r = wireReview({ deviceId: device });
    await put(r);
    const other = await pairTestDevice(store);
    const stolen = { ...wireReview({ deviceId: other, id: String(r.id), type: 'update', rev: 1 }) };
    const [res] = await store.storeEventMessages(other, [reviewInput(stolen)], T0);
    expect(res).toMatchObject({ status: 'rejected', code: 'event_conflict' });
    expect((await store.getReview('default', String(r.id)))!).toMatchObject({ deviceId: device, lastRev: 0 });
    expect(await store.deviceSendsReviews(other)).toBe(false);
  });

  it('events and review items of a request commit together; the hook hears both; its failure undoes both', async () => {
    const heard: { eventIds: readonly string[]; reviewIds: readonly string[] }[] = [];
    let fail = false;
    store.onEventsStored(async (_x, stored) => {
      heard.push({ eventIds: stored.eventIds, reviewIds: stored.reviewIds });
      if (fail) throw new Error('hook failed (test)');
    });
    const e = wireEvent({ deviceId: device, zones: ['porch'] });
    const r = wireReview({ deviceId: device, objects: [String(e.id)] });
    await store.storeEventMessages(device, [ingestMessage(e), reviewInput(r)], T0);
    expect(heard).toEqual([{ eventIds: [e.id], reviewIds: [r.id] }]);

    fail = true;
    const e2 = wireEvent({ deviceId: device });
    const r2 = wireReview({ deviceId: device, objects: [String(e2.id)] });
    await expect(store.storeEventMessages(device, [ingestMessage(e2), reviewInput(r2)], T0)).rejects.toThrow(
      'hook failed',
    );
    expect(await store.getEvent('default', String(e2.id))).toBeUndefined();
    expect(await store.getReview('default', String(r2.id))).toBeUndefined();
    // Nothing of the failed request was recorded: the same messages store fine afterwards.
    fail = false;
    const again = await store.storeEventMessages(device, [ingestMessage(e2), reviewInput(r2)], T0);
    expect(again.map((x) => x.status)).toEqual(['stored', 'stored']);
  });

  it('knows which items hold an event, and which devices send review items', async () => {
    const [a, b] = [newEventId(), newEventId()];
    const r1 = wireReview({ deviceId: device, objects: [a] });
    const r2 = wireReview({ deviceId: device, objects: [a, b] });
    expect(await store.deviceSendsReviews(device)).toBe(false);
    await put(r1, r2);
    expect(await store.deviceSendsReviews(device)).toBe(true);
    expect(await store.reviewsHoldingEvent(a)).toEqual([r1.id, r2.id].sort());
    expect(await store.reviewsHoldingEvent(b)).toEqual([r2.id]);
    // An update that lists another object set replaces the item's objects.
    await put(wireReview({ deviceId: device, id: String(r2.id), type: 'update', rev: 1, objects: [b] }));
    expect(await store.reviewsHoldingEvent(a)).toEqual([r1.id]);
  });

  describe('listing', () => {
    /** Six items, one per minute from T0 (newest last): cameras, severities, labels and zones mixed. */
    async function seed(): Promise<string[]> {
      const specs = [
        { camera: 'front', severity: 'alert', labels: ['person'], zones: ['porch'] },
        { camera: 'front', severity: 'detection', labels: ['car'], zones: [] },
        { camera: 'back', severity: 'alert', labels: ['person', 'dog'], zones: ['yard'] },
        { camera: 'back', severity: 'detection', labels: ['dog'], zones: ['yard', 'porch'] },
        { camera: 'front', severity: 'alert', labels: ['car', 'person'], zones: ['drive'] },
        { camera: 'front', severity: 'detection', labels: ['person'], zones: ['porch'] },
      ] as const;
      const ids: string[] = [];
      for (const [i, s] of specs.entries()) {
        const r = wireReview({
          deviceId: device,
          camera: s.camera,
          severity: s.severity,
          labels: [...s.labels],
          zones: [...s.zones],
          startedAt: T0 + i * MIN,
        });
        await put(r);
        ids.push(String(r.id));
      }
      return ids;
    }
    const list = async (f: Parameters<Store['listReviews']>[1]) =>
      (await store.listReviews('default', f, 50)).reviews.map((r) => r.id);

    it('filters by severity, camera, zone, label, reviewed, device and time, newest first', async () => {
      const ids = await seed();
      const pick = (...i: number[]) => i.map((n) => ids[n]);
      expect(await list({})).toEqual(pick(5, 4, 3, 2, 1, 0));
      expect(await list({ severity: 'alert' })).toEqual(pick(4, 2, 0));
      expect(await list({ camera: 'back' })).toEqual(pick(3, 2));
      expect(await list({ zone: 'porch' })).toEqual(pick(5, 3, 0));
      expect(await list({ label: 'person' })).toEqual(pick(5, 4, 2, 0));
      expect(await list({ label: 'person', zone: 'porch', severity: 'alert' })).toEqual(pick(0));
      expect(await list({ since: T0 + 2 * MIN, until: T0 + 4 * MIN })).toEqual(pick(3, 2));
      expect(await list({ deviceId: device, camera: 'front', severity: 'detection' })).toEqual(pick(5, 1));
      expect(await list({ zone: 'nowhere' })).toEqual([]);
      await store.setReviewed('default', ids[2]!, { at: T0, by: 'tok_1' }, T0);
      await store.setReviewed('default', ids[4]!, { at: T0, by: 'tok_1' }, T0);
      expect(await list({ reviewed: true })).toEqual(pick(4, 2));
      expect(await list({ reviewed: false })).toEqual(pick(5, 3, 1, 0));
    });

    it('pages with a cursor, also through items that started at the same time', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        const r = wireReview({ deviceId: device, startedAt: T0 + (i < 4 ? 0 : i) * MIN });
        await put(r);
        ids.push(String(r.id));
      }
      const seen: string[] = [];
      let after: ReviewCursor | undefined;
      for (let page = 0; page < 10; page++) {
        const p = await store.listReviews('default', {}, 3, after);
        seen.push(...p.reviews.map((r) => r.id));
        if (!p.next) break;
        after = p.next;
      }
      expect(seen).toHaveLength(7);
      expect(new Set(seen)).toEqual(new Set(ids));
      const order = (r: ReviewRecord) => [r.startedAt, r.id] as const;
      const all = (await store.listReviews('default', {}, 50)).reviews.map(order);
      expect(seen).toEqual(all.map(([, id]) => id));
    });
  });

  it('marks reviewed (the first mark stays) and not reviewed', async () => {
    const r = wireReview({ deviceId: device });
    await put(r);
    const id = String(r.id);
    expect(await store.setReviewed('default', id, { at: T0 + 1, by: 'tok_a' }, T0 + 1)).toMatchObject({
      reviewedAt: T0 + 1,
      reviewedBy: 'tok_a',
    });
    expect(await store.setReviewed('default', id, { at: T0 + 2, by: 'tok_b' }, T0 + 2)).toMatchObject({
      reviewedAt: T0 + 1,
      reviewedBy: 'tok_a',
    });
    expect(await store.setReviewed('default', id, null, T0 + 3)).toMatchObject({ reviewedAt: null, reviewedBy: null });
  });

  it("never shows one tenant another's items nor lets it mark them", async () => {
    const theirs = await pairTestDevice(store, { tenantId: 'acme' });
    const r = wireReview({ deviceId: theirs });
    await store.storeEventMessages(theirs, [reviewInput(r)], T0);
    const id = String(r.id);
    expect(await store.getReview('default', id)).toBeUndefined();
    expect((await store.listReviews('default', {}, 10)).reviews).toEqual([]);
    expect(await store.setReviewed('default', id, { at: T0, by: 'x' }, T0)).toBeUndefined();
    expect((await store.getReview('acme', id))!.reviewedAt).toBeNull();
  });

  it('events: the zones they entered are filterable, current_zones is kept', async () => {
    const inPorch = wireEvent({ deviceId: device, zones: ['porch'], current_zones: ['porch'] });
    const nowhere = wireEvent({ deviceId: device });
    await store.storeEventMessages(device, [ingestMessage(inPorch), ingestMessage(nowhere)], T0);
    // An update adds a zone; the earlier one stays in `zones` though the object left it.
    const later = wireEvent({
      deviceId: device,
      id: String(inPorch.id),
      type: 'update',
      rev: 1,
      zones: ['porch', 'drive'],
      current_zones: ['drive'],
    });
    await store.storeEventMessages(device, [ingestMessage(later)], T0 + 1);
    const ids = async (zone: string) => (await store.listEvents('default', { zone }, 10)).events.map((e) => e.id);
    expect(await ids('porch')).toEqual([inPorch.id]);
    expect(await ids('drive')).toEqual([inPorch.id]);
    expect(await ids('yard')).toEqual([]);
    expect((await store.listEvents('default', {}, 10)).events).toHaveLength(2);
    expect(await store.getEvent('default', String(inPorch.id))).toMatchObject({
      zones: ['porch', 'drive'],
      currentZones: ['drive'],
    });
  });

  it('camera snoozes: set, moved, read, cleared; only on a device of the tenant', async () => {
    const input = { tenantId: 'default', deviceId: device, camera: 'front', createdBy: 'tok_1', now: T0 };
    expect(await store.snoozeCamera({ ...input, until: T0 + MIN })).toMatchObject({ until: T0 + MIN, camera: 'front' });
    expect(await store.snoozeCamera({ ...input, until: T0 + 5 * MIN })).toMatchObject({ until: T0 + 5 * MIN });
    expect(await store.getCameraSnooze('default', device, 'front')).toMatchObject({ until: T0 + 5 * MIN });
    expect(await store.getCameraSnooze('default', device, 'back')).toBeUndefined();
    expect(await store.unsnoozeCamera('default', device, 'front')).toBe(true);
    expect(await store.unsnoozeCamera('default', device, 'front')).toBe(false);
    const theirs = await pairTestDevice(store, { tenantId: 'acme' });
    expect(await store.snoozeCamera({ ...input, deviceId: theirs, until: T0 + MIN })).toBeUndefined();
    expect(await store.getCameraSnooze('acme', theirs, 'front')).toBeUndefined();
  });
});
