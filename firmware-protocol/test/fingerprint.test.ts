import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalJson, dedupeVerdict, eventFingerprint, type Event } from '../index.js';

const event = JSON.parse(readFileSync(new URL('../examples/event-update.json', import.meta.url), 'utf8')) as Event;

describe('dedupe fingerprint', () => {
  it('canonical JSON sorts keys recursively and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, 1], c: null } })).toBe('{"a":{"c":null,"d":[3,1]},"b":1}');
    expect(canonicalJson({ a: undefined, b: 'x' })).toBe('{"b":"x"}');
    expect(canonicalJson([1, [], {}, [[{ z: [true, 'é'], y: -0.5 }]], null])).toBe(
      '[1,[],{},[[{"y":-0.5,"z":[true,"é"]}]],null]',
    );
  });

  it('canonical JSON of a value nested 100,000 deep does not overflow the stack (issue 10, finding 2)', () => {
    const depth = 100_000;
    const deep = JSON.parse(`{"a":${'['.repeat(depth)}{"b":1}${']'.repeat(depth)}}`) as unknown;
    const text = canonicalJson(deep);
    expect(text.length).toBe(depth * 2 + 13);
    expect(text.slice(0, 8)).toBe('{"a":[[[');
  });

  it('a resend (new sent_at, other key order) is a duplicate; changed content is a conflict', () => {
    const stored = eventFingerprint(event);
    const resent = Object.fromEntries(Object.entries({ ...event, sent_at: '2026-01-01T13:00:00.000Z' }).reverse());
    expect(dedupeVerdict(stored, resent)).toBe('duplicate');
    expect(dedupeVerdict(stored, { ...event, score: 0.5 })).toBe('conflict');
    expect(dedupeVerdict(stored, { ...event, box: [...event.box].reverse() })).toBe('conflict');
    expect(dedupeVerdict(undefined, event)).toBe('new');
  });
});
