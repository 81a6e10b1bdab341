import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newEventId } from '../../shared/ids/index.js';
import { NotifyRecords } from '../notify/records.js';
import type { Decision } from '../notify/policy.js';
import { NOTIFY_JOB } from '../notify/notifier.js';
import { JobQueue } from '../queue/jobs.js';
import type { Classification } from '../reclassify/classification.js';
import type { SqlDatabase } from '../db/sql.js';
import { testBackends } from './support/backends.js';
import { pairTestBox, type TestBox } from './support/box.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';

/**
 * GET /v1/events for the web app's cards: each item carries its verification and push state (one query per page,
 * a join), `verdict` filters by the verification status before paging; GET /v1/events/{id}/messages gives the
 * box's messages oldest first. The verify job's records are written by notify's own writers (NotifyRecords,
 * JobQueue) with the worker off, so each status is set exactly.
 */
const backends = await testBackends();
const MIN = 60_000;

interface ListItem {
  id: string;
  camera: string;
  verification: {
    status: string;
    label: string | null;
    confidence: number | null;
    summary: string | null;
    provider: string | null;
  } | null;
  push: { decision: string | null; sent: boolean };
}

const classification = (o: Partial<Classification> = {}): Classification => ({
  status: 'verified',
  reason: null,
  classify_label: 'person',
  classify_confidence: 0.93,
  classify_summary: 'A person at the door',
  classify_threat: 1,
  agrees_with_edge: true,
  provider: 'openai',
  model: 'vision-1',
  ms: 800,
  prompt_tokens: 10,
  completion_tokens: 5,
  cached: false,
  prompt_version: null,
  image_sha256: null,
  attempts: [],
  ...o,
});

const decision = (verdict: Decision['verdict'], reason: Decision['reason'], push = false): Decision => ({
  push,
  verdict,
  reason,
  detail: `${verdict} because ${reason}`,
});

/** Counts the queries that read events (with anything joined to them) while `fn` runs. */
async function eventQueries(db: SqlDatabase, fn: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const all = db.all.bind(db);
  const get = db.get.bind(db);
  const note = (sql: string) => {
    if (/\bevents\b|event_verifications|push_deliveries|\bjobs\b/.test(sql)) seen.push(sql);
  };
  db.all = (async (sql: string, params?: unknown[]) => {
    note(sql);
    return all(sql, params as never);
  }) as typeof db.all;
  db.get = (async (sql: string, params?: unknown[]) => {
    note(sql);
    return get(sql, params as never);
  }) as typeof db.get;
  try {
    await fn();
  } finally {
    db.all = all;
    db.get = get;
  }
  return seen;
}

describe.each(backends)('events list with verification on $name', (backend) => {
  let t: TestCloud;
  let box: TestBox;
  const base = Date.now() - 60 * MIN;
  /** Event id by what was recorded for it. */
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    t = await startTestCloud(backend, { overrides: { notify: { enabled: false } } });
    box = await pairTestBox(t, 'porch');
    const names = ['none', 'pending', 'failed', 'verified', 'rejected', 'skipped', 'held', 'unverified'];
    const events = names.map((name, i) => {
      ids[name] = newEventId();
      return box.event({ id: ids[name], camera: i % 2 ? 'back' : 'front', startedAt: base + i * MIN });
    });
    expect((await box.send(events)).status).toBe(200);
    const records = new NotifyRecords(t.cloud.database);
    const jobs = new JobQueue(t.cloud.database);
    const now = Date.now();
    for (const name of names.slice(1))
      await jobs.enqueue({ kind: NOTIFY_JOB, eventId: ids[name]!, tenantId: 'default' }, now);
    // failed: the job died before anything was decided
    const [claimed] = await jobs
      .claim(NOTIFY_JOB, 'test', now, 60_000, 100)
      .then((js) => js.filter((j) => j.eventId === ids.failed));
    expect(await jobs.fail(claimed!, 'test', 'llm exploded', now, now, 1)).toBe('dead');
    await records.saveClassification(ids.verified!, 'default', classification(), now);
    await records.claimPush(
      ids.verified!,
      { tenantId: 'default', deviceId: box.deviceId, camera: 'back', label: 'person' },
      decision('verified', 'verified', true),
      {
        event_id: ids.verified!,
        title: 'A person at the door',
        body: 'back',
        priority: 'high',
        thumbnail_url: `${t.url}/x.jpg`,
        collapse_id: ids.verified!,
      },
      now,
      0,
    );
    await records.recordDeliveries(
      ids.verified!,
      [
        {
          target: { id: 'pt_a', platform: 'fcm', token: 'x' },
          outcome: { status: 'sent', httpStatus: 200 },
          attempts: 1,
        },
      ],
      true,
      now,
    );
    const noPerson = classification({ classify_label: 'none', classify_confidence: 0.8, classify_summary: 'Empty' });
    await records.saveClassification(ids.rejected!, 'default', noPerson, now);
    await records.saveDecision(ids.rejected!, 'default', decision('rejected', 'llm_disagrees'), now);
    await records.saveDecision(ids.skipped!, 'default', decision('skipped', 'label_not_notified'), now);
    await records.saveDecision(ids.held!, 'default', decision('held', 'llm_down_hold'), now);
    const down = classification({
      status: 'unverified',
      reason: 'unavailable',
      classify_summary: 'Person at front',
      provider: 'edge',
      model: null,
    });
    await records.saveClassification(ids.unverified!, 'default', down, now);
    await records.saveDecision(ids.unverified!, 'default', decision('unverified', 'llm_down_push_unverified'), now);
  });
  afterAll(async () => {
    await t?.close();
  });

  const list = async (query: string, token?: string): Promise<{ events: ListItem[]; next_cursor: string | null }> => {
    const res = await t.api(`/v1/events?${query}`, token ? { token } : {});
    expect(res.status, query).toBe(200);
    return (await res.json()) as { events: ListItem[]; next_cursor: string | null };
  };
  const byId = (items: ListItem[]) => new Map(items.map((e) => [e.id, e]));

  it('gives every item its verification and push state', async () => {
    const items = byId((await list('')).events);
    expect(items.size).toBe(8);
    expect(items.get(ids.none!)).toMatchObject({ verification: null, push: { decision: null, sent: false } });
    expect(items.get(ids.pending!)).toMatchObject({
      verification: { status: 'pending', label: null, confidence: null, summary: null, provider: null },
      push: { decision: null, sent: false },
    });
    expect(items.get(ids.failed!)?.verification?.status).toBe('failed');
    expect(items.get(ids.verified!)).toMatchObject({
      verification: {
        status: 'verified',
        label: 'person',
        confidence: 0.93,
        summary: 'A person at the door',
        provider: 'openai',
      },
      push: { decision: 'verified', sent: true },
    });
    expect(items.get(ids.rejected!)).toMatchObject({
      verification: { status: 'rejected', label: 'none', confidence: 0.8, summary: 'Empty', provider: 'openai' },
      push: { decision: 'llm_disagrees', sent: false },
    });
    expect(items.get(ids.skipped!)).toMatchObject({
      verification: { status: 'skipped', label: null, summary: null, provider: null },
      push: { decision: 'label_not_notified', sent: false },
    });
    expect(items.get(ids.held!)?.verification?.status).toBe('held');
    expect(items.get(ids.unverified!)).toMatchObject({
      verification: { status: 'unverified', label: 'person', summary: 'Person at front', provider: 'edge' },
      push: { decision: 'llm_down_push_unverified', sent: false },
    });
  });

  it('the detail carries the same verification fields and push as the list item', async () => {
    const listed = byId((await list('')).events);
    for (const id of Object.values(ids)) {
      const detail = (await (await t.api(`/v1/events/${id}`)).json()) as ListItem;
      const item = listed.get(id)!;
      expect(detail.push, id).toEqual(item.push);
      if (item.verification === null) expect(detail.verification, id).toBeNull();
      else expect(detail.verification, id).toMatchObject(item.verification);
    }
  });

  it('reads a page in one query, whatever the filters', async () => {
    const queries = await eventQueries(t.cloud.database, async () => {
      expect((await list('limit=50')).events).toHaveLength(8);
      expect((await list('verdict=verified&camera=back')).events).toHaveLength(1);
    });
    expect(queries).toHaveLength(2);
  });

  it('filters by verdict, with the other filters, and pages over it', async () => {
    for (const status of ['pending', 'failed', 'verified', 'rejected', 'skipped', 'held', 'unverified'])
      expect(
        (await list(`verdict=${status}`)).events.map((e) => e.id),
        status,
      ).toEqual([ids[status]]);
    // cameras alternate: front for even indexes (none, failed, rejected, held), back for the others
    expect((await list('verdict=failed&camera=front')).events).toHaveLength(1);
    expect((await list('verdict=failed&camera=back')).events).toHaveLength(0);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await list(`verdict=pending&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.events.map((e) => e.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([ids.pending]);
    expect((await list('verdict=verified', t.tokens.otherTenant)).events).toEqual([]);
  });

  it('refuses an unknown verdict with a 400 naming the field', async () => {
    const res = await t.api('/v1/events?verdict=maybe');
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.message).toContain('querystring/verdict');
  });
});

describe.each(backends)('event messages on $name', (backend) => {
  let t: TestCloud;
  let box: TestBox;

  beforeAll(async () => {
    t = await startTestCloud(backend, { overrides: { notify: { enabled: false } } });
    box = await pairTestBox(t, 'porch');
  });
  afterAll(async () => {
    await t?.close();
  });

  it("lists the box's messages oldest first, with what each said and when it was sent and received", async () => {
    const id = newEventId();
    const start = Date.now() - 10_000;
    const iso = (ms: number) => new Date(ms).toISOString();
    const first = box.event({ id, startedAt: start, score: 0.6, sent_at: iso(start + 100) });
    const update = box.event({
      id,
      type: 'update',
      rev: 1,
      startedAt: start,
      score: 0.9,
      box: [0.2, 0.2, 0.5, 0.9],
      zones: ['porch'],
      current_zones: ['porch'],
      sent_at: iso(start + 2000),
    });
    const end = box.event({
      id,
      type: 'end',
      rev: 2,
      startedAt: start,
      endedAt: start + 5000,
      end_reason: 'left',
      score: 0.7,
      zones: ['porch'],
      current_zones: [],
      stationary: true,
    });
    // out of order: the update first, then the end, then the new
    for (const m of [update, end, first]) expect((await box.send(m)).status).toBe(200);
    const before = Date.now();
    const res = await t.api(`/v1/events/${id}/messages`, { token: t.tokens.reader });
    expect(res.status).toBe(200);
    const { messages } = (await res.json()) as { messages: Array<Record<string, unknown>> };
    expect(messages.map((m) => [m.rev, m.type])).toEqual([
      [0, 'new'],
      [1, 'update'],
      [2, 'end'],
    ]);
    expect(messages[0]).toEqual({
      rev: 0,
      type: 'new',
      received_at: expect.any(String),
      sent_at: iso(start + 100),
      score: 0.6,
      label: 'person',
      box: [0.1, 0.1, 0.4, 0.8],
      zones: [],
      current_zones: [],
      stationary: false,
      end_reason: null,
    });
    expect(messages[1]).toMatchObject({ score: 0.9, box: [0.2, 0.2, 0.5, 0.9], zones: ['porch'] });
    expect(messages[1]).toMatchObject({ current_zones: ['porch'], sent_at: iso(start + 2000) });
    expect(messages[2]).toMatchObject({ sent_at: null, current_zones: [], stationary: true, end_reason: 'left' });
    // received in the order sent: the update before the new
    const received = messages.map((m) => Date.parse(String(m.received_at)));
    expect(received[1]!).toBeLessThanOrEqual(received[0]!);
    expect(Math.max(...received)).toBeLessThanOrEqual(before);
  });

  it("is tenant-scoped: another tenant's event and an unknown one are 404", async () => {
    const id = newEventId();
    expect((await box.send(box.event({ id }))).status).toBe(200);
    const foreign = await t.api(`/v1/events/${id}/messages`, { token: t.tokens.otherTenant });
    expect(foreign.status).toBe(404);
    expect(((await foreign.json()) as { error: { code: string } }).error.code).toBe('not_found');
    expect((await t.api(`/v1/events/${newEventId()}/messages`)).status).toBe(404);
    expect((await t.api(`/v1/events/${id}/messages`, { token: null })).status).toBe(401);
  });
});
