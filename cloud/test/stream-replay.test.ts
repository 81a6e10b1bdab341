import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newEventId } from '../../shared/ids/index.js';
import { JournaledEventBus, type ChangeJournal } from '../live/change-journal.js';
import { testBackends, type TestDatabase } from './support/backends.js';
import { pairTestBox, TestBox } from './support/box.js';
import { wireReview } from './support/fixtures.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { cookieFetch, login, SseReader, type Session, type SseMessage } from './support-session/session-client.js';

/**
 * `GET /v1/stream` as a browser's EventSource uses it, over real HTTP on SQLite and PostgreSQL: the session cookie
 * as the credential, an `id:` on every message, and `Last-Event-ID` replaying the changes made while the client was
 * away: from the database, so also after the collector restarted and from another collector on the same
 * PostgreSQL. An id the journal no longer has (or never had) gets `stream.reset`.
 */
const backends = await testBackends();
const PASSWORD = 'correct horse battery';
const FAST = { accounts: { scrypt: { cost_log2: 14 } } };

function journalOf(t: TestCloud): ChangeJournal {
  const bus = t.cloud.bus;
  if (!(bus instanceof JournaledEventBus)) throw new Error('the collector bus is not journaled');
  return bus.journal;
}

const about =
  (eventId: string, event = 'event.new') =>
  (m: SseMessage): boolean =>
    m.event === event && (JSON.parse(m.data) as { id: string }).id === eventId;

async function stream(t: TestCloud, s: Session, lastEventId?: string, viaQuery = false): Promise<SseReader> {
  const headers: Record<string, string> = { cookie: s.cookie };
  let path = '/v1/stream';
  if (lastEventId !== undefined && viaQuery) path += `?last_event_id=${lastEventId}`;
  else if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
  return SseReader.open(t.url + path, headers);
}

/** Every message has a numeric id, strictly increasing. */
function expectIncreasingIds(messages: SseMessage[]): number[] {
  const ids = messages.map((m) => Number(m.id));
  for (const [i, id] of ids.entries()) {
    expect(messages[i]!.id, `message ${i} (${messages[i]!.event})`).toMatch(/^\d+$/);
    if (i > 0) expect(id).toBeGreaterThan(ids[i - 1]!);
  }
  return ids;
}

describe.each(backends)('live stream with the session cookie on $name', (backend) => {
  let db: TestDatabase;
  let t: TestCloud;
  let box: TestBox;
  let s: Session;
  beforeAll(async () => {
    db = await backend.open();
    t = await startTestCloud(backend, { db, overrides: FAST });
    box = await pairTestBox(t, 'replay-box');
    await t.cloud.accounts.admin.create({
      email: 'o@example.com',
      tenantId: 'default',
      role: 'reader',
      password: PASSWORD,
    });
    s = await login(t.url, 'o@example.com', PASSWORD);
  });
  afterAll(async () => {
    await t?.close();
    await db?.cleanup();
  });

  it('numbers every message and replays what was missed after Last-Event-ID, then goes on live', async () => {
    const first = await stream(t, s);
    const a = newEventId();
    const aStarted = Date.now();
    expect((await box.send(box.event({ id: a, label: 'person', startedAt: aStarted }))).status).toBe(200);
    const seen = await first.waitFor(about(a));
    await first.close();

    // away: two new events, a heartbeat, and a's end
    const [b, c] = [newEventId(), newEventId()];
    expect((await box.send(box.event({ id: b, label: 'car' }))).status).toBe(200);
    expect(await box.heartbeat({ outboxDepth: 7 })).toBe(200);
    expect((await box.send(box.event({ id: c, label: 'dog' }))).status).toBe(200);
    // The end carries a's own start: box.event's default start is read after endedAt, so across a millisecond tick
    // it fell 1 ms after the end and the message was refused (ended_at must not precede started_at).
    const end = box.event({ id: a, type: 'end', rev: 1, startedAt: aStarted, endedAt: Date.now() });
    expect((await box.send(end)).status).toBe(200);

    const back = await stream(t, s, seen.id);
    await back.waitFor(about(a, 'event.updated'));
    const replayed = back.messages.slice();
    expect(replayed.map((m) => [m.event, (JSON.parse(m.data) as { id: string }).id])).toEqual([
      ['event.new', b],
      ['device.status', box.deviceId],
      ['event.new', c],
      ['event.updated', a],
    ]);
    expect(JSON.parse(replayed[1]!.data)).toMatchObject({ outbox_depth: 7 });
    expect(JSON.parse(replayed[3]!.data)).toMatchObject({ id: a, status: 'ended' });
    const ids = expectIncreasingIds(replayed);
    expect(ids[0]).toBeGreaterThan(Number(seen.id));

    const d = newEventId();
    expect((await box.send(box.event({ id: d }))).status).toBe(200);
    await back.waitFor(about(d));
    expectIncreasingIds(back.messages);
    await back.close();

    // a fresh page passes the id in the query (EventSource cannot set the header on its first request)
    const page = await stream(t, s, String(ids[1]), true);
    await page.waitFor(about(d));
    expect(page.messages.map((m) => m.event)).toEqual(['event.new', 'event.updated', 'event.new']);
    await page.close();
  });

  it('ends a stream when its session ends (logout elsewhere): stream.closed, then nothing', async () => {
    const other = await login(t.url, 'o@example.com', PASSWORD);
    const feed = await stream(t, other);
    expect((await cookieFetch(t.url, '/v1/session', other, { method: 'DELETE' })).status).toBe(204);
    const e = newEventId();
    expect((await box.send(box.event({ id: e }))).status).toBe(200);
    const closed = await feed.waitFor((m) => m.event === 'stream.closed');
    expect(JSON.parse(closed.data)).toMatchObject({ code: 'session_expired' });
    await feed.finished();
    expect(feed.messages.map((m) => m.event)).toEqual(['stream.closed']);
    // EventSource's reconnect is refused
    const again = await fetch(`${t.url}/v1/stream`, { headers: { cookie: other.cookie, 'last-event-id': closed.id! } });
    expect(again.status).toBe(401);
  });

  it('sends review items as review.new / review.updated, live and replayed', async () => {
    const live = await stream(t, s);
    const e = newEventId();
    const review = (rev: number) =>
      wireReview({ deviceId: box.deviceId, rev, type: rev ? 'update' : 'new', objects: [e] }) as Record<
        string,
        unknown
      >;
    const first = review(0);
    expect((await box.send([box.event({ id: e }), first])).status).toBe(200);
    const isReview = (event: string) => (m: SseMessage) =>
      m.event === event && (JSON.parse(m.data) as { id: string }).id === first.id;
    const created = await live.waitFor(isReview('review.new'));
    expect(JSON.parse(created.data)).toMatchObject({ id: first.id, severity: 'alert', objects: [e] });
    await live.close();
    expect((await box.send({ ...review(1), id: first.id })).status).toBe(200);
    const back = await stream(t, s, created.id);
    await back.waitFor(isReview('review.updated'));
    expect(back.messages.map((m) => m.event)).toEqual(['review.updated']);
    await back.close();
  });

  it('without Last-Event-ID replays nothing; an unknown or pruned id gets stream.reset, then live', async () => {
    const journal = journalOf(t);
    const { last } = await journal.position('default');
    const fresh = await stream(t, s);
    const e = newEventId();
    expect((await box.send(box.event({ id: e }))).status).toBe(200);
    await fresh.waitFor(about(e));
    expect(fresh.messages).toHaveLength(1);
    await fresh.close();

    const unknown = await stream(t, s, String(last + 1000));
    const reset = await unknown.waitFor((m) => m.event === 'stream.reset');
    const now = (await journal.position('default')).last;
    expect(JSON.parse(reset.data)).toEqual({ reason: 'unknown_id', last_event_id: now });
    expect(reset.id).toBe(String(now));
    await unknown.close();

    // everything recorded so far leaves the journal (as after api.stream_replay_window)
    expect(await journal.prune(Date.now() + 1)).toBeGreaterThan(0);
    const old = await stream(t, s, String(last));
    const passed = await old.waitFor((m) => m.event === 'stream.reset');
    expect(JSON.parse(passed.data)).toMatchObject({ reason: 'replay_window_passed' });
    const f = newEventId();
    expect((await box.send(box.event({ id: f }))).status).toBe(200);
    await old.waitFor(about(f));
    expect(old.messages.map((m) => m.event)).toEqual(['stream.reset', 'event.new']);
    await old.close();
  });

  it('replays from the database after the collector restarted (same cookie, same ids)', async () => {
    const live = await stream(t, s);
    const a = newEventId();
    expect((await box.send(box.event({ id: a }))).status).toBe(200);
    const seen = await live.waitFor(about(a));
    await live.close();
    const b = newEventId();
    expect((await box.send(box.event({ id: b, label: 'bicycle' }))).status).toBe(200);
    // the change is journaled after the ack, before the bus passes it on: wait until it is there, then restart
    const journal = journalOf(t);
    for (let i = 0; i < 100 && (await journal.position('default')).last <= Number(seen.id); i++)
      await new Promise((r) => setTimeout(r, 20));
    await t.close();

    t = await startTestCloud(backend, { db, overrides: FAST });
    box = new TestBox(t, box.creds);
    const back = await stream(t, s, seen.id);
    const replayed = await back.waitFor(about(b));
    expect(Number(replayed.id)).toBeGreaterThan(Number(seen.id));
    expect(back.messages).toHaveLength(1);
    await back.close();
  });

  if (backend.name === 'postgres') {
    it('replays on another collector of the same PostgreSQL what was ingested by the first', async () => {
      const second = await startTestCloud(backend, { db, overrides: FAST });
      try {
        const onFirst = await stream(t, s);
        const a = newEventId();
        expect((await box.send(box.event({ id: a }))).status).toBe(200);
        const seen = await onFirst.waitFor(about(a));
        await onFirst.close();
        const b = newEventId();
        expect((await box.send(box.event({ id: b }))).status).toBe(200);
        const onSecond = await stream(second, s, seen.id);
        await onSecond.waitFor(about(b));
        // and live from the first collector (LISTEN/NOTIFY wakes the second, which reads the journal)
        const c = newEventId();
        expect((await box.send(box.event({ id: c }))).status).toBe(200);
        await onSecond.waitFor(about(c));
        expect(onSecond.messages.map((m) => m.event)).toEqual(['event.new', 'event.new']);
        expectIncreasingIds(onSecond.messages);
        await onSecond.close();
      } finally {
        await second.close();
      }
    });
  }
});
