import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ACK_KINDS,
  eventFingerprint,
  isReviewId,
  parseEventsBody,
  REVIEW_OBJECTS_MAX,
  splitEventsBody,
  validateAck,
  validateEvent,
  validateEventBatch,
  validateReview,
} from '../index.js';
import { schemaFileValidator } from '../../shared/testing/json-schema.js';
import { SCHEMAS_DIR } from '../export-schemas.js';

/** Review messages (issue 13): schema, rules, the events-body splitter and the ack kind. */

function example(name: string): Record<string, unknown> {
  const url = new URL(`../examples/${name}.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as Record<string, unknown>;
}
function ajvFor(kind: string): (v: unknown) => boolean {
  const validate = schemaFileValidator(join(SCHEMAS_DIR, `${kind}.schema.json`));
  return (v) => validate(v) as boolean;
}
const ajvReview = ajvFor('review');
const ajvEvent = ajvFor('event');
const ajvBatch = ajvFor('event-batch');
const clean = (v: unknown): unknown => JSON.parse(JSON.stringify(v)) as unknown;

const newReview = example('review-new');
const updateReview = example('review-update');
const endReview = example('review-end');
const event = example('event-new');
const evtIds = (n: number): string[] =>
  Array.from({ length: n }, (_, i) => `evt_01JGZ60B4W2Y8T6R5Q3P${String(i).padStart(6, '0')}`);

describe('Review schema', () => {
  it('the examples are new/update/end with rev 0, 1, 2 and valid for ajv and TypeBox', () => {
    expect([newReview.type, updateReview.type, endReview.type]).toEqual(['new', 'update', 'end']);
    expect([newReview.rev, updateReview.rev, endReview.rev]).toEqual([0, 1, 2]);
    for (const r of [newReview, updateReview, endReview]) {
      expect(ajvReview(r)).toBe(true);
      expect(validateReview.issues(r)).toEqual([]);
    }
    expect(isReviewId(String(newReview.id))).toBe(true);
    expect(isReviewId('evt_01JGZ60B4W2Y8T6R5Q3P1N9M7K')).toBe(false);
  });

  const rejected: Array<[string, Record<string, unknown>]> = [
    ['kind missing', { ...newReview, kind: undefined }],
    ['kind event', { ...newReview, kind: 'event' }],
    ['id with evt_ prefix', { ...newReview, id: 'evt_01JGZ60B4W2Y8T6R5Q3P1N9M7K' }],
    ['unknown severity', { ...newReview, severity: 'critical' }],
    ['no objects', { ...newReview, objects: [] }],
    ['object not an event id', { ...newReview, objects: ['rev_01JGZ60B5A7C3D9E1F2G4H6J8K'] }],
    [
      'repeated object',
      { ...updateReview, objects: ['evt_01JGZ60B4W2Y8T6R5Q3P1N9M7K', 'evt_01JGZ60B4W2Y8T6R5Q3P1N9M7K'] },
    ],
    ['too many objects', { ...updateReview, objects: evtIds(REVIEW_OBJECTS_MAX + 1) }],
    ['no labels', { ...newReview, labels: [] }],
    ['repeated label', { ...newReview, labels: ['person', 'person'] }],
    ['zones missing', { ...newReview, zones: undefined }],
    ['zone with a slash', { ...newReview, zones: ['a/b'] }],
    ['new with rev 1', { ...newReview, rev: 1 }],
    ['update with rev 0', { ...updateReview, rev: 0 }],
    ['end without ended_at', { ...endReview, ended_at: undefined }],
    ['ended_at on an update', { ...updateReview, ended_at: endReview.ended_at }],
    ['v 2', { ...newReview, v: 2 }],
  ];
  for (const [what, value] of rejected) {
    it(`rejects (ajv and TypeBox): ${what}`, () => {
      const v = clean(value);
      expect([ajvReview(v), validateReview.check(v)]).toEqual([false, false]);
    });
  }

  it('accepts the largest object list and unknown fields', () => {
    const objects = evtIds(REVIEW_OBJECTS_MAX);
    const big = { ...updateReview, objects, thumbnail_event: objects[5], future: { x: 1 } };
    expect([ajvReview(big), validateReview.check(big)]).toEqual([true, true]);
  });

  it('rules beyond JSON Schema, precisely: time order and thumbnail_event among objects', () => {
    expect(validateReview.issues({ ...endReview, ended_at: '2026-01-01T11:00:00Z' })).toEqual([
      { path: '/ended_at', message: 'must not precede started_at' },
    ]);
    expect(validateReview.issues({ ...endReview, media_end: '2026-01-01T11:00:00Z' })).toEqual([
      { path: '/media_end', message: 'must not precede media_start' },
    ]);
    expect(validateReview.issues({ ...newReview, thumbnail_event: 'evt_01JGZ61C5X3Z9V7S6R4Q2P0N8M' })).toEqual([
      { path: '/thumbnail_event', message: 'evt_01JGZ61C5X3Z9V7S6R4Q2P0N8M is not one of objects' },
    ]);
    expect(() => validateReview.parse({ ...newReview, rev: 3 }, 'review')).toThrowError(/review: \/rev/);
  });

  it('a review message is not an Event and an event is not a Review (a pre-review reader rejects it)', () => {
    expect([ajvEvent(newReview), validateEvent.check(newReview)]).toEqual([false, false]);
    expect([ajvReview(event), validateReview.check(event)]).toEqual([false, false]);
  });

  it('dedupes like events: a resend with another sent_at has the same fingerprint, other content another', () => {
    const resent = { ...updateReview, sent_at: '2026-01-01T13:00:00.000Z' };
    expect(eventFingerprint(resent)).toBe(eventFingerprint(updateReview));
    expect(eventFingerprint({ ...updateReview, severity: 'detection' })).not.toBe(eventFingerprint(updateReview));
  });
});

describe('Event current_zones', () => {
  it('is optional, a unique list of zone names, in both validators', () => {
    const ok = { ...event, zones: ['porch', 'walkway'], current_zones: ['walkway'] };
    expect([ajvEvent(ok), validateEvent.check(ok)]).toEqual([true, true]);
    expect([ajvEvent(event), validateEvent.check(event)]).toEqual([true, true]);
    const dup = { ...event, current_zones: ['a', 'a'] };
    expect([ajvEvent(dup), validateEvent.check(dup)]).toEqual([false, false]);
    const bad = { ...event, current_zones: ['a b'] };
    expect([ajvEvent(bad), validateEvent.check(bad)]).toEqual([false, false]);
  });
});

describe('events body with review items', () => {
  it("an EventBatch may mix events and reviews (ajv and TypeBox), with each kind's rules", () => {
    const batch = { v: 1, events: [event, updateReview, endReview] };
    expect([ajvBatch(batch), validateEventBatch.check(batch)]).toEqual([true, true]);
    const badRule = { v: 1, events: [event, { ...updateReview, rev: 0 }] };
    expect([ajvBatch(badRule), validateEventBatch.check(badRule)]).toEqual([false, false]);
    expect(validateEventBatch.issues(badRule)).toEqual([
      { path: '/events/1/rev', message: 'must be ≥ 1 when type is update (0 is the new message)' },
    ]);
  });

  it('splitEventsBody gives events, reviews and rejected items apart, each rejection with its ack kind', () => {
    const badReview = { ...newReview, severity: 'urgent' };
    const parts = splitEventsBody({ v: 1, events: [updateReview, event, badReview, { ...event, score: 9 }] });
    expect(parts.events).toEqual([event]);
    expect(parts.reviews).toEqual([updateReview]);
    expect(parts.rejected).toMatchObject([
      { index: 2, kind: 'review', id: newReview.id, rev: 0, issues: [{ path: '/events/2/severity' }] },
      { index: 3, kind: 'event', id: event.id, rev: 0, issues: [{ path: '/events/3/score' }] },
    ]);
    expect(parts.items.map((i) => [i.index, i.kind])).toEqual([
      [0, 'review'],
      [1, 'event'],
    ]);
    expect(splitEventsBody(endReview)).toEqual({
      events: [],
      reviews: [endReview],
      rejected: [],
      items: [{ index: 0, kind: 'review', message: endReview }],
    });
  });

  it('parseEventsBody (strict, events only) refuses a body holding a review', () => {
    expect(() => parseEventsBody({ v: 1, events: [event, newReview] })).toThrowError(/\/events\/1/);
    expect(() => parseEventsBody(newReview)).toThrowError(/event: .*\/label/);
  });

  it('the ack kind review exists and an ack naming a review id validates', () => {
    expect(ACK_KINDS).toContain('review');
    const ack = {
      v: 1,
      acks: [{ id: newReview.id, rev: 0, kind: 'review', status: 'accepted' }],
      server_time: '2026-01-01T12:00:00.000Z',
    };
    expect(validateAck.check(ack)).toBe(true);
    expect(ajvFor('ack')(ack)).toBe(true);
  });
});
