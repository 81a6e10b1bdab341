/**
 * No event left open, on the collector (issue 11 finding 1): the events of a box that went quiet, or that restarted
 * (new heartbeat boot id) without ending them, are ended by the collector after `events.lost_after` with
 * `end_reason: device_lost`; the API and the live feed show it; a box `end` arriving afterwards is accepted and its
 * reason wins; several collectors on one database end each event once. On SQLite and PostgreSQL. Also the device
 * view of the box's outbox refusals (latest heartbeat).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newEventId } from '../../shared/ids/index.js';
import { testBackends } from './support/backends.js';
import { pairTestBox, readSse, type TestBox } from './support/box.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';

const backends = await testBackends();
const LOST_AFTER_MS = 1500;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface ApiEvent {
  id: string;
  status: 'active' | 'ended';
  end_reason: string | null;
  ended_at: string | null;
  started_at: string;
  rev: number;
}

async function heartbeat(
  box: TestBox,
  o: { bootId?: string; uptimeS?: number; outbox?: Record<string, unknown> } = {},
): Promise<void> {
  const hb = {
    v: 1,
    device_id: box.deviceId,
    sent_at: new Date().toISOString(),
    uptime_s: o.uptimeS ?? 60,
    version: '0.1.0',
    outbox: { depth: 0, oldest_pending_age_s: null, dropped: 0, in_flight: 0, ...(o.outbox ?? {}) },
    cameras: [],
    ...(o.bootId ? { boot_id: o.bootId } : {}),
  };
  const res = await box.t.signedFetch(
    box.creds,
    'POST',
    `/v1/devices/${box.deviceId}/heartbeat`,
    Buffer.from(JSON.stringify(hb)),
  );
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

async function send(
  box: TestBox,
  events: Record<string, unknown>[],
): Promise<Array<{ id: string; rev: number; status: string; code?: string }>> {
  const r = await box.send(events);
  expect(r.status).toBe(200);
  return (r.body as { acks: Array<{ id: string; rev: number; status: string; code?: string }> }).acks;
}

/** One sweep; what it ended of this box (the collector is shared by the tests: other boxes go quiet too). */
async function sweep(t: TestCloud, box: TestBox): Promise<Array<{ eventId: string; deviceId: string; why: string }>> {
  return (await t.cloud.lostEvents.sweepNow()).filter((e) => e.deviceId === box.deviceId);
}

async function apiEvent(t: TestCloud, id: string): Promise<ApiEvent> {
  const res = await t.api(`/v1/events/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as ApiEvent;
}

describe.each(backends)('collector ends events a box can no longer end ($name)', (backend) => {
  let t: TestCloud;

  beforeAll(async () => {
    // The timer is off (1 h): each test sweeps when it wants, so nothing races the assertions.
    t = await startTestCloud(backend, {
      overrides: { events: { lost_after: `${LOST_AFTER_MS}ms`, sweep_interval: '1h' } },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a box gone quiet: open events end once with device_lost at their last message time; live sees it', async () => {
    const box = await pairTestBox(t, 'quiet');
    await heartbeat(box, { bootId: 'boot-quiet-1' });
    const started = Date.now() - 5000;
    const a = newEventId();
    const b = newEventId();
    const c = newEventId();
    await send(box, [
      box.event({ id: a, startedAt: started }),
      box.event({ id: b, startedAt: started }),
      box.event({ id: c, startedAt: started }),
    ]);
    const lastMessageAt = Date.now();
    await send(box, [
      box.event({ id: c, type: 'end', rev: 1, startedAt: started, endedAt: started + 2000, end_reason: 'left' }),
    ]);

    // Before the quiet time: nothing is ended.
    expect(await sweep(t, box)).toEqual([]);
    expect((await apiEvent(t, a)).status).toBe('active');

    const stream = await t.api('/v1/events/stream');
    const live = readSse(
      stream,
      (e) => e.event === 'event.updated' && (JSON.parse(e.data) as ApiEvent).id === a,
      15_000,
    );
    await sleep(LOST_AFTER_MS + 200);
    const ended = await sweep(t, box);
    expect(new Set(ended.map((e) => e.eventId))).toEqual(new Set([a, b]));
    expect(ended.every((e) => e.why === 'offline' && e.deviceId === box.deviceId)).toBe(true);

    const ea = await apiEvent(t, a);
    expect(ea).toMatchObject({ status: 'ended', end_reason: 'device_lost', rev: 0 });
    // Ended at its last message (collector receive time on the box clock; this box's clock is the collector's).
    const endedAt = Date.parse(ea.ended_at!);
    expect(endedAt).toBeGreaterThanOrEqual(started);
    expect(endedAt).toBeLessThanOrEqual(lastMessageAt + 1000);
    expect((await apiEvent(t, c)).end_reason).toBe('left');
    const pushed = JSON.parse((await live).data) as ApiEvent;
    expect(pushed).toMatchObject({ id: a, status: 'ended', end_reason: 'device_lost' });

    const active = (await (await t.api(`/v1/events?device=${box.deviceId}&status=active`)).json()) as {
      events: ApiEvent[];
    };
    expect(active.events).toEqual([]);
    // Idempotent: a second sweep ends nothing more.
    expect(await sweep(t, box)).toEqual([]);
    expect(t.cloud.lostEvents.ended).toBeGreaterThanOrEqual(2);
  });

  it("the box's own end after device_lost is accepted and wins; a late update is stored, still ended", async () => {
    const box = await pairTestBox(t, 'late');
    const started = Date.now() - 10_000;
    const a = newEventId();
    const b = newEventId();
    await send(box, [box.event({ id: a, startedAt: started }), box.event({ id: b, startedAt: started })]);
    await sleep(LOST_AFTER_MS + 200);
    expect((await sweep(t, box)).map((e) => e.eventId).sort()).toEqual([a, b].sort());

    const boxEnd = box.event({
      id: a,
      type: 'end',
      rev: 1,
      startedAt: started,
      endedAt: started + 3000,
      end_reason: 'agent_restart',
    });
    const update = box.event({ id: b, type: 'update', rev: 1, startedAt: started, score: 0.95 });
    const acks = await send(box, [boxEnd, update]);
    expect(acks.map((x) => x.status)).toEqual(['accepted', 'accepted']);
    expect(await apiEvent(t, a)).toMatchObject({
      status: 'ended',
      end_reason: 'agent_restart',
      rev: 1,
      ended_at: new Date(started + 3000).toISOString(),
    });
    expect(await apiEvent(t, b)).toMatchObject({ status: 'ended', end_reason: 'device_lost', rev: 1 });
    // The same end again is a duplicate, as always.
    expect((await send(box, [boxEnd]))[0]!.status).toBe('duplicate');
  });

  it('a box restarted (new boot id), still online: older events end after the quiet time, newer stay', async () => {
    const box = await pairTestBox(t, 'rebooted');
    await heartbeat(box, { bootId: 'boot-A', uptimeS: 600 });
    const old = newEventId();
    await send(box, [box.event({ id: old, startedAt: Date.now() - 2000 })]);
    await sleep(30);
    // The restart: a new boot id, 10 ms of uptime. Then an event of the new run.
    await heartbeat(box, { bootId: 'boot-B', uptimeS: 0.01 });
    const fresh = newEventId();
    await send(box, [box.event({ id: fresh, startedAt: Date.now() })]);
    const view = (await (await t.api(`/v1/devices/${box.deviceId}`)).json()) as { boot_id: string; booted_at: string };
    expect(view.boot_id).toBe('boot-B');

    // Within the quiet time: left alone (the box may still end it itself).
    expect(await sweep(t, box)).toEqual([]);
    await sleep(LOST_AFTER_MS + 200);
    // Still online (a fresh heartbeat of the same boot does not restart the quiet time).
    await heartbeat(box, { bootId: 'boot-B', uptimeS: 2 });
    const ended = await sweep(t, box);
    expect(ended.map((e) => [e.eventId, e.why])).toEqual([[old, 'restarted']]);
    expect(await apiEvent(t, old)).toMatchObject({ status: 'ended', end_reason: 'device_lost' });
    expect(await apiEvent(t, fresh)).toMatchObject({ status: 'active', end_reason: null });
  });

  it('a restart whose old events the box ends itself leaves nothing for the collector to end', async () => {
    const box = await pairTestBox(t, 'tidy');
    await heartbeat(box, { bootId: 'tidy-A' });
    const started = Date.now() - 3000;
    const old = newEventId();
    await send(box, [box.event({ id: old, startedAt: started })]);
    await sleep(30);
    await heartbeat(box, { bootId: 'tidy-B', uptimeS: 0.01 });
    await send(box, [
      box.event({
        id: old,
        type: 'end',
        rev: 1,
        startedAt: started,
        endedAt: started + 1000,
        end_reason: 'agent_restart',
      }),
    ]);
    await sleep(LOST_AFTER_MS + 200);
    await heartbeat(box, { bootId: 'tidy-B', uptimeS: 2 });
    expect(await sweep(t, box)).toEqual([]);
    expect(await apiEvent(t, old)).toMatchObject({ status: 'ended', end_reason: 'agent_restart' });
  });

  it('two collectors on one database sweeping at once end each event exactly once', async () => {
    const second = await startTestCloud(backend, {
      db: t.db,
      overrides: { events: { lost_after: `${LOST_AFTER_MS}ms`, sweep_interval: '1h' } },
    });
    try {
      const box = await pairTestBox(t, 'shared');
      const ids = Array.from({ length: 12 }, () => newEventId());
      await send(
        box,
        ids.map((id) => box.event({ id, startedAt: Date.now() - 1000 })),
      );
      await sleep(LOST_AFTER_MS + 200);
      const [x, y] = await Promise.all([t.cloud.lostEvents.sweepNow(), second.cloud.lostEvents.sweepNow()]);
      const all = [...x, ...y].filter((e) => e.deviceId === box.deviceId).map((e) => e.eventId);
      expect(all.sort()).toEqual([...ids].sort());
      for (const id of ids) expect((await apiEvent(t, id)).end_reason).toBe('device_lost');
    } finally {
      await second.close();
    }
  });

  it("the device view shows the latest heartbeat's outbox refusals, disk state and skipped thumbnails", async () => {
    const box = await pairTestBox(t, 'full-disk');
    await heartbeat(box, { bootId: 'disk-1' });
    let view = (await (await t.api(`/v1/devices/${box.deviceId}`)).json()) as Record<string, unknown>;
    expect(view).toMatchObject({ disk_full: null, refused: null, thumbnails_skipped: null, boot_id: 'disk-1' });
    await heartbeat(box, {
      bootId: 'disk-1',
      outbox: { disk_full: true, refused: { disk_full: 3, outbox_full: 1 }, thumbnails_skipped: 2 },
    });
    view = (await (await t.api(`/v1/devices/${box.deviceId}`)).json()) as Record<string, unknown>;
    expect(view).toMatchObject({ disk_full: true, refused: { disk_full: 3, outbox_full: 1 }, thumbnails_skipped: 2 });
    const list = (await (await t.api('/v1/devices')).json()) as { devices: Array<Record<string, unknown>> };
    expect(list.devices.find((d) => d.id === box.deviceId)).toMatchObject({
      disk_full: true,
      refused: { disk_full: 3, outbox_full: 1 },
      thumbnails_skipped: 2,
    });
  });
});
