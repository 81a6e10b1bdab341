import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newEventId } from '../../shared/ids/index.js';
import type { Store } from '../store/store.js';
import { testBackends, type TestDatabase } from './support/backends.js';
import { ingestMessage, pairTestDevice, wireEvent } from './support/fixtures.js';

/**
 * The less common paths of storing event messages, on every backend (PostgreSQL stores a message in one statement
 * with fall-backs, a batch of distinct ids in one statement; SQLite statement by statement): several revs of one
 * event in one batch, a thumbnail that came first, two devices racing for one new id, a large batch, a batch whose
 * every message takes another path.
 */
const backends = await testBackends();
const T0 = Date.UTC(2026, 0, 1, 12);

describe.each(backends)('storing event messages on $name', (backend) => {
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

  it('new, update and end of one event in one batch leave the event ended at the last rev', async () => {
    const id = newEventId();
    const msgs = [
      wireEvent({ id, deviceId: device, score: 0.5 }),
      wireEvent({ id, deviceId: device, type: 'update', rev: 1, score: 0.9, label: 'car' }),
      wireEvent({ id, deviceId: device, type: 'end', rev: 2, endedAt: T0 + 5000 }),
    ].map(ingestMessage);
    expect((await store.storeEventMessages(device, msgs, T0)).map((r) => r.status)).toEqual([
      'stored',
      'stored',
      'stored',
    ]);
    const e = await store.findDeviceEvent(device, id);
    expect(e).toMatchObject({ status: 'ended', lastRev: 2 });
    // The same batch again: every message a duplicate, nothing changes.
    expect((await store.storeEventMessages(device, msgs, T0 + 1)).map((r) => r.status)).toEqual([
      'duplicate',
      'duplicate',
      'duplicate',
    ]);
    expect(await store.findDeviceEvent(device, id)).toMatchObject({
      status: 'ended',
      lastRev: 2,
      updatedAt: e!.updatedAt,
    });
  });

  it('a thumbnail recorded before the event’s first message is joined to the event', async () => {
    const id = newEventId();
    const sha = 'a'.repeat(64);
    expect(
      await store.recordThumbnail(
        { deviceId: device, eventId: id, blobKey: 'k', sha256: sha, size: 123, contentType: 'image/jpeg' },
        T0,
      ),
    ).toBe('stored');
    await store.storeEventMessages(device, [ingestMessage(wireEvent({ id, deviceId: device }))], T0 + 1);
    expect((await store.findDeviceEvent(device, id))?.thumbnail).toMatchObject({ sha256: sha, size: 123 });
  });

  it('two devices racing for one new event id via two collectors: one stores it, the other keeps nothing', async () => {
    const other = await pairTestDevice(store);
    const second = await db.openAnother();
    const id = newEventId();
    const mine = ingestMessage(wireEvent({ id, deviceId: device }));
    const theirs = ingestMessage(wireEvent({ id, deviceId: other }));
    const [a, b] = await Promise.all([
      store.storeEventMessages(device, [mine], T0),
      second.storeEventMessages(other, [theirs], T0),
    ]);
    const statuses = [a![0]!.status, b![0]!.status].sort();
    expect(statuses).toEqual(['rejected', 'stored']);
    const loser =
      a![0]!.status === 'rejected' ? { dev: device, msg: mine, s: store } : { dev: other, msg: theirs, s: second };
    // The loser's message was not kept as history: resending it is rejected again, not a duplicate.
    expect((await loser.s.storeEventMessages(loser.dev, [loser.msg], T0 + 1))[0]).toMatchObject({
      status: 'rejected',
      code: 'event_conflict',
    });
    expect((await store.listEvents('default', {}, 10)).events.map((e) => e.id)).toEqual([id]);
  });

  it('stores a batch of 100 new events, one result each', async () => {
    const msgs = Array.from({ length: 100 }, (_, i) =>
      ingestMessage(wireEvent({ deviceId: device, startedAt: T0 + i })),
    );
    const results = await store.storeEventMessages(device, msgs, T0);
    expect(results.map((r) => r.id)).toEqual(msgs.map((m) => m.id));
    expect(results.every((r) => r.status === 'stored')).toBe(true);
    expect((await store.listEvents('default', { deviceId: device }, 200)).events).toHaveLength(100);
  });

  it('a batch of distinct ids, each message on another path: new, duplicate, conflict, update, not ours', async () => {
    const other = await pairTestDevice(store);
    const dup = wireEvent({ deviceId: device, zones: ['porch'] });
    const conflicting = wireEvent({ deviceId: device, score: 0.3 });
    const updated = wireEvent({ deviceId: device, score: 0.4 });
    const theirs = wireEvent({ deviceId: other });
    await store.storeEventMessages(device, [dup, conflicting, updated].map(ingestMessage), T0);
    await store.storeEventMessages(other, [ingestMessage(theirs)], T0);
    const early = newEventId();
    const sha = 'b'.repeat(64);
    await store.recordThumbnail(
      { deviceId: device, eventId: early, blobKey: 'k', sha256: sha, size: 7, contentType: 'image/jpeg' },
      T0,
    );
    const fresh = wireEvent({ id: early, deviceId: device, zones: ['porch', 'yard', 'porch'] });
    const batch = [
      fresh,
      dup,
      { ...conflicting, score: 0.99 },
      wireEvent({ id: String(updated.id), deviceId: device, type: 'end', rev: 1, endedAt: T0 + 9000 }),
      wireEvent({ id: String(theirs.id), deviceId: device, type: 'update', rev: 1 }),
    ];
    const results = await store.storeEventMessages(device, batch.map(ingestMessage), T0 + 1);
    expect(results.map((r) => [r.id, r.status, r.code])).toEqual([
      [early, 'stored', undefined],
      [dup.id, 'duplicate', undefined],
      [conflicting.id, 'conflict', 'event_conflict'],
      [updated.id, 'stored', undefined],
      [theirs.id, 'rejected', 'event_conflict'],
    ]);
    expect(await store.findDeviceEvent(device, early)).toMatchObject({ thumbnail: { sha256: sha, size: 7 } });
    expect(await store.findDeviceEvent(device, String(updated.id))).toMatchObject({ status: 'ended', lastRev: 1 });
    expect(await store.findDeviceEvent(device, String(conflicting.id))).toMatchObject({ score: 0.3 });
    expect(await store.findDeviceEvent(device, String(theirs.id))).toBeUndefined();
    const inYard = await store.listEvents('default', { zone: 'yard' }, 10);
    expect(inYard.events.map((e) => e.id)).toEqual([early]);
    expect((await store.listEventMessages('default', String(theirs.id)))?.map((m) => m.rev)).toEqual([0]);
  });
});
