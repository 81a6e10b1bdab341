import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { isVigilError } from '../../shared/errors/index.js';
import type { Outbox, OutboxEvent } from '../outbox/index.js';
import { announce, fakeJpeg, makeEvent } from './support-uplink/events.js';
import { outboxFixture, ref, thrown } from './support/outbox-fixture.js';

/**
 * The outbox on a full disk, simulated by a page cap on the file (SQLite fails writes with SQLITE_FULL exactly as
 * on a full disk): records the disk cannot take wait in memory and are written in order once there is room, every
 * refusal is counted, and the open-event ledger follows the records actually written. The real-filesystem version
 * is disk-full.test.ts.
 */
const fx = outboxFixture();
const { clock, outbox } = fx;

describe('full disk', () => {
  /** Fills a 64-page file (SQLITE_FULL like a full disk) until an event record has to wait in memory. */
  function fillUntilHeld(ob: Outbox): { queued: string[]; held: OutboxEvent[] } {
    const queued: string[] = [];
    const held: OutboxEvent[] = [];
    for (let i = 0; i < 500 && held.length === 0; i++) {
      const e = makeEvent();
      const r = ob.enqueue(e, fakeJpeg(4000, i + 1));
      if (r.event === 'held') held.push(e);
      else queued.push(e.id);
    }
    return { queued, held };
  }

  it('keeps records the full disk cannot take in memory, counts each refusal once, writes them in order later', () => {
    const ob = outbox({ maxPageCount: 64 });
    const { queued, held } = fillUntilHeld(ob);
    expect(held).toHaveLength(1);
    expect(ob.stats().diskFull).toBe(true);
    // While full: thumbnails are skipped, and whatever comes waits behind what already waits (order kept).
    const next = makeEvent();
    expect(ob.enqueue(next, fakeJpeg(4000, 999))).toMatchObject({ event: 'held', thumbnail: 'skipped' });
    const end = makeEvent({ id: next.id, type: 'end', rev: 1 });
    expect(ob.enqueue(end).event).toBe('held');
    held.push(next, end);
    let s = ob.stats();
    expect(s.refused.disk_full).toBe(3);
    expect(s.held).toBe(3);
    expect(s.total.pending).toBe(queued.length * 2 + 3 - s.byKind.thumbnail.dropped);
    expect(s.thumbnailsSkipped).toBe(2);
    for (const id of queued) expect(ob.get(ref('event', id, 0))!.state).toBe('pending');
    // Acks free pages; the held records are written (in order) at the next write, and the state ends.
    for (const id of queued) ob.ack([ref('event', id, 0), ref('thumbnail', id, 0)]);
    clock.advance(ob.retentionMs + 5_000);
    ob.prune();
    clock.advance(5_000);
    ob.releaseExpiredLeases();
    s = ob.stats();
    expect(s.held).toBe(0);
    expect(s.diskFull).toBe(false);
    const order = ob.list({ kind: 'event' }).map((i) => `${i.eventId}/${i.rev}`);
    expect(order).toEqual(held.map((e) => `${e.id}/${e.rev}`));
    // The counts were written to the file, not only kept in memory.
    const raw = new Database(fx.path, { readonly: true });
    const rows = raw.prepare('SELECT name, value FROM counters').all() as Array<{ name: string; value: number }>;
    const stored = Object.fromEntries(rows.map((r) => [r.name, r.value]));
    raw.close();
    expect(stored['refused.disk_full']).toBe(3);
  });

  it('counts what it cannot keep: a full memory queue refuses (lost), and so does stopping while records wait', () => {
    const ob = outbox({ maxPageCount: 64, heldMax: 2 });
    const { held } = fillUntilHeld(ob);
    ob.enqueue(makeEvent());
    expect(thrown(() => ob.enqueue(makeEvent())).code).toBe('outbox_disk_full');
    let s = ob.stats();
    expect(s.held).toBe(2);
    expect(s.refused.disk_full).toBe(3);
    expect(s.counters['lost.disk_full']).toBe(1);
    expect(s.dropped).toBe(1 + (s.counters['dropped.thumbnail.new'] ?? 0));
    expect(held).toHaveLength(1);
    ob.close();
    const again = outbox({ readonly: true });
    s = again.stats();
    // The file was still full at close: the 2 waiting records are lost, and said so (written when anything could be).
    expect(s.counters['lost.disk_full'] ?? 0).toBeLessThanOrEqual(3);
  });

  it('a held record updates the open-event ledger when it is written, with the record actually stored', () => {
    const ob = outbox({ maxPageCount: 64 });
    const opened = makeEvent(); // its new is on disk and in the ledger before the file fills
    ob.enqueue(opened);
    const { queued, held } = fillUntilHeld(ob);
    // A new whose thumbnail is skipped (the record stored is withoutThumbnail), and the end of `opened`: both wait.
    const jpg = fakeJpeg(4000, 777);
    const neu = announce(makeEvent(), jpg);
    const { thumbnail: _skipped, ...bare } = neu;
    const r = ob.enqueue(neu, jpg, { withoutThumbnail: bare as OutboxEvent });
    expect(r).toMatchObject({ event: 'held', thumbnail: 'skipped' });
    expect(ob.enqueue(makeEvent({ id: opened.id, type: 'end', rev: 1 })).event).toBe('held');
    const ledger = (): Map<string, OutboxEvent> => new Map(ob.openEvents.list().map((o) => [o.eventId, o.lastEvent]));
    expect(ledger().has(neu.id)).toBe(false);
    expect(ledger().has(opened.id)).toBe(true);
    // Room again: the held records are written at the next write.
    for (const id of [opened.id, ...queued]) ob.ack([ref('event', id, 0), ref('thumbnail', id, 0)]);
    clock.advance(ob.retentionMs + 5_000);
    ob.prune();
    clock.advance(5_000);
    ob.releaseExpiredLeases();
    expect(ob.stats().held).toBe(0);
    const rows = ledger();
    expect(rows.has(opened.id), 'the held end removed its event from the ledger').toBe(false);
    for (const e of held) expect(rows.get(e.id), 'a held new is in the ledger').toBeDefined();
    const stored = JSON.parse(ob.body(ref('event', neu.id, 0))!.toString('utf8')) as OutboxEvent;
    expect(stored.thumbnail).toBeUndefined();
    expect(rows.get(neu.id), 'the ledger holds the record stored, without the skipped thumbnail').toEqual(stored);
  });

  it('counts budget refusals (refused.outbox_full) and reports them as dropped', () => {
    const ob = outbox({ budgetBytes: 8 * 1024 });
    let refused = 0;
    for (let i = 0; i < 40; i++) {
      try {
        ob.enqueue(makeEvent({ attributes: { pad: 'x'.repeat(1000) } }));
      } catch (err) {
        if (!isVigilError(err, 'outbox_full')) throw err;
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
    expect(ob.stats().refused.outbox_full).toBe(refused);
    expect(ob.stats().dropped).toBe(refused);
  });
});
