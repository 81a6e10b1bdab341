import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { validateReview } from '../../firmware-protocol/messages.js';
import { Outbox, OUTBOX_SCHEMA_VERSION, ROW_OVERHEAD_BYTES } from '../outbox/index.js';
import { endEventsLeftOpen } from '../outbox/open-events.js';
import { fakeJpeg, makeEvent, makeReview } from './support-uplink/events.js';
import { tempDir } from './support-uplink/harness.js';

/** Review records in the outbox (issue 13): their own item kind, claimed apart, acked, discarded, migrated. */

let dir: string;
const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
beforeEach(() => {
  dir = tempDir('vigil-outbox-review-');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));
const open = (): Outbox => Outbox.open({ path: join(dir, 'outbox.db'), clock });

describe('review records in the outbox', () => {
  it('are stored as kind review, claimed apart from events, acked by (review, id, rev)', () => {
    const ob = open();
    const ev = makeEvent();
    const rv = makeReview();
    expect(ob.enqueue(rv).event).toBe('queued');
    ob.enqueue(ev);
    expect(ob.enqueue(rv).event).toBe('duplicate');
    expect(ob.list().map((i) => i.kind)).toEqual(['review', 'event']);
    const events = ob.claim({ kind: 'event', limit: 10, leaseMs: 30_000 });
    expect(events.map((i) => i.eventId)).toEqual([ev.id]);
    const reviews = ob.claim({ kind: 'review', limit: 10, leaseMs: 30_000 });
    expect(reviews.map((i) => [i.kind, i.eventId, i.rev])).toEqual([['review', rv.id, 0]]);
    expect(JSON.parse(reviews[0]!.body.toString())).toEqual(rv);
    expect(ob.inFlightCount('review')).toBe(1);
    expect(ob.inFlightCount('event')).toBe(1);
    expect(ob.inFlightCount()).toBe(2);
    const ref = ob.refForAck('review', rv.id, 0);
    expect(ref).toEqual({ kind: 'review', eventId: rv.id, rev: 0 });
    expect(ob.ack([ref!])).toBe(1);
    const s = ob.stats();
    expect(s.byKind.review).toMatchObject({ acked: 1, in_flight: 0 });
    expect(s.byKind.event).toMatchObject({ in_flight: 1 });
    ob.close();
  });

  it('discard lets a review go as dropped with its code, counted apart from lost items', () => {
    const ob = open();
    const rv = makeReview();
    ob.enqueue(rv);
    ob.claim({ kind: 'review', limit: 1, leaseMs: 30_000 });
    const ref = { kind: 'review' as const, eventId: rv.id, rev: 0 };
    const why = { code: 'collector_predates_reviews', message: 'the collector does not know review items' };
    expect(ob.discard([ref], why, 'reviews.unsupported')).toBe(1);
    expect(ob.get(ref)).toMatchObject({ state: 'dropped', lastErrorCode: 'collector_predates_reviews' });
    expect(ob.body(ref)!.length).toBe(0);
    const s = ob.stats();
    expect(s.counters['reviews.unsupported']).toBe(1);
    expect(s.dropped).toBe(0); // not a lost event: the heartbeat's `dropped` stays quiet
    expect(s.depth).toBe(0);
    ob.close();
  });

  it('the budget evicts a review update a later rev supersedes, never the latest rev', () => {
    const ob = Outbox.open({ path: join(dir, 'outbox.db'), clock, budgetBytes: 3 * (ROW_OVERHEAD_BYTES + 400) });
    const id = makeReview().id;
    ob.enqueue(makeReview({ id, rev: 0 }));
    ob.enqueue(makeReview({ id, type: 'update', rev: 1, labels: ['person', 'car'] }));
    ob.enqueue(makeReview({ id, type: 'update', rev: 2, labels: ['person', 'car', 'dog'] }));
    ob.enqueue(makeReview({ id, type: 'end', rev: 3 }));
    const states = ob.list({ states: ['pending', 'dropped'], kind: 'review' }).map((i) => [i.rev, i.state]);
    expect(states).toContainEqual([1, 'dropped']);
    expect(states).toContainEqual([3, 'pending']);
    expect(states).toContainEqual([0, 'pending']);
    ob.close();
  });

  it('a review item left open by a crash is ended at the next start, as a valid Review end', () => {
    const ob = open();
    const rv = makeReview({ deviceId: 'dev_01JGZ5ZQ7P4M3N2K1H0G9F8E7D' });
    ob.enqueue(rv);
    ob.enqueue({ ...rv, type: 'update', rev: 1, severity: 'alert' });
    ob.close(); // crash: no end
    const again = open();
    const r = endEventsLeftOpen(again, silentLogger());
    expect(r.ended).toEqual([rv.id]);
    const end = JSON.parse(again.body({ kind: 'review', eventId: rv.id, rev: 2 })!.toString()) as Record<
      string,
      unknown
    >;
    expect(end).toMatchObject({ kind: 'review', type: 'end', rev: 2 });
    expect(end.end_reason).toBeUndefined();
    expect(validateReview.issues(end)).toEqual([]);
    expect(again.openEvents.count()).toBe(0);
    again.close();
  });
});

describe('migration 5 (review records)', () => {
  it('rebuilds a v4 file: rows, seq high-water mark, budget and triggers kept; reviews accepted', async () => {
    const { migrate } = await import('../outbox/schema.js');
    const p = join(dir, 'outbox.db');
    const db = new Database(p);
    db.pragma('journal_mode = WAL');
    migrate(db, p, 4);
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    const insert = (kind: string, id: string, state: string, body: Buffer): number => {
      const r = db
        .prepare(
          `INSERT INTO items (kind, event_id, rev, event_type, priority, state, bytes, sha256, attempts,
                              next_attempt_at, created_at) VALUES (?, ?, 0, 'new', 0, ?, ?, ?, 0, 0, 0)`,
        )
        .run(kind, id, state, body.length, sha(body));
      db.prepare('INSERT INTO bodies (seq, body) VALUES (?, ?)').run(r.lastInsertRowid, body);
      return Number(r.lastInsertRowid);
    };
    const ev = makeEvent();
    const json = Buffer.from(JSON.stringify(ev));
    const jpg = fakeJpeg(2000);
    insert('event', ev.id, 'pending', json);
    insert('thumbnail', ev.id, 'pending', jpg);
    const last = insert('event', makeEvent().id, 'acked', Buffer.from('{}'));
    db.prepare('DELETE FROM items WHERE seq = ?').run(last); // the high-water mark is now above every row
    expect(() => insert('review', makeReview().id, 'pending', Buffer.from('{}'))).toThrow(/CHECK/);
    db.close();

    const ob = open();
    const s = ob.stats();
    expect(s.liveBytes).toBe(json.length + jpg.length + 2 * ROW_OVERHEAD_BYTES);
    expect(s.byKind.event.pending).toBe(1);
    expect(s.byKind.thumbnail.pending).toBe(1);
    const rv = makeReview();
    ob.enqueue(rv);
    expect(ob.get({ kind: 'review', eventId: rv.id, rev: 0 })!.seq).toBe(last + 1);
    expect(ob.claim({ kind: 'event', limit: 5, leaseMs: 1000 })[0]!.body.equals(json)).toBe(true);
    ob.ack([{ kind: 'event', eventId: ev.id, rev: 0 }]);
    expect(ob.claim({ kind: 'thumbnail', limit: 1, leaseMs: 1000 })[0]!.body.equals(jpg)).toBe(true);
    ob.ack([{ kind: 'thumbnail', eventId: ev.id, rev: 0 }]);
    expect(ob.stats().liveBytes).toBe(Buffer.byteLength(JSON.stringify(rv)) + ROW_OVERHEAD_BYTES);
    ob.close();
    const check = new Database(p, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(OUTBOX_SCHEMA_VERSION);
    const names = (
      check.prepare('SELECT name FROM sqlite_schema WHERE tbl_name = ?').all('items') as Array<{
        name: string;
      }>
    ).map((r) => r.name);
    expect((check.prepare('SELECT count(*) AS n FROM bodies').get() as { n: number }).n).toBe(1);
    check.close();
    const expected = ['items_due', 'items_event', 'items_next', 'items_lease', 'items_budget_insert'];
    expect(names).toEqual(expect.arrayContaining([...expected, 'items_body_free', 'items_body_delete']));
  });
});
