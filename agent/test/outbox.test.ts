import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import {
  existsSync,
  readFileSync,
  readdirSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
  statSync,
} from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isVigilError, type VigilError } from '../../shared/errors/index.js';
import { OUTBOX_SCHEMA_VERSION, ROW_OVERHEAD_BYTES } from '../outbox/index.js';
import { backoffDelayMs } from '../outbox/backoff.js';
import { fakeJpeg, makeEvent } from './support-uplink/events.js';
import { outboxFixture, ref, thrown } from './support/outbox-fixture.js';

const fx = outboxFixture();
const { clock, outbox } = fx;

describe('outbox file', () => {
  it('creates a WAL database at the current schema version with FULL sync for enqueues', () => {
    const ob = outbox();
    ob.enqueue(makeEvent());
    ob.close();
    const db = new Database(fx.path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(OUTBOX_SCHEMA_VERSION);
    expect(db.pragma('application_id', { simple: true })).toBe(0x56474f42);
    db.close();
  });

  it('refuses a file written by a newer schema and leaves it untouched', () => {
    outbox().close();
    const db = new Database(fx.path);
    db.pragma(`user_version = ${OUTBOX_SCHEMA_VERSION + 5}`);
    db.close();
    const err = thrown(() => outbox());
    expect(err.code).toBe('outbox_too_new');
    expect(err.message).toContain(fx.path);
  });

  it('names a non-SQLite file as foreign and leaves it untouched', () => {
    const p = fx.path;
    writeFileSync(p, 'these are my holiday notes, not a database\n'.repeat(100));
    const before = readFileSync(p);
    const err = thrown(() => outbox());
    expect(err.code).toBe('outbox_foreign');
    expect(err.message).toContain(p);
    expect(readFileSync(p).equals(before)).toBe(true);
  });

  it("names another application's SQLite database as foreign", () => {
    const p = fx.path;
    const db = new Database(p);
    db.exec('CREATE TABLE recipes (name TEXT)');
    db.close();
    expect(thrown(() => outbox()).code).toBe('outbox_foreign');
  });

  it('detects a damaged outbox as corrupt, keeps it, and only quarantines it on request', () => {
    const p = fx.path;
    const ob = outbox();
    for (let i = 0; i < 200; i++) ob.enqueue(makeEvent(), fakeJpeg(3000, i + 1));
    ob.close();
    // Checkpointed on close; overwrite pages in the middle of the b-trees with garbage.
    expect(existsSync(p + '-wal') ? statSync(p + '-wal').size : 0).toBe(0);
    const size = statSync(p).size;
    const fd = openSync(p, 'r+');
    writeSync(fd, fakeJpeg(4096 * 40, 99), 0, 4096 * 40, Math.floor(size / 4096 / 3) * 4096);
    closeSync(fd);
    const damaged = readFileSync(p);
    const err = thrown(() => outbox());
    expect(err.code).toBe('outbox_corrupt');
    expect(err.message).toContain(p);
    expect(readFileSync(p).equals(damaged)).toBe(true);

    const fresh = outbox({ quarantine: true });
    expect(fresh.quarantinedTo).toMatch(/outbox\.db\.corrupt-/);
    expect(readFileSync(fresh.quarantinedTo!).equals(damaged)).toBe(true);
    expect(fresh.stats().depth).toBe(0);
    expect(readdirSync(fx.dir).some((f) => f.startsWith('outbox.db.corrupt-'))).toBe(true);
  });

  it('reports a missing outbox when asked not to create one', () => {
    expect(thrown(() => outbox({ create: false })).code).toBe('outbox_missing');
  });
});

describe('enqueue, claim, ack', () => {
  it('stores the event JSON and thumbnail, and is idempotent for the same id+rev', () => {
    const ob = outbox();
    const e = makeEvent();
    const jpg = fakeJpeg(20_000);
    expect(ob.enqueue(e, jpg)).toEqual({ event: 'queued', thumbnail: 'queued', evicted: 0 });
    expect(ob.enqueue(e, jpg)).toEqual({ event: 'duplicate', thumbnail: 'duplicate', evicted: 0 });
    expect(JSON.parse(ob.body(ref('event', e.id, 0))!.toString('utf8'))).toEqual(e);
    expect(ob.body(ref('thumbnail', e.id, 0))!.equals(jpg)).toBe(true);
    expect(ob.stats().depth).toBe(2);
    expect(ob.stats().liveBytes).toBe(JSON.stringify(e).length + jpg.length + 2 * ROW_OVERHEAD_BYTES);
  });

  it('refuses the same id+rev with different content', () => {
    const ob = outbox();
    const e = makeEvent();
    ob.enqueue(e);
    const err = thrown(() => ob.enqueue({ ...e, label: 'car' }));
    expect(err.code).toBe('outbox_conflict');
  });

  it('rejects malformed events and oversize thumbnails with clear errors', () => {
    const ob = outbox();
    expect(thrown(() => ob.enqueue({ id: '', rev: 0, type: 'new' })).message).toContain('/id');
    expect(thrown(() => ob.enqueue({ id: 'evt_x', rev: -1, type: 'new' })).message).toContain('/rev');
    expect(thrown(() => ob.enqueue({ id: 'evt_x', rev: 0, type: 'begin' as 'new' })).message).toContain('/type');
    expect(thrown(() => ob.enqueue(makeEvent(), Buffer.alloc(3 * 1024 * 1024))).code).toBe('thumbnail_too_large');
    expect(thrown(() => ob.enqueue(makeEvent({ notes: 'x'.repeat(20_000) }))).code).toBe('event_too_large');
  });

  it('sends new/end records before updates, and thumbnails only after their event is acked', () => {
    const ob = outbox();
    const a = makeEvent({ type: 'new' });
    ob.enqueue(a, fakeJpeg(100));
    ob.enqueue({ ...a, rev: 1, type: 'update' });
    ob.enqueue({ ...a, rev: 2, type: 'end' });
    const b = makeEvent();
    ob.enqueue(b);
    const c = makeEvent();
    ob.enqueue(c);
    ob.enqueue({ ...c, rev: 1, type: 'update' }, fakeJpeg(100, 2));

    expect(ob.claim({ kind: 'thumbnail', limit: 10, leaseMs: 30_000 })).toEqual([]);
    const events = ob.claim({ kind: 'event', limit: 10, leaseMs: 30_000 });
    expect(events.map((i) => [i.eventId, i.rev])).toEqual([
      [a.id, 0],
      [a.id, 2],
      [b.id, 0],
      [c.id, 0],
      [a.id, 1],
      [c.id, 1],
    ]);
    expect(events.every((i) => i.state === 'in_flight' && i.attempts === 1)).toBe(true);
    // c's update thumbnail waits for c rev 1; a's thumbnail (rev 0) may go once a rev 0 is acked.
    ob.ack([ref('event', a.id, 0), ref('event', c.id, 0)]);
    expect(ob.claim({ kind: 'thumbnail', limit: 10, leaseMs: 30_000 }).map((t) => t.eventId)).toEqual([a.id]);
    ob.ack([ref('event', c.id, 1)]);
    expect(ob.claim({ kind: 'thumbnail', limit: 10, leaseMs: 30_000 }).map((t) => t.eventId)).toEqual([c.id]);
  });

  it('frees the body on ack, keeps the row until retention, then prunes it', () => {
    const ob = outbox({ retentionMs: 60_000 });
    const e = makeEvent();
    ob.enqueue(e, fakeJpeg(5000));
    ob.claim({ kind: 'event', limit: 1, leaseMs: 1000 });
    expect(ob.ack([ref('event', e.id, 0)])).toBe(1);
    expect(ob.ack([ref('event', e.id, 0)])).toBe(0);
    expect(ob.get(ref('event', e.id, 0))!.state).toBe('acked');
    expect(ob.body(ref('event', e.id, 0))!.length).toBe(0);
    expect(ob.stats().liveBytes).toBe(5000 + ROW_OVERHEAD_BYTES);
    clock.advance(59_000);
    expect(ob.prune()).toBe(0);
    clock.advance(2_000);
    expect(ob.prune()).toBe(1);
    expect(ob.get(ref('event', e.id, 0))).toBeUndefined();
  });

  it('respects maxBytes when claiming a batch but always takes one item', () => {
    const ob = outbox();
    for (let i = 0; i < 5; i++) ob.enqueue(makeEvent({ pad: 'p'.repeat(1000) }));
    expect(ob.claim({ kind: 'event', limit: 10, maxBytes: 2500, leaseMs: 1000 })).toHaveLength(2);
    expect(ob.claim({ kind: 'event', limit: 10, maxBytes: 10, leaseMs: 1000 })).toHaveLength(1);
  });
});

describe('retries, leases and dead letters', () => {
  it('backs off exponentially with jitter, capped', () => {
    const p = { baseMs: 1000, maxMs: 60_000 };
    expect(backoffDelayMs(1, p, () => 0)).toBe(500);
    expect(backoffDelayMs(1, p, () => 1)).toBe(1000);
    expect(backoffDelayMs(4, p, () => 1)).toBe(8000);
    expect(backoffDelayMs(30, p, () => 1)).toBe(60_000);
    expect(backoffDelayMs(30, p, () => 0)).toBe(30_000);
  });

  it('puts a failed send back with backoff and makes it due again later', () => {
    const ob = outbox();
    const e = makeEvent();
    ob.enqueue(e);
    ob.claim({ kind: 'event', limit: 1, leaseMs: 30_000 });
    ob.retryLater([ref('event', e.id, 0)], { code: 'internal_error', message: 'HTTP 500' });
    const item = ob.get(ref('event', e.id, 0))!;
    expect(item.state).toBe('pending');
    expect(item.lastErrorCode).toBe('internal_error');
    expect(item.nextAttemptAt).toBe(clock.now() + 750);
    expect(ob.claim({ kind: 'event', limit: 1, leaseMs: 30_000 })).toEqual([]);
    expect(ob.stats().backingOff).toBe(1);
    clock.advance(750);
    expect(ob.claim({ kind: 'event', limit: 1, leaseMs: 30_000 })).toHaveLength(1);
  });

  it('returns in-flight items whose lease expired, and all in-flight items after a restart', () => {
    const ob = outbox();
    const e1 = makeEvent();
    const e2 = makeEvent();
    ob.enqueue(e1);
    ob.enqueue(e2);
    ob.claim({ kind: 'event', limit: 1, leaseMs: 10_000 });
    clock.advance(5_000);
    ob.claim({ kind: 'event', limit: 1, leaseMs: 10_000 });
    clock.advance(5_000);
    expect(ob.releaseExpiredLeases()).toBe(1);
    expect(ob.get(ref('event', e1.id, 0))!.lastErrorCode).toBe('ack_timeout');
    expect(ob.get(ref('event', e2.id, 0))!.state).toBe('in_flight');
    expect(ob.counters().expired_leases).toBe(1);
    ob.close();
    const again = outbox();
    expect(again.recoverInFlight()).toBe(1);
    expect(again.get(ref('event', e2.id, 0))!.state).toBe('pending');
    expect(again.get(ref('event', e2.id, 0))!.nextAttemptAt).toBe(clock.now());
  });

  it('keeps rejected items as dead with their code, and retryNow revives them', () => {
    const ob = outbox();
    const e = makeEvent();
    ob.enqueue(e);
    ob.claim({ kind: 'event', limit: 1, leaseMs: 1000 });
    ob.markDead([ref('event', e.id, 0)], { code: 'invalid_message', message: '/label: too long' });
    const dead = ob.list();
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ state: 'dead', lastErrorCode: 'invalid_message' });
    expect(ob.body(ref('event', e.id, 0))!.length).toBeGreaterThan(0);
    expect(ob.stats().depth).toBe(1);
    expect(ob.retryNow()).toBe(1);
    expect(ob.claim({ kind: 'event', limit: 1, leaseMs: 1000 })).toHaveLength(1);
  });

  it('marks an item whose stored body no longer matches its checksum dead instead of sending it', () => {
    const ob = outbox();
    const e = makeEvent();
    ob.enqueue(e, fakeJpeg(1000));
    ob.ack([ref('event', e.id, 0)]);
    const db = new Database(fx.path);
    db.prepare("UPDATE bodies SET body = ? WHERE seq = (SELECT seq FROM items WHERE kind = 'thumbnail')").run(
      fakeJpeg(1000, 7),
    );
    db.close();
    expect(ob.claim({ kind: 'thumbnail', limit: 5, leaseMs: 1000 })).toEqual([]);
    expect(ob.get(ref('thumbnail', e.id, 0))).toMatchObject({ state: 'dead', lastErrorCode: 'checksum_mismatch' });
  });

  it('ignores a late failure report for an item that was acked meanwhile', () => {
    const ob = outbox();
    const e = makeEvent();
    ob.enqueue(e);
    ob.claim({ kind: 'event', limit: 1, leaseMs: 1000 });
    ob.ack([ref('event', e.id, 0)]);
    expect(ob.retryLater([ref('event', e.id, 0)], { code: 'x', message: 'late' })).toBe(0);
    expect(ob.markDead([ref('event', e.id, 0)], { code: 'x', message: 'late' })).toBe(0);
    expect(ob.get(ref('event', e.id, 0))!.state).toBe('acked');
  });
});

describe('disk budget', () => {
  const rec = (id: string, rev: number, type: 'new' | 'update' | 'end') => makeEvent({ id, rev, type });

  it('evicts update thumbnails first, then other thumbnails, and counts each drop', () => {
    const ob = outbox({ budgetBytes: 50_000 });
    const e = [makeEvent(), makeEvent(), makeEvent(), makeEvent()].map((x) => x.id);
    ob.enqueue(rec(e[0]!, 0, 'new'), fakeJpeg(10_000, 1));
    ob.enqueue(rec(e[1]!, 1, 'update'), fakeJpeg(10_000, 2));
    ob.enqueue(rec(e[2]!, 1, 'update'), fakeJpeg(10_000, 3));
    ob.enqueue(rec(e[3]!, 2, 'end'), fakeJpeg(10_000, 4));
    expect(ob.stats().dropped).toBe(0);
    const f = makeEvent();
    const r = ob.enqueue(rec(f.id, 0, 'new'), fakeJpeg(20_000, 5));
    expect(r.thumbnail).toBe('queued');
    expect(r.evicted).toBe(2);
    expect(ob.get(ref('thumbnail', e[1]!, 1))!.state).toBe('dropped');
    expect(ob.get(ref('thumbnail', e[2]!, 1))!.state).toBe('dropped');
    expect(ob.get(ref('thumbnail', e[0]!, 0))!.state).toBe('pending');
    expect(ob.counters()['dropped.thumbnail.update']).toBe(2);
    // Next: no update thumbnails left, so the oldest new/end thumbnail goes.
    ob.enqueue(rec(makeEvent().id, 0, 'new'), fakeJpeg(10_000, 6));
    expect(ob.get(ref('thumbnail', e[0]!, 0))!.state).toBe('dropped');
    expect(ob.counters()['dropped.thumbnail.new']).toBe(1);
    expect(ob.stats().liveBytes).toBeLessThanOrEqual(50_000);
    // Event records are all still there.
    expect(ob.list({ kind: 'event' })).toHaveLength(6);
  });

  it('drops superseded update records, never new/end or the latest rev, then refuses with outbox_full', () => {
    const ob = outbox({ budgetBytes: 12 * (ROW_OVERHEAD_BYTES + 150) });
    const ids: string[] = [];
    let refused: VigilError | undefined;
    for (let i = 0; i < 50 && !refused; i++) {
      const id = makeEvent().id;
      ids.push(id);
      try {
        ob.enqueue(rec(id, 0, 'new'));
        ob.enqueue(rec(id, 1, 'update'));
        ob.enqueue(rec(id, 2, 'update'));
      } catch (err) {
        if (!isVigilError(err, 'outbox_full')) throw err;
        refused = err;
      }
    }
    expect(refused?.message).toContain('refused');
    const dropped = ob.list({ states: ['dropped'] });
    expect(dropped.length).toBeGreaterThan(0);
    expect(dropped.every((d) => d.kind === 'event' && d.eventType === 'update' && d.rev === 1)).toBe(true);
    for (const id of ids.slice(0, -1)) {
      expect(ob.get(ref('event', id, 0))!.state).toBe('pending');
      expect(ob.get(ref('event', id, 2))!.state).toBe('pending');
    }
    expect(ob.counters()['dropped.event.update']).toBe(dropped.length);
  });

  it('keeps the event but drops its own thumbnail when only the record fits', () => {
    const ob = outbox({ budgetBytes: 3 * (ROW_OVERHEAD_BYTES + 150) + 1000 });
    ob.enqueue(makeEvent());
    ob.enqueue(makeEvent());
    const r = ob.enqueue(makeEvent(), fakeJpeg(5000));
    expect(r).toMatchObject({ event: 'queued', thumbnail: 'dropped' });
    expect(ob.counters()['dropped.thumbnail.new']).toBe(1);
  });
});

describe('purge', () => {
  it('deletes only finished and dead rows unless told all, and counts purged un-acked items', () => {
    const ob = outbox();
    const a = makeEvent();
    const b = makeEvent();
    const c = makeEvent();
    ob.enqueue(a);
    ob.enqueue(b);
    ob.enqueue(c);
    ob.ack([ref('event', a.id, 0)]);
    ob.claim({ kind: 'event', limit: 1, leaseMs: 1000 });
    ob.markDead([ref('event', b.id, 0)], { code: 'invalid_message', message: 'bad' });
    expect(ob.purgePreview(false)).toMatchObject({ acked: 1, dead: 1, pending: 0 });
    expect(ob.purge(false)).toBe(2);
    expect(ob.get(ref('event', c.id, 0))!.state).toBe('pending');
    expect(ob.purge(true)).toBe(1);
    expect(ob.counters()['purged.event']).toBe(2);
  });
});

describe('thumbnails per event', () => {
  it(
    'supersedes an older unsent thumbnail when a later rev brings a new one, and maps thumbnail acks by ' + 'event id',
    () => {
      const ob = outbox();
      const e = makeEvent();
      ob.enqueue(e, fakeJpeg(500, 1));
      ob.enqueue({ ...e, rev: 1, type: 'update' }, fakeJpeg(500, 2));
      expect(ob.get(ref('thumbnail', e.id, 0))).toMatchObject({ state: 'dropped', lastErrorCode: 'superseded' });
      expect(ob.counters()['superseded.thumbnail']).toBe(1);
      expect(ob.stats().dropped).toBe(0);
      expect(ob.refForAck('thumbnail', e.id, 0)).toEqual(ref('thumbnail', e.id, 1));
      expect(ob.refForAck('event', e.id, 1)).toEqual(ref('event', e.id, 1));
      ob.ack([ref('thumbnail', e.id, 1)]);
      expect(ob.refForAck('thumbnail', e.id, 0)).toBeUndefined();
    },
  );

  it('refuses a thumbnail that differs from the one the event announces', () => {
    const ob = outbox();
    const jpg = fakeJpeg(800);
    const other = fakeJpeg(800, 5);
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    const e = makeEvent({
      thumbnail: { sha256: sha(jpg), size: 800, width: 8, height: 8, content_type: 'image/jpeg' },
    });
    expect(thrown(() => ob.enqueue(e, other)).code).toBe('thumbnail_mismatch');
    expect(ob.enqueue(e, jpg).thumbnail).toBe('queued');
  });
});

describe('expedite', () => {
  it('makes backing-off pending items due now but leaves dead ones', () => {
    const ob = outbox();
    const a = makeEvent();
    const b = makeEvent();
    ob.enqueue(a);
    ob.enqueue(b);
    ob.claim({ kind: 'event', limit: 2, leaseMs: 1000 });
    ob.retryLater([ref('event', a.id, 0)], { code: 'internal_error', message: 'x', delayMs: 600_000 });
    ob.markDead([ref('event', b.id, 0)], { code: 'invalid_message', message: 'y' });
    expect(ob.expedite()).toBe(1);
    expect(ob.claim({ kind: 'event', limit: 5, leaseMs: 1000 }).map((i) => i.eventId)).toEqual([a.id]);
    expect(ob.get(ref('event', b.id, 0))!.state).toBe('dead');
  });
});

describe('migrations', () => {
  it('upgrades a version-1 file in place: bodies move to their own table, nothing is lost', async () => {
    const { migrate } = await import('../outbox/schema.js');
    const p = fx.path;
    const db = new Database(p);
    db.pragma('journal_mode = WAL');
    migrate(db, p, 1);
    const jpg = fakeJpeg(3000);
    const ins = db.prepare(
      `INSERT INTO items (kind, event_id, rev, event_type, priority, state, body, bytes, sha256, attempts,
                          next_attempt_at, created_at)
       VALUES (?, 'evt_01JGZ60B4W2Y8T6R5Q3P1N9M7K', 0, 'new', ?, ?, ?, ?, ?, 0, 0, 0)`,
    );
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    const json = Buffer.from('{"id":"evt_01JGZ60B4W2Y8T6R5Q3P1N9M7K","rev":0,"type":"new"}');
    ins.run('event', 0, 'acked', Buffer.alloc(0), json.length, sha(json));
    ins.run('thumbnail', 2, 'pending', jpg, jpg.length, sha(jpg));
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    db.close();
    const ob = outbox();
    const t = ref('thumbnail', 'evt_01JGZ60B4W2Y8T6R5Q3P1N9M7K', 0);
    expect(ob.get(t)!.state).toBe('pending');
    expect(ob.body(t)!.equals(jpg)).toBe(true);
    expect(ob.stats().liveBytes).toBe(jpg.length + ROW_OVERHEAD_BYTES);
    expect(ob.claim({ kind: 'thumbnail', limit: 1, leaseMs: 1000 })[0]!.body.equals(jpg)).toBe(true);
    ob.ack([t]);
    expect(ob.body(t)!.length).toBe(0);
    ob.close();
    const check = new Database(p, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(OUTBOX_SCHEMA_VERSION);
    expect((check.prepare('SELECT count(*) AS n FROM bodies').get() as { n: number }).n).toBe(0);
    const names = (
      check.prepare("SELECT name FROM sqlite_schema WHERE type = 'index'").all() as Array<{ name: string }>
    ).map((r) => r.name);
    check.close();
    expect(names).toEqual(expect.arrayContaining(['items_due', 'items_event', 'items_next', 'items_lease']));
  });
});
