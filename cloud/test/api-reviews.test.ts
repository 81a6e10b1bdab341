import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newEventId } from '../../shared/ids/index.js';
import { testBackends } from './support/backends.js';
import { fakeJpeg, pairTestBox, type TestBox } from './support/box.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { newReviewId, wireReview, type WireReviewOptions } from './support/fixtures.js';

/**
 * The app API of review items, camera snoozes and the zone filter of events, through the real ingest: filters,
 * cursor paging, the detail (objects, best thumbnail), reviewed / not reviewed, tenant isolation, pointed 400s.
 */
const backends = await testBackends();
const MIN = 60_000;

interface ReviewJson {
  id: string;
  severity: string;
  camera: string;
  reviewed: boolean;
  reviewed_by: string | null;
  reviewed_at: string | null;
  objects: string[];
}

describe.each(backends)('review API on $name', (backend) => {
  let t: TestCloud;
  let box: TestBox;
  let foreign: TestBox;
  const base = Date.now() - 60 * MIN;
  const ids: string[] = [];
  const review = (b: TestBox, o: Omit<WireReviewOptions, 'deviceId'>) =>
    wireReview({ deviceId: b.deviceId, ...o }) as Record<string, unknown>;

  beforeAll(async () => {
    t = await startTestCloud(backend);
    box = await pairTestBox(t, 'garage');
    foreign = await pairTestBox(t, 'elsewhere', t.tokens.otherTenant);
    const specs = [
      { camera: 'front', severity: 'alert', labels: ['person'], zones: ['porch'] },
      { camera: 'front', severity: 'detection', labels: ['car'], zones: [] },
      { camera: 'back', severity: 'alert', labels: ['person', 'dog'], zones: ['yard'] },
      { camera: 'back', severity: 'detection', labels: ['dog'], zones: ['yard', 'porch'] },
      { camera: 'front', severity: 'alert', labels: ['car'], zones: ['drive'] },
    ] as const;
    // One batch: review items may travel in an EventBatch too.
    const items = specs.map((s, i) =>
      review(box, { ...s, labels: [...s.labels], zones: [...s.zones], startedAt: base + i * MIN }),
    );
    const sent = await box.send(items);
    expect(sent.status).toBe(200);
    expect(sent.body.acks).toEqual(items.map((r) => ({ id: r.id, rev: 0, kind: 'review', status: 'accepted' })));
    ids.push(...items.map((r) => String(r.id)));
    expect((await foreign.send(review(foreign, { startedAt: base }))).status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
  });

  const list = async (query: string, token?: string): Promise<string[]> => {
    const res = await t.api(`/v1/reviews?${query}`, token ? { token } : {});
    expect(res.status, query).toBe(200);
    return ((await res.json()) as { reviews: ReviewJson[] }).reviews.map((r) => r.id);
  };
  const pick = (...i: number[]) => i.map((n) => ids[n]);

  it('lists newest first, with each filter and their combination', async () => {
    expect(await list('')).toEqual(pick(4, 3, 2, 1, 0));
    expect(await list('severity=alert')).toEqual(pick(4, 2, 0));
    expect(await list('camera=back')).toEqual(pick(3, 2));
    expect(await list('zone=porch')).toEqual(pick(3, 0));
    expect(await list('label=dog')).toEqual(pick(3, 2));
    expect(await list('severity=detection&zone=yard&label=dog&camera=back')).toEqual(pick(3));
    expect(await list(`device=${box.deviceId}&label=car`)).toEqual(pick(4, 1));
    const since = new Date(base + MIN).toISOString();
    const until = new Date(base + 3 * MIN).toISOString();
    expect(await list(`since=${encodeURIComponent(since)}&until=${encodeURIComponent(until)}`)).toEqual(pick(2, 1));
  });

  it('pages with an opaque cursor', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await t.api(`/v1/reviews?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      const body = (await res.json()) as { reviews: ReviewJson[]; next_cursor: string | null };
      seen.push(...body.reviews.map((r) => r.id));
      cursor = body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(pick(4, 3, 2, 1, 0));
  });

  it('rejects bad queries with a 400 naming the field', async () => {
    for (const [query, field] of [
      ['severity=critical', 'querystring/severity'],
      ['zone=front%20yard', 'querystring/zone'],
      ['camera=a/b', 'querystring/camera'],
      ['reviewed=maybe', 'querystring/reviewed'],
      ['limit=201', 'querystring/limit'],
      ['since=yesterday', 'querystring/since'],
      [`since=${new Date(base).toISOString()}&until=${new Date(base).toISOString()}`, 'querystring/until'],
      ['cursor=bm9wZQ', 'querystring/cursor'],
      ['colour=red', 'querystring'],
    ] as const) {
      const res = await t.api(`/v1/reviews?${query}`);
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code, query).toBe('invalid_request');
      expect(body.error.message, query).toContain(field);
    }
    expect((await t.api('/v1/reviews/evt_01JAAAAAAAAAAAAAAAAAAAAAAA')).status).toBe(400);
    expect((await t.api('/v1/reviews', { token: null })).status).toBe(401);
  });

  it('marks reviewed with a reader token, filters by it, and un-marks', async () => {
    const id = ids[2]!;
    const marked = await t.api(`/v1/reviews/${id}/reviewed`, { method: 'POST', token: t.tokens.reader });
    expect(marked.status).toBe(200);
    const body = (await marked.json()) as ReviewJson;
    expect(body).toMatchObject({ id, reviewed: true });
    expect(body.reviewed_by).toMatch(/\S/);
    expect(await list('reviewed=true')).toEqual([id]);
    expect(await list('reviewed=false')).toEqual(pick(4, 3, 1, 0));
    // Marking again keeps the first mark.
    const again = (await (await t.api(`/v1/reviews/${id}/reviewed`, { method: 'POST' })).json()) as ReviewJson;
    expect(again.reviewed_at).toBe(body.reviewed_at);
    const unmarked = await t.api(`/v1/reviews/${id}/reviewed`, { method: 'DELETE', token: t.tokens.reader });
    expect(await unmarked.json()).toMatchObject({ id, reviewed: false, reviewed_at: null, reviewed_by: null });
    expect(await list('reviewed=true')).toEqual([]);
  });

  it("is tenant-scoped: another tenant's item is 404, its list its own", async () => {
    const theirs = (await list('', t.tokens.otherTenant))[0]!;
    expect(await list('', t.tokens.otherTenant)).toHaveLength(1);
    expect(await list('')).not.toContain(theirs);
    expect((await t.api(`/v1/reviews/${theirs}`)).status).toBe(404);
    expect((await t.api(`/v1/reviews/${theirs}/reviewed`, { method: 'POST' })).status).toBe(404);
    expect((await t.api(`/v1/reviews/${ids[0]}`, { token: t.tokens.otherTenant })).status).toBe(404);
    expect((await t.api(`/v1/reviews/${newReviewId()}`)).status).toBe(404);
  });

  it('detail: object summaries in joining order, the best thumbnail, the push state', async () => {
    const [a, b] = [newEventId(), newEventId()];
    // a has no picture; b has one: the box's choice (a) has none, so b is the best picture.
    expect((await box.send(box.event({ id: a, zones: ['porch'], current_zones: [] }))).status).toBe(200);
    await box.eventWithThumbnail(fakeJpeg(3), { id: b, label: 'dog', zones: ['porch'], current_zones: ['porch'] });
    const r = review(box, { objects: [a, b], labels: ['person', 'dog'], zones: ['porch'], thumbnail_event: a });
    expect((await box.send(r)).status).toBe(200);
    const res = await t.api(`/v1/reviews/${r.id}`);
    expect(res.status).toBe(200);
    const d = (await res.json()) as Record<string, unknown> & { events: Array<Record<string, unknown>> };
    expect(d).toMatchObject({
      id: r.id,
      severity: 'alert',
      objects: [a, b],
      labels: ['person', 'dog'],
      zones: ['porch'],
      thumbnail_event: a,
      thumbnail: { event_id: b, url: `/v1/events/${b}/thumbnail` },
      reviewed: false,
    });
    expect(d.events.map((e) => [e.id, e.label, e.thumbnail_url])).toEqual([
      [a, 'person', null],
      [b, 'dog', `/v1/events/${b}/thumbnail`],
    ]);
    expect(d.events[1]).toMatchObject({ zones: ['porch'], current_zones: ['porch'] });
    expect(d).toHaveProperty('notification');
    // Events: the zone filter and current_zones.
    const ev = (await (await t.api('/v1/events?zone=porch')).json()) as { events: Array<Record<string, unknown>> };
    expect(ev.events.map((e) => e.id).sort()).toEqual([a, b].sort());
    expect(ev.events.find((e) => e.id === a)).toMatchObject({ zones: ['porch'], current_zones: [] });
    expect((await t.api('/v1/events?zone=a%20b')).status).toBe(400);
  });

  describe('camera snooze', () => {
    const path = (device: string, camera = 'front') => `/v1/cameras/${device}/${camera}/snooze`;
    const post = (p: string, body: unknown, token?: string) =>
      t.api(p, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        ...(token ? { token } : {}),
      });

    it('sets, reads, moves and clears a snooze (reader token)', async () => {
      const until = new Date(Date.now() + 30 * MIN).toISOString();
      const set = await post(path(box.deviceId), { until }, t.tokens.reader);
      expect(set.status).toBe(200);
      expect(await set.json()).toMatchObject({ device_id: box.deviceId, camera: 'front', snoozed: true, until });
      expect(await (await t.api(path(box.deviceId))).json()).toMatchObject({ snoozed: true, until });
      expect(await (await t.api(path(box.deviceId, 'back'))).json()).toMatchObject({ snoozed: false, until: null });
      const later = new Date(Date.now() + 90 * MIN).toISOString();
      expect(await (await post(path(box.deviceId), { until: later })).json()).toMatchObject({ until: later });
      const cleared = await t.api(path(box.deviceId), { method: 'DELETE', token: t.tokens.reader });
      expect(await cleared.json()).toMatchObject({ snoozed: false });
      expect(await (await t.api(path(box.deviceId))).json()).toMatchObject({ snoozed: false });
    });

    it('rejects a time in the past, too far ahead, or missing; unknown or foreign devices are 404', async () => {
      for (const body of [
        { until: new Date(Date.now() - MIN).toISOString() },
        { until: new Date(Date.now() + 400 * 24 * 60 * MIN).toISOString() },
        { until: 'tomorrow' },
        {},
        { until: new Date(Date.now() + MIN).toISOString(), forever: true },
      ]) {
        const res = await post(path(box.deviceId), body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        const err = (await res.json()) as { error: { code: string; message: string } };
        expect(err.error.code).toBe('invalid_request');
        expect(err.error.message).toContain('body');
      }
      const until = new Date(Date.now() + MIN).toISOString();
      expect((await post(path(foreign.deviceId), { until })).status).toBe(404);
      expect((await t.api(path(foreign.deviceId))).status).toBe(404);
      expect((await post(path('dev_nope'), { until })).status).toBe(404);
      expect((await post(path(box.deviceId, 'no/pe'), { until })).status).toBe(404);
      expect((await post(path(box.deviceId, 'bad%20name'), { until })).status).toBe(400);
      expect((await t.api(path(box.deviceId), { method: 'POST', token: null })).status).toBe(401);
    });
  });
});
