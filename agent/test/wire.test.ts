import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock/index.js';
import { validateEvent, validateReview } from '../../firmware-protocol/messages.js';
import { Outbox } from '../outbox/index.js';
import type { ReviewMessage } from '../review/index.js';
import { WireEventBuilder, WireReviewBuilder } from '../wire/index.js';
import { fakeJpeg } from './support-uplink/events.js';

const clock = new ManualClock(Date.UTC(2026, 0, 1));
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function outbox(): Outbox {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-wire-'));
  dirs.push(dir);
  return Outbox.open({ path: join(dir, 'outbox.db'), clock });
}

describe('WireEventBuilder (pipeline message → protocol Event)', () => {
  it('numbers revs, announces a thumbnail only when it changed, and yields valid protocol Events', () => {
    const b = new WireEventBuilder('dev_01JGZ5ZQ7P4M3N2K1H0G9F8E7D', clock);
    const base = {
      id: 'evt_01JGZ60B4W2Y8T6R5Q3P1N9M7K',
      camera: 'front',
      label: 'person',
      score: 0.8,
      top_score: 0.8,
      box: [0.4, 0.2, 0.1, 1.2] as [number, number, number, number],
      started_at: '2026-01-01T12:00:00.000Z',
      ended_at: null,
      stationary: false,
      zones: [],
      current_zones: [],
    };
    const jpg = fakeJpeg(900, 1);
    const n = b.build({ ...base, type: 'new' }, { jpeg: jpg, width: 64, height: 48 });
    const thumbnail = { size: 900, width: 64 };
    expect(n.event).toMatchObject({ rev: 0, type: 'new', box: [0.1, 0.2, 0.4, 1], thumbnail });
    expect(n.thumbnail?.equals(jpg)).toBe(true);
    const same = b.build({ ...base, type: 'update', score: 0.9 }, { jpeg: jpg, width: 64, height: 48 });
    expect(same.event.rev).toBe(1);
    expect(same.thumbnail).toBeUndefined(); // unchanged crop: announced again, not uploaded again
    expect((same.event.thumbnail as { size: number }).size).toBe(900);
    const better = fakeJpeg(1200, 2);
    const up = b.build({ ...base, type: 'update' }, { jpeg: better, width: 80, height: 60 });
    expect(up.event.rev).toBe(2);
    expect(up.thumbnail?.equals(better)).toBe(true);
    const end = b.build({ ...base, type: 'end', ended_at: '2026-01-01T12:00:09.000Z', duration: 9 });
    const ended = { duration_s: 9, ended_at: '2026-01-01T12:00:09.000Z', thumbnail: { size: 1200 } };
    expect(end.event).toMatchObject({ rev: 3, type: 'end', ...ended });
    for (const m of [n, same, up, end]) expect(validateEvent.issues(m.event)).toEqual([]);
    expect(b.openEvents).toBe(0);
    // And the outbox takes them as they come.
    const ob = outbox();
    for (const m of [n, same, up, end]) ob.enqueue(m.event, m.thumbnail);
    expect(ob.stats().depth).toBe(4 + 1); // four records + the newest thumbnail (the first one was superseded)
    ob.close();
  });
});

describe('WireEventBuilder zones', () => {
  const msg = {
    type: 'new' as const,
    id: 'evt_01JGZ60B4W2Y8T6R5Q3P1N9M7K',
    camera: 'front',
    label: 'person',
    score: 0.8,
    top_score: 0.8,
    box: [0.1, 0.2, 0.3, 0.9] as [number, number, number, number],
    started_at: '2026-01-01T12:00:00.000Z',
    ended_at: null,
    stationary: false,
  };

  it('leaves zones out until the object entered one; then zones and current_zones (empty too) go on the wire', () => {
    const b = new WireEventBuilder('dev_01JGZ5ZQ7P4M3N2K1H0G9F8E7D', clock);
    const none = b.build({ ...msg, zones: [], current_zones: [] }).event;
    expect('zones' in none || 'current_zones' in none).toBe(false);
    const inPorch = b.build({ ...msg, type: 'update', zones: ['porch'], current_zones: ['porch'] }).event;
    expect(inPorch).toMatchObject({ zones: ['porch'], current_zones: ['porch'] });
    const left = b.build({ ...msg, type: 'update', zones: ['porch', 'yard'], current_zones: [] }).event;
    expect(left).toMatchObject({ zones: ['porch', 'yard'], current_zones: [] });
    for (const e of [none, inPorch, left]) expect(validateEvent.issues(e)).toEqual([]);
  });

  it('a current zone not among the entered ones is not sent (Event.current_zones: each is also in zones)', () => {
    const b = new WireEventBuilder('dev_01JGZ5ZQ7P4M3N2K1H0G9F8E7D', clock);
    const e = b.build({ ...msg, zones: ['porch'], current_zones: ['porch', 'ghost'] }).event;
    expect(e.current_zones).toEqual(['porch']);
  });
});

describe('WireReviewBuilder (review message → protocol Review)', () => {
  const base: ReviewMessage = {
    kind: 'review',
    type: 'new',
    id: 'rev_01JGZ60B5A7C3D9E1F2G4H6J8K',
    camera: 'front',
    severity: 'detection',
    started_at: '2026-01-01T12:00:00.000Z',
    ended_at: null,
    objects: ['evt_01JGZ60B4W2Y8T6R5Q3P1N9M7K'],
    labels: ['person'],
    zones: [],
    media_start: 3,
    media_end: null,
  };

  it('numbers revs per item, ended_at only on end, no media seconds on the wire, valid protocol Reviews', () => {
    const b = new WireReviewBuilder('dev_01JGZ5ZQ7P4M3N2K1H0G9F8E7D');
    const n = b.build(base);
    const u = b.build({
      ...base,
      type: 'update',
      severity: 'alert',
      zones: ['porch'],
      thumbnail_event: base.objects[0],
    });
    const e = b.build({ ...base, type: 'end', severity: 'alert', ended_at: '2026-01-01T12:00:09.000Z', media_end: 12 });
    expect(n).toMatchObject({ v: 1, kind: 'review', device_id: 'dev_01JGZ5ZQ7P4M3N2K1H0G9F8E7D', rev: 0 });
    expect(u).toMatchObject({ rev: 1, severity: 'alert', zones: ['porch'], thumbnail_event: base.objects[0] });
    expect(e).toMatchObject({ rev: 2, type: 'end', ended_at: '2026-01-01T12:00:09.000Z' });
    expect('ended_at' in n || 'ended_at' in u).toBe(false);
    for (const r of [n, u, e]) {
      expect('media_start' in r || 'media_end' in r).toBe(false);
      expect(validateReview.issues(r)).toEqual([]);
    }
    expect(b.openItems).toBe(0);
  });

  it('an update for an item this process never saw gets rev 1 (after a restart)', () => {
    const b = new WireReviewBuilder('dev_01JGZ5ZQ7P4M3N2K1H0G9F8E7D');
    expect(b.build({ ...base, type: 'update' }).rev).toBe(1);
  });
});
