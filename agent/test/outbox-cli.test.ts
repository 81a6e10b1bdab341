import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { projectRoot } from '../../shared/paths/index.js';
import { Outbox } from '../outbox/index.js';
import { REVIEWS_REJECTED, REVIEWS_UNSUPPORTED } from '../uplink/review-delivery.js';
import { fakeJpeg, makeEvent, makeReview } from './support-uplink/events.js';
import { tempDir } from './support-uplink/harness.js';

/** `vigil-agent outbox …` through the built CLI (`npm run build` first, as `npm test` does). */
function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(projectRoot(), 'bin', 'vigil-agent.js'), 'outbox', ...args], {
    encoding: 'utf8',
    env: { ...process.env, VIGIL_DATA_DIR: '' },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
beforeEach(() => {
  dir = tempDir('vigil-outbox-cli-');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function seed(): { pending: string; dead: string; acked: string } {
  const ob = Outbox.open({ path: join(dir, 'outbox.db') });
  const pending = makeEvent();
  const dead = makeEvent();
  const acked = makeEvent();
  ob.enqueue(pending, fakeJpeg(1000));
  ob.enqueue(dead);
  ob.enqueue(acked);
  ob.claim({ kind: 'event', limit: 3, leaseMs: 60_000 });
  ob.markDead([{ kind: 'event', eventId: dead.id, rev: 0 }], { code: 'invalid_message', message: '/label: too long' });
  ob.ack([{ kind: 'event', eventId: acked.id, rev: 0 }]);
  ob.close();
  return { pending: pending.id, dead: dead.id, acked: acked.id };
}

/**
 * Review records as the uplink leaves them: one pending, one in flight, two let go because the collector predates
 * review items and one it rejected (ReviewDelivery discards them under these counters).
 */
function seedReviews(): { pending: string } {
  const ob = Outbox.open({ path: join(dir, 'outbox.db') });
  const [pending, inFlight, old1, old2, bad] = [0, 1, 2, 3, 4].map(() => makeReview());
  for (const r of [inFlight!, old1!, old2!, bad!, pending!]) ob.enqueue(r);
  const claimed = ob.claim({ kind: 'review', limit: 4, leaseMs: 60_000 });
  expect(claimed.map((c) => c.eventId)).not.toContain(pending!.id);
  const ref = (id: string) => ({ kind: 'review' as const, eventId: id, rev: 0 });
  const predates = { code: 'collector_predates_reviews', message: 'acked as an event' };
  expect(ob.discard([ref(old1!.id), ref(old2!.id)], predates, REVIEWS_UNSUPPORTED)).toBe(2);
  expect(ob.discard([ref(bad!.id)], { code: 'invalid_message', message: '/zones' }, REVIEWS_REJECTED)).toBe(1);
  ob.close();
  return { pending: pending!.id };
}

describe('vigil-agent outbox', () => {
  it('lists un-acked items with their state and last error, as text and JSON', () => {
    const ids = seed();
    const text = cli('list', '--data-dir', dir);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(ids.dead);
    expect(text.stdout).toContain('invalid_message: /label: too long');
    expect(text.stdout).not.toContain(ids.acked);
    const json = JSON.parse(cli('list', '--data-dir', dir, '--json', '--state', 'all').stdout) as {
      items: Array<{ eventId: string; state: string }>;
    };
    expect(json.items.find((i) => i.eventId === ids.acked)?.state).toBe('acked');
    expect(json.items).toHaveLength(4);
  });

  it('prints stats', () => {
    seed();
    const s = JSON.parse(cli('stats', '--data-dir', dir, '--json').stdout) as {
      depth: number;
      total: { dead: number; acked: number };
    };
    expect(s.depth).toBe(3);
    expect(s.total).toMatchObject({ dead: 1, acked: 1 });
    expect(cli('stats', '--data-dir', dir).stdout).toMatch(/depth 3 \(pending 1, in flight 1, dead 1/);
  });

  it('lists review records with --kind review, and refuses an unknown kind naming the kinds', () => {
    seed();
    const ids = seedReviews();
    const json = JSON.parse(cli('list', '--data-dir', dir, '--json', '--kind', 'review').stdout) as {
      items: Array<{ kind: string; eventId: string; state: string }>;
    };
    expect(json.items.map((i) => i.kind)).toEqual(['review', 'review']);
    expect(json.items.map((i) => i.state).sort()).toEqual(['in_flight', 'pending']);
    expect(json.items.map((i) => i.eventId)).toContain(ids.pending);
    const text = cli('list', '--data-dir', dir, '--kind', 'review', '--state', 'dropped');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('collector_predates_reviews: acked as an event');
    expect(text.stdout).toMatch(/3 item\(s\)\n$/);
    const bad = cli('list', '--data-dir', dir, '--kind', 'reviews');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--kind must be one of event, thumbnail, review, result, got "reviews"');
  });

  it('stats show review records and the review counters, as text and JSON', () => {
    seed();
    seedReviews();
    const s = JSON.parse(cli('stats', '--data-dir', dir, '--json').stdout) as {
      byKind: { review: { pending: number; in_flight: number; dropped: number } };
      reviews: Record<string, number>;
      counters: Record<string, number>;
    };
    expect(s.reviews).toEqual({ pending: 1, in_flight: 1, dropped: 3, unsupported: 2, rejected: 1 });
    expect(s.byKind.review).toMatchObject({ pending: 1, in_flight: 1, dropped: 3 });
    expect(s.counters).toMatchObject({ [REVIEWS_UNSUPPORTED]: 2, [REVIEWS_REJECTED]: 1 });
    const text = cli('stats', '--data-dir', dir).stdout;
    expect(text).toMatch(
      /^reviews: pending 1, in flight 1, dropped 3 {3}reviews\.unsupported 2 .* reviews\.rejected 1$/m,
    );
    // Events are counted apart: the review records are not in the event line.
    expect(text).toMatch(/events: pending 0, in flight 1, dead 1 /);
  });

  it('stats of an outbox without review records say 0 for them', () => {
    seed();
    const s = JSON.parse(cli('stats', '--data-dir', dir, '--json').stdout) as { reviews: Record<string, number> };
    expect(s.reviews).toEqual({ pending: 0, in_flight: 0, dropped: 0, unsupported: 0, rejected: 0 });
    expect(cli('stats', '--data-dir', dir).stdout).toContain('reviews: pending 0, in flight 0, dropped 0');
  });

  it('retry makes dead items due now', () => {
    const ids = seed();
    const r = JSON.parse(cli('retry', '--data-dir', dir, '--json').stdout) as { retried: number };
    expect(r.retried).toBe(1);
    const ob = Outbox.open({ path: join(dir, 'outbox.db') });
    expect(ob.get({ kind: 'event', eventId: ids.dead, rev: 0 })!.state).toBe('pending');
    ob.close();
  });

  it('purge refuses without --yes, saying what it would delete, and deletes with it', () => {
    seed();
    const no = cli('purge', '--data-dir', dir);
    expect(no.code).not.toBe(0);
    expect(no.stderr).toMatch(/confirmation_required: purge would delete 2 item\(s\).*--yes/);
    expect(JSON.parse(cli('stats', '--data-dir', dir, '--json').stdout).total.dead).toBe(1);
    const yes = JSON.parse(cli('purge', '--data-dir', dir, '--yes', '--json').stdout) as { deleted: number };
    expect(yes.deleted).toBe(2);
    const all = cli('purge', '--all', '--data-dir', dir);
    expect(all.stderr).toContain('never delivered');
  });

  it('fails with one clear line for a missing, foreign or bad option', () => {
    const missing = cli('stats', '--data-dir', join(dir, 'nope'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^vigil-agent: error: outbox_missing: no outbox at .*outbox\.db/);
    writeFileSync(join(dir, 'outbox.db'), 'not a database at all, just text\n'.repeat(10));
    const foreign = cli('list', '--data-dir', dir);
    expect(foreign.stderr).toMatch(/outbox_foreign: .*outbox\.db is not a Vigil outbox/);
    const moved = cli('stats', '--data-dir', dir, '--quarantine-corrupt', '--json');
    expect(moved.code).toBe(0);
    expect(moved.stderr).toContain('moved aside');
    expect(cli('list', '--data-dir', dir, '--state', 'bogus').stderr).toContain('--state must be');
  });
});
