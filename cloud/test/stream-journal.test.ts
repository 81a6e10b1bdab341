import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type SqlDatabase } from '../db/index.js';
import { ChangeJournal, JournaledEventBus } from '../live/change-journal.js';
import { LocalEventBus, type LiveChange } from '../live/event-bus.js';
import { testBackends, type TestDatabase } from './support/backends.js';

/**
 * The live change journal behind the SSE ids (cloud/live/change-journal.ts) on SQLite and PostgreSQL: numbers per
 * tenant, in commit order also when two database connections (two collectors) append at once, one heartbeat row per
 * device, pruning that remembers what it dropped, and the journaling bus keeping publish order.
 */
const backends = await testBackends();

const change = (tenantId: string, n: number, type: LiveChange['type'] = 'event.stored'): LiveChange => ({
  type,
  tenantId,
  deviceId: `dev_${tenantId}`,
  eventId: type === 'heartbeat' ? undefined : `evt_${n}`,
  rev: type === 'heartbeat' ? undefined : 0,
  at: 1000 + n,
});

describe.each(backends)('change journal on $name', (backend) => {
  let db: TestDatabase;
  let other: SqlDatabase;
  beforeAll(async () => {
    db = await backend.open();
    other = await openDatabase({ dataDir: db.dataDir, ...db.config.database });
    for (const t of ['t1', 't2', 't3', 't4']) await db.store.ensureTenant(t);
  });
  afterAll(async () => {
    await other?.close();
    await db?.cleanup();
  });

  it('numbers changes per tenant from 1, in order, and reads them back after a number', async () => {
    const journal = new ChangeJournal(db.database);
    const seqs = await journal.append([change('t1', 1), change('t2', 1), change('t1', 2), change('t1', 3)]);
    expect(seqs).toEqual([1, 1, 2, 3]);
    expect(await journal.position('t1')).toEqual({ last: 3, prunedThrough: 0 });
    const after1 = await journal.after('t1', 1, 10);
    expect(after1.map((e) => [e.seq, e.change.eventId])).toEqual([
      [2, 'evt_2'],
      [3, 'evt_3'],
    ]);
    expect(after1[0]!.change).toEqual(change('t1', 2));
    expect(await journal.after('t1', 0, 2)).toHaveLength(2);
    expect(await journal.position('nobody')).toEqual({ last: 0, prunedThrough: 0 });
  });

  it('two connections appending at once get distinct numbers with no gap', async () => {
    const a = new ChangeJournal(db.database);
    const b = new ChangeJournal(other);
    const runs = Array.from({ length: 20 }, (_, i) =>
      (i % 2 ? a : b).append([change('t3', i * 2), change('t3', i * 2 + 1)]),
    );
    const seqs = (await Promise.all(runs)).flat().sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    // each batch got consecutive numbers
    for (const r of await Promise.all(runs)) expect(r[1]! - r[0]!).toBe(1);
    expect((await a.after('t3', 0, 100)).map((e) => e.seq)).toEqual(seqs);
  });

  it('keeps the latest heartbeat of a device only; pruning remembers the last number dropped', async () => {
    let t = 10_000;
    const journal = new ChangeJournal(db.database, () => t);
    await journal.append([change('t4', 1, 'heartbeat'), change('t4', 2), change('t4', 3, 'heartbeat')]);
    await journal.append([change('t4', 4, 'heartbeat')]);
    expect((await journal.after('t4', 0, 10)).map((e) => [e.seq, e.change.type])).toEqual([
      [2, 'event.stored'],
      [4, 'heartbeat'],
    ]);
    t = 20_000;
    await journal.append([change('t4', 5)]);
    expect(await journal.prune(15_000)).toBe(2);
    expect(await journal.position('t4')).toEqual({ last: 5, prunedThrough: 4 });
    expect((await journal.after('t4', 0, 10)).map((e) => e.seq)).toEqual([5]);
  });

  it('the journaling bus passes changes on in publish order, after they are numbered', async () => {
    const inner = new LocalEventBus();
    const journal = new ChangeJournal(db.database);
    const bus = new JournaledEventBus(inner, journal);
    const heard: Array<string | undefined> = [];
    const positions: Array<Promise<number>> = [];
    const done = new Promise<void>((resolve) =>
      bus.subscribe('t2', (c) => {
        heard.push(c.eventId);
        positions.push(journal.position('t2').then((p) => p.last));
        if (heard.length === 30) resolve();
      }),
    );
    for (let i = 0; i < 30; i++) bus.publish(change('t2', 100 + i));
    await done;
    expect(heard).toEqual(Array.from({ length: 30 }, (_, i) => `evt_${100 + i}`));
    // numbered in the same order; when a change reached the subscribers it was in the journal already
    const journaled = await journal.after('t2', 1, 100);
    expect(journaled.map((e) => e.change.eventId)).toEqual(heard);
    const lastAtDelivery = await Promise.all(positions);
    for (const [i, last] of lastAtDelivery.entries()) expect(last).toBeGreaterThanOrEqual(journaled[i]!.seq);
    await bus.close();
  });
});
