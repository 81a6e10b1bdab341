import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from './support/backends.js';
import { pairTestBox, type TestBox } from './support/box.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { wireReview, type WireReviewOptions } from './support/fixtures.js';
import { SseReader } from './support-session/session-client.js';

/**
 * GET /v1/reviews/counts (the Alerts / Detections tabs' numbers) through the real ingest, with its filters and
 * tenant scope; and a reviewed mark as a live change: another open app's stream gets the item as `review.updated`.
 */
const backends = await testBackends();
const MIN = 60_000;

interface Counts {
  alert: { total: number; unreviewed: number };
  detection: { total: number; unreviewed: number };
}

describe.each(backends)('review counts and live marks on $name', (backend) => {
  let t: TestCloud;
  let box: TestBox;
  let other: TestBox;
  const base = Date.now() - 60 * MIN;
  const ids: string[] = [];
  const review = (b: TestBox, o: Omit<WireReviewOptions, 'deviceId'>) =>
    wireReview({ deviceId: b.deviceId, ...o }) as Record<string, unknown>;

  beforeAll(async () => {
    t = await startTestCloud(backend, { overrides: { notify: { enabled: false } } });
    box = await pairTestBox(t, 'garage');
    other = await pairTestBox(t, 'shed');
    const specs = [
      { camera: 'front', severity: 'alert', labels: ['person'], zones: ['porch'] },
      { camera: 'front', severity: 'detection', labels: ['car'], zones: [] },
      { camera: 'back', severity: 'alert', labels: ['person', 'dog'], zones: ['yard'] },
      { camera: 'back', severity: 'detection', labels: ['dog'], zones: ['yard'] },
      { camera: 'front', severity: 'alert', labels: ['car'], zones: ['drive'] },
    ] as const;
    const items = specs.map((s, i) =>
      review(box, { ...s, labels: [...s.labels], zones: [...s.zones], startedAt: base + i * MIN }),
    );
    expect((await box.send(items)).status).toBe(200);
    ids.push(...items.map((r) => String(r.id)));
    expect((await other.send(review(other, { camera: 'front', startedAt: base }))).status).toBe(200);
    const foreign = await pairTestBox(t, 'elsewhere', t.tokens.otherTenant);
    expect((await foreign.send(review(foreign, { startedAt: base }))).status).toBe(200);
    for (const id of [ids[0], ids[1]])
      expect((await t.api(`/v1/reviews/${id}/reviewed`, { method: 'POST' })).status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
  });

  const counts = async (query: string, token?: string): Promise<Counts> => {
    const res = await t.api(`/v1/reviews/counts?${query}`, token ? { token } : { token: t.tokens.reader });
    expect(res.status, query).toBe(200);
    return (await res.json()) as Counts;
  };
  const c = (at: number, au: number, dt: number, du: number): Counts => ({
    alert: { total: at, unreviewed: au },
    detection: { total: dt, unreviewed: du },
  });

  it('counts items per severity, and those not reviewed yet', async () => {
    expect(await counts('')).toEqual(c(4, 3, 2, 1));
    expect(await counts(`device=${box.deviceId}`)).toEqual(c(3, 2, 2, 1));
    expect(await counts(`device=${box.deviceId}&camera=front`)).toEqual(c(2, 1, 1, 0));
    expect(await counts('camera=back')).toEqual(c(1, 1, 1, 1));
    expect(await counts('zone=yard&label=dog')).toEqual(c(1, 1, 1, 1));
    const since = new Date(base + 2 * MIN).toISOString();
    expect(await counts(`since=${encodeURIComponent(since)}`)).toEqual(c(2, 2, 1, 1));
    const until = new Date(base + 2 * MIN).toISOString();
    expect(await counts(`until=${encodeURIComponent(until)}`)).toEqual(c(2, 1, 1, 0));
    expect(await counts('camera=nowhere')).toEqual(c(0, 0, 0, 0));
  });

  it('is tenant-scoped and refuses bad queries with a 400 naming the field', async () => {
    expect(await counts('', t.tokens.otherTenant)).toEqual(c(1, 1, 0, 0));
    for (const [query, field] of [
      ['since=yesterday', 'querystring/since'],
      ['camera=a/b', 'querystring/camera'],
      ['severity=alert', 'querystring'],
    ] as const) {
      const res = await t.api(`/v1/reviews/counts?${query}`);
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message, query).toContain(field);
    }
    expect((await t.api('/v1/reviews/counts', { token: null })).status).toBe(401);
  });

  it('sends a mark and an un-mark to the other open apps of the tenant as review.updated', async () => {
    const id = ids[2]!;
    const watching = await SseReader.open(`${t.url}/v1/stream`, { authorization: `Bearer ${t.tokens.reader}` });
    const foreign = await SseReader.open(`${t.url}/v1/stream`, { authorization: `Bearer ${t.tokens.otherTenant}` });
    try {
      const updated = (reviewed: boolean) => (m: { event: string; data: string }) =>
        m.event === 'review.updated' &&
        (JSON.parse(m.data) as { id: string; reviewed: boolean }).id === id &&
        (JSON.parse(m.data) as { reviewed: boolean }).reviewed === reviewed;
      expect((await t.api(`/v1/reviews/${id}/reviewed`, { method: 'POST' })).status).toBe(200);
      const marked = await watching.waitFor(updated(true), 5000);
      expect(marked.id).toMatch(/^\d+$/);
      expect(JSON.parse(marked.data)).toMatchObject({ id, reviewed: true, severity: 'alert', camera: 'back' });
      expect(await counts('camera=back')).toEqual(c(1, 0, 1, 1));

      expect((await t.api(`/v1/reviews/${id}/reviewed`, { method: 'DELETE' })).status).toBe(200);
      const unmarked = await watching.waitFor(updated(false), 5000);
      expect(Number(unmarked.id)).toBeGreaterThan(Number(marked.id));
      expect(watching.messages.filter((m) => m.event === 'review.new')).toEqual([]);
      // replayed after a reconnect like any change
      const again = await SseReader.open(`${t.url}/v1/stream`, {
        authorization: `Bearer ${t.tokens.reader}`,
        'last-event-id': String(Number(marked.id) - 1),
      });
      try {
        await again.waitFor(updated(false), 5000);
      } finally {
        await again.close();
      }
      expect(foreign.messages.filter((m) => m.event.startsWith('review.'))).toEqual([]);
    } finally {
      await watching.close();
      await foreign.close();
    }
  });
});
