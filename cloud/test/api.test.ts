import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newEventId } from '../../shared/ids/index.js';
import { testBackends } from './support/backends.js';
import { fakeJpeg, pairTestBox, readSse, type TestBox } from './support/box.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';

const backends = await testBackends();
const H = 3_600_000;

describe.each(backends)('app API on $name', (backend) => {
  let t: TestCloud;
  let box: TestBox;
  let other: TestBox;
  const base = Date.now() - 10 * H;

  beforeAll(async () => {
    t = await startTestCloud(backend);
    box = await pairTestBox(t, 'garage');
    other = await pairTestBox(t, 'porch');
    // 7 events an hour apart, oldest first: labels person/car alternate, cameras front/back.
    const events = Array.from({ length: 7 }, (_, i) =>
      box.event({ label: i % 2 ? 'car' : 'person', camera: i < 4 ? 'front' : 'back', startedAt: base + i * H }),
    );
    const sent = await box.send(events);
    expect(sent.status).toBe(200);
    expect((sent.body.acks as Array<{ status: string }>).every((a) => a.status === 'accepted')).toBe(true);
    expect((await other.send(other.event({ label: 'dog', startedAt: base + 8 * H }))).status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('lists events newest first and pages with an opaque cursor', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await t.api(`/v1/events?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        events: Array<{ id: string; started_at: string }>;
        next_cursor: string | null;
      };
      seen.push(...body.events.map((e) => e.started_at));
      cursor = body.next_cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(8);
    expect([...seen].sort().reverse()).toEqual(seen);
  });

  it('filters by device, camera, label, status and time', async () => {
    const q = async (query: string): Promise<Array<Record<string, unknown>>> => {
      const res = await t.api(`/v1/events?${query}`);
      expect(res.status, query).toBe(200);
      return ((await res.json()) as { events: Array<Record<string, unknown>> }).events;
    };
    expect(await q(`device=${other.deviceId}`)).toHaveLength(1);
    expect((await q('label=car')).every((e) => e.label === 'car')).toBe(true);
    expect(await q('label=car')).toHaveLength(3);
    expect(await q('camera=back&label=person')).toHaveLength(2);
    expect(await q('status=ended')).toHaveLength(0);
    const since = new Date(base + 2 * H).toISOString();
    const until = new Date(base + 5 * H).toISOString();
    expect(await q(`since=${since}&until=${until}`)).toHaveLength(3);
  });

  it('rejects bad query parameters naming the field', async () => {
    for (const [query, field] of [
      ['limit=500', 'querystring/limit'],
      ['limit=0', 'querystring/limit'],
      ['since=yesterday', 'querystring/since'],
      ['status=open', 'querystring/status'],
      ['cursor=bm9wZQ', 'querystring/cursor'],
    ] as const) {
      const res = await t.api(`/v1/events?${query}`);
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string; request_id: string } };
      expect(body.error.code).toBe('invalid_request');
      expect(body.error.message).toContain(field);
      expect(body.error.request_id).toBe(res.headers.get('x-request-id'));
    }
  });

  it('returns one event, and 404 for ids that do not exist', async () => {
    const list = (await (await t.api('/v1/events?limit=1')).json()) as { events: Array<{ id: string }> };
    const id = list.events[0]!.id;
    const res = await t.api(`/v1/events/${id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      id,
      device_id: other.deviceId,
      label: 'dog',
      status: 'active',
      rev: 0,
      thumbnail: null,
    });
    const missing = await t.api(`/v1/events/${newEventId()}`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });

  it('applies update and end to the event the app sees', async () => {
    const id = newEventId();
    const started = Date.now() - 60_000;
    await box.send(box.event({ id, startedAt: started, score: 0.5 }));
    // The end overtakes the update.
    await box.send(box.event({ id, type: 'end', rev: 2, startedAt: started, endedAt: started + 30_000, score: 0.9 }));
    await box.send(box.event({ id, type: 'update', rev: 1, startedAt: started, score: 0.7 }));
    const e = (await (await t.api(`/v1/events/${id}`)).json()) as Record<string, unknown>;
    expect(e).toMatchObject({ status: 'ended', rev: 2, score: 0.9, duration_s: 30 });
  });

  it('shows top_score as max(top_score, score), zones, attributes and stationary from the latest message', async () => {
    const id = newEventId();
    const started = Date.now() - 60_000;
    const extra = { zones: ['driveway'], attributes: { color: 'blue' }, stationary: true };
    await box.send(box.event({ id, startedAt: started, score: 0.5, top_score: 0.8, ...extra }));
    expect(await (await t.api(`/v1/events/${id}`)).json()).toMatchObject({ score: 0.5, top_score: 0.8, ...extra });
    await box.send(box.event({ id, type: 'update', rev: 1, startedAt: started, score: 0.85, top_score: 0.8 }));
    expect(await (await t.api(`/v1/events/${id}`)).json()).toMatchObject({
      score: 0.85,
      top_score: 0.85,
      zones: [],
      stationary: false,
    });
  });

  it('streams the thumbnail with an ETag and honours If-None-Match', async () => {
    const jpeg = fakeJpeg(3, 20_000);
    const id = await box.eventWithThumbnail(jpeg, { startedAt: Date.now() - 5000 });
    const event = (await (await t.api(`/v1/events/${id}`)).json()) as {
      thumbnail: { url: string; sha256: string; size: number };
    };
    expect(event.thumbnail.size).toBe(jpeg.length);
    const res = await t.api(event.thumbnail.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    expect(res.headers.get('etag')).toBe(`"${event.thumbnail.sha256}"`);
    expect(Buffer.from(await res.arrayBuffer()).equals(jpeg)).toBe(true);
    const again = await t.api(event.thumbnail.url, { headers: { 'if-none-match': `"${event.thumbnail.sha256}"` } });
    expect(again.status).toBe(304);
    expect((await t.api(`/v1/events/${newEventId()}/thumbnail`)).status).toBe(404);
  });

  it('counts events per label and day for the tenant', async () => {
    const res = await t.api('/v1/stats');
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      total: number;
      by_label: Record<string, number>;
      days: Array<{ day: string; label: string; count: number }>;
    };
    expect(body.by_label.dog).toBe(1);
    expect(body.total).toBe(body.days.reduce((n, d) => n + d.count, 0));
    expect(body.days.every((d) => /^\d{4}-\d{2}-\d{2}$/.test(d.day))).toBe(true);
    const scoped = (await (await t.api(`/v1/stats?device=${other.deviceId}`)).json()) as { total: number };
    expect(scoped.total).toBe(1);
  });

  it('pushes a new event to a live stream of the same tenant only', async () => {
    const mine = await t.api('/v1/events/stream', { token: t.tokens.reader });
    expect(mine.status).toBe(200);
    expect(mine.headers.get('content-type')).toContain('text/event-stream');
    const theirs = await t.api('/v1/events/stream', { token: t.tokens.otherTenant });
    const id = newEventId();
    const got = readSse(mine, (e) => e.data.includes(id));
    // The stream subscribes before it sends its headers, so the event below cannot be missed.
    expect((await box.send(box.event({ id, label: 'cat' }))).status).toBe(200);
    const ev = await got;
    expect(ev.event).toBe('event.new');
    expect(JSON.parse(ev.data)).toMatchObject({ id, label: 'cat', device_id: box.deviceId });
    const leak = await readSse(theirs, () => true, 500).catch(() => undefined);
    expect(leak).toBeUndefined();
  });

  if (backend.name === 'postgres') {
    it('delivers events ingested by another collector on the same database (LISTEN/NOTIFY)', async () => {
      const second = await startTestCloud(backend, { db: t.db });
      try {
        const stream = await t.api('/v1/events/stream');
        const id = newEventId();
        const got = readSse(stream, (e) => e.data.includes(id));
        const viaSecond = await second.signedFetch(
          box.creds,
          'POST',
          `/v1/devices/${box.deviceId}/events`,
          Buffer.from(JSON.stringify(box.event({ id }))),
        );
        expect(viaSecond.status).toBe(200);
        expect(JSON.parse((await got).data)).toMatchObject({ id });
      } finally {
        await second.close();
      }
    });
  }
});
