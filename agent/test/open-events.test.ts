/**
 * No event left open, on the box: the outbox's open-event ledger (written in the enqueue transaction), the end
 * the daemon queues at start for every event a previous run left open (`end_reason: agent_restart`, next rev,
 * ended at its last message time), and the end reasons of the pipeline (`left`, `agent_stop`).
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateEvent } from '../../firmware-protocol/messages.js';
import { ManualClock } from '../../shared/clock/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { newEventId } from '../../shared/ids/index.js';
import { Outbox, type OutboxEvent, type OutboxOptions } from '../outbox/index.js';
import { WireEventBuilder } from '../wire/index.js';
import { endEventsLeftOpen, restartEnd, type LedgerOutbox } from '../outbox/open-events.js';
import type { EventMessage } from '../track/messages.js';
import { MotionEventTracker } from '../track/motion-events.js';
import { ObjectTracker } from '../track/tracker.js';
import { announce, fakeJpeg, makeEvent } from './support-uplink/events.js';

let dir: string;
let clock: ManualClock;
const opened: Outbox[] = [];
const T0 = Date.UTC(2026, 0, 1, 12, 0, 5);

function outbox(o: Partial<OutboxOptions> = {}): Outbox {
  const ob = Outbox.open({
    path: join(dir, 'outbox.db'),
    clock,
    random: () => 0.5,
    validateEvent: (e) => void validateEvent.parse(e, 'event'),
    ...o,
  });
  opened.push(ob);
  return ob;
}

/** What the outbox holds for an event message, parsed. */
function stored(ob: Outbox, eventId: string, rev: number): OutboxEvent {
  return JSON.parse(ob.body({ kind: 'event', eventId, rev })!.toString('utf8')) as OutboxEvent;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-open-events-'));
  clock = new ManualClock(T0);
});
afterEach(() => {
  for (const o of opened.splice(0)) o.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('open-event ledger (written in the enqueue transaction)', () => {
  it('new adds a row, update advances it (rev, time, message), end removes it', () => {
    const ob = outbox();
    const id = newEventId();
    ob.enqueue(makeEvent({ id, rev: 0, type: 'new' }));
    expect(ob.openEvents.list()).toMatchObject([
      { eventId: id, camera: 'front', label: 'person', lastRev: 0, lastAt: T0, startedAt: '2026-01-01T12:00:00.000Z' },
    ]);
    clock.advance(4000);
    ob.enqueue(makeEvent({ id, rev: 1, type: 'update', score: 0.95 }));
    const [row] = ob.openEvents.list();
    expect(row).toMatchObject({ lastRev: 1, lastAt: T0 + 4000 });
    expect(row!.lastEvent).toMatchObject({ type: 'update', rev: 1, score: 0.95 });
    clock.advance(1000);
    ob.enqueue(makeEvent({ id, rev: 2, type: 'end' }));
    expect(ob.openEvents.list()).toEqual([]);
    expect(ob.openEvents.count()).toBe(0);
  });

  it('a duplicate or older rev queued again never moves the row back', () => {
    const ob = outbox();
    const id = newEventId();
    ob.enqueue(makeEvent({ id, rev: 0, type: 'new' }));
    clock.advance(2000);
    ob.enqueue(makeEvent({ id, rev: 1, type: 'update' }));
    clock.advance(2000);
    expect(ob.enqueue(makeEvent({ id, rev: 1, type: 'update' })).event).toBe('duplicate');
    expect(ob.enqueue(makeEvent({ id, rev: 0, type: 'new' })).event).toBe('duplicate');
    expect(ob.openEvents.list()).toMatchObject([{ lastRev: 1, lastAt: T0 + 2000 }]);
  });

  it('a refused enqueue leaves the ledger as it was (same transaction)', () => {
    // Room for the new record only: the update is refused with outbox_full, and its ledger change rolls back.
    const ob = outbox({ budgetBytes: 1000 });
    const id = newEventId();
    ob.enqueue(makeEvent({ id, rev: 0, type: 'new' }));
    clock.advance(3000);
    expect(() => ob.enqueue(makeEvent({ id, rev: 1, type: 'update', attributes: { note: 'x'.repeat(200) } }))).toThrow(
      /outbox .* is full/,
    );
    expect(ob.openEvents.list()).toMatchObject([{ eventId: id, lastRev: 0, lastAt: T0 }]);
  });

  it('a thumbnail the budget drops: the ledger holds the record stored, which does not announce it', () => {
    // Room for the record, not for its 3 KB thumbnail: the record stored is `withoutThumbnail`, and so is the row.
    const ob = outbox({ budgetBytes: 2_000 });
    const id = newEventId();
    const jpg = fakeJpeg(3_000, 1);
    const neu = announce(makeEvent({ id, rev: 0, type: 'new' }), jpg);
    const { thumbnail: _announced, ...bare } = neu;
    expect(ob.enqueue(neu, jpg, { withoutThumbnail: bare as OutboxEvent })).toMatchObject({
      event: 'queued',
      thumbnail: 'dropped',
    });
    expect(stored(ob, id, 0).thumbnail).toBeUndefined();
    const [row] = ob.openEvents.list();
    expect(row!.lastEvent).toEqual(stored(ob, id, 0));
    expect(
      row!.lastEvent.thumbnail,
      'a restart end built from the row would announce a thumbnail never sent',
    ).toBeUndefined();
  });

  it('survives closing the file without a clean stop (the rows are durable with their messages)', () => {
    const ob = outbox();
    const id = newEventId();
    ob.enqueue(makeEvent({ id, rev: 0, type: 'new' }));
    // A second connection, as after kill -9: the committed row is there.
    const db = new Database(join(dir, 'outbox.db'), { readonly: true });
    expect(db.prepare('SELECT event_id, last_rev FROM open_events').all()).toEqual([{ event_id: id, last_rev: 0 }]);
    db.close();
  });
});

describe('restart sweep: events a previous run left open are ended with agent_restart', () => {
  it('ends every open event with the next rev at its last message time, keeping what the event said; once', () => {
    const jpeg = fakeJpeg(2000);
    let ob = outbox();
    const a = newEventId();
    const b = newEventId();
    const c = newEventId();
    ob.enqueue(
      announce(
        makeEvent({ id: a, rev: 0, type: 'new', label: 'car', box: [0.1, 0.1, 0.5, 0.5], top_score: 0.9 }),
        jpeg,
      ),
      jpeg,
    );
    clock.advance(7000);
    ob.enqueue(
      announce(
        makeEvent({
          id: a,
          rev: 1,
          type: 'update',
          label: 'car',
          score: 0.85,
          box: [0.2, 0.1, 0.6, 0.5],
          top_score: 0.9,
        }),
        jpeg,
      ),
    );
    ob.enqueue(makeEvent({ id: b, rev: 0, type: 'new' }));
    ob.enqueue(makeEvent({ id: c, rev: 0, type: 'new' }));
    ob.enqueue(makeEvent({ id: c, rev: 1, type: 'end', end_reason: 'left' }));
    ob.close();

    // The next start, a minute later.
    clock.advance(60_000);
    ob = outbox();
    const r = endEventsLeftOpen(ob, silentLogger());
    expect(r.failed).toEqual([]);
    expect(new Set(r.ended)).toEqual(new Set([a, b]));
    expect(ob.openEvents.list()).toEqual([]);

    const endA = stored(ob, a, 2);
    expect(endA).toMatchObject({
      type: 'end',
      rev: 2,
      end_reason: 'agent_restart',
      label: 'car',
      score: 0.85,
      box: [0.2, 0.1, 0.6, 0.5],
      top_score: 0.9,
      ended_at: new Date(T0 + 7000).toISOString(),
      duration_s: 12,
    });
    expect(endA.thumbnail).toEqual(announce(makeEvent(), jpeg).thumbnail);
    expect(validateEvent.issues(endA)).toEqual([]);
    expect(stored(ob, b, 1)).toMatchObject({
      type: 'end',
      rev: 1,
      end_reason: 'agent_restart',
      ended_at: new Date(T0 + 7000).toISOString(),
    });
    expect(ob.get({ kind: 'event', eventId: c, rev: 2 })).toBeUndefined();
    // Queued like any message: pending, to be signed and sent by the uplink.
    expect(ob.get({ kind: 'event', eventId: a, rev: 2 })?.state).toBe('pending');

    // Nothing left: a second start queues nothing more.
    expect(endEventsLeftOpen(ob, silentLogger())).toEqual({ ended: [], failed: [] });
  });

  it(
    'never ends an event before it started (box clock stepped back), and an end it cannot queue is kept for next ' +
      'time',
    () => {
      const ob = outbox();
      const id = newEventId();
      ob.enqueue(makeEvent({ id, rev: 0, type: 'new', started_at: new Date(T0 + 30_000).toISOString() }));
      const [open] = ob.openEvents.list();
      expect(restartEnd(open!)).toMatchObject({ ended_at: new Date(T0 + 30_000).toISOString(), duration_s: 0, rev: 1 });

      const refusing: LedgerOutbox = {
        openEvents: ob.openEvents,
        enqueue: () => {
          throw new Error('disk full');
        },
      };
      expect(endEventsLeftOpen(refusing, silentLogger())).toEqual({ ended: [], failed: [id] });
      expect(ob.openEvents.count()).toBe(1);
      expect(endEventsLeftOpen(ob, silentLogger()).ended).toEqual([id]);
    },
  );
});

describe('end reasons from the pipeline', () => {
  const box: [number, number, number, number] = [10, 10, 50, 50];

  it('motion: quiet time → left; agent stop → agent_stop; end of input → no reason', () => {
    const ended = (flush: (m: MotionEventTracker) => EventMessage[]): EventMessage | undefined => {
      const m = new MotionEventTracker({ camera: 'c', width: 100, height: 100, startFrames: 1, endAfterMs: 1000 });
      m.update([box], 0);
      return flush(m).find((x) => x.type === 'end');
    };
    expect(ended((m) => m.update([], 1200).messages)?.end_reason).toBe('left');
    expect(ended((m) => m.flush('agent_stop'))?.end_reason).toBe('agent_stop');
    const eof = ended((m) => m.flush());
    expect(eof?.type).toBe('end');
    expect(eof && 'end_reason' in eof).toBe(false);
  });

  it('objects: gone past max_disappeared → left; flush(agent_stop) → agent_stop', () => {
    const walker = (i: number) => ({
      label: 'person',
      classId: 0,
      score: 0.9,
      box: [10 + i * 4, 100, 50 + i * 4, 200] as [number, number, number, number],
    });
    const t = new ObjectTracker({ camera: 'c', width: 640, height: 360 });
    const msgs: EventMessage[] = [];
    for (let i = 0; i < 10; i++) msgs.push(...t.update([walker(i)], i * 200).messages);
    for (let i = 10; i < 40; i++) msgs.push(...t.update([], i * 200).messages);
    expect(msgs.find((m) => m.type === 'end')?.end_reason).toBe('left');

    const t2 = new ObjectTracker({ camera: 'c', width: 640, height: 360 });
    for (let i = 0; i < 10; i++) t2.update([walker(i)], i * 200);
    expect(t2.flush('agent_stop').map((m) => m.end_reason)).toEqual(['agent_stop']);
  });

  it('the wire event carries end_reason on end only', () => {
    const b = new WireEventBuilder('dev_test', clock);
    const msg = (type: EventMessage['type'], extra: Partial<EventMessage> = {}): EventMessage => ({
      type,
      id: 'evt_01JGZ60B4W2Y8T6R5Q3P1N9M7K',
      camera: 'c',
      label: 'person',
      score: 0.9,
      top_score: 0.9,
      box: [0.1, 0.1, 0.2, 0.2],
      started_at: '2026-01-01T12:00:00.000Z',
      zones: [],
      current_zones: [],
      ended_at: type === 'end' ? '2026-01-01T12:00:03.000Z' : null,
      stationary: false,
      ...extra,
    });
    expect(b.build(msg('new')).event).not.toHaveProperty('end_reason');
    const end = b.build(msg('end', { end_reason: 'agent_stop' })).event;
    expect(end).toMatchObject({ type: 'end', rev: 1, end_reason: 'agent_stop' });
    expect(validateEvent.issues(end)).toEqual([]);
  });
});
