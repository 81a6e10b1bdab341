import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_URL } from '../../shared/testing/index.js';
import { queueConfig } from '../queue/config.js';
import { JobQueue, type Job } from '../queue/jobs.js';
import { JobWorker, type JobHandler } from '../queue/worker.js';
import { migrate, MIGRATIONS } from '../db/index.js';
import { openPostgres } from '../db/postgres.js';
import type { SqlDatabase } from '../db/sql.js';
import { openSqlite } from '../db/sqlite.js';
import { dropSchema, testBackends } from './support/backends.js';

/**
 * The work queue on both databases: idempotent enqueue (also inside the event's transaction, or at its commit with
 * the other jobs of that commit), atomic claims
 * split between workers, leases (renewal, expiry, reclaim), retries with backoff, dead letters, and the worker
 * (concurrency, crash = abandoned lease reclaimed by another worker).
 */
interface QueueDb {
  /** Two connections to the same database, as two collectors would have. */
  a: SqlDatabase;
  b: SqlDatabase;
  cleanup(): Promise<void>;
}

const backends = await testBackends();

async function openQueueDb(name: 'sqlite' | 'postgres'): Promise<QueueDb> {
  // The store's migrations include the queue tables.
  const all = MIGRATIONS;
  if (name === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-queue-'));
    const a = openSqlite({ path: join(dir, 'vigil.db') });
    await migrate(a, all);
    const b = openSqlite({ path: join(dir, 'vigil.db') });
    return {
      a,
      b,
      async cleanup() {
        await a.close();
        await b.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const schema = `vigil_queue_${randomBytes(5).toString('hex')}`;
  const a = await openPostgres({ url: POSTGRES_URL, schema, poolMax: 4 });
  await migrate(a, all);
  const b = await openPostgres({ url: POSTGRES_URL, schema, poolMax: 4 });
  return {
    a,
    b,
    async cleanup() {
      await a.close();
      await b.close();
      await dropSchema(schema);
    },
  };
}

const KIND = 'notify';
const cfg = (over: Record<string, unknown> = {}) =>
  queueConfig({ lease: '300ms', poll: '50ms', backoff_base: '30ms', backoff_max: '200ms', max_attempts: 3, ...over });

describe.each(backends)('job queue on $name', (backend) => {
  let db: QueueDb;
  let qa: JobQueue;
  let qb: JobQueue;
  beforeAll(async () => {
    db = await openQueueDb(backend.name);
    qa = new JobQueue(db.a);
    qb = new JobQueue(db.b);
  });
  afterAll(async () => {
    await db.cleanup();
  });
  let n = 0;
  const evt = (): string => `evt_${backend.name}_${Date.now()}_${++n}`;

  it('enqueue is idempotent per (kind, event id)', async () => {
    const id = evt();
    const now = Date.now();
    expect(await qa.enqueue({ kind: KIND, eventId: id, tenantId: 'default' }, now)).toBe(true);
    expect(await qb.enqueue({ kind: KIND, eventId: id, tenantId: 'default' }, now)).toBe(false);
    expect(await qa.enqueue({ kind: 'other', eventId: id, tenantId: 'default' }, now)).toBe(true);
    const job = await qa.get(KIND, id);
    expect(job).toMatchObject({ state: 'pending', attempts: 0, eventId: id, tenantId: 'default' });
  });

  it('enqueue inside a transaction commits and rolls back with it', async () => {
    const kept = evt();
    const lost = evt();
    await db.a.tx((x) => qa.enqueue({ kind: 'tx', eventId: kept, tenantId: 't' }, Date.now(), x));
    await expect(
      db.a.tx(async (x) => {
        await qa.enqueue({ kind: 'tx', eventId: lost, tenantId: 't' }, Date.now(), x);
        throw new Error('event store failed');
      }),
    ).rejects.toThrow('event store failed');
    expect(await qa.get('tx', kept)).toBeDefined();
    expect(await qa.get('tx', lost)).toBeUndefined();
  });

  it('enqueueAtCommit: the jobs of concurrent transactions in one INSERT, none of a failed one', async () => {
    const ids = [evt(), evt(), evt()];
    const existing = evt();
    await qa.enqueue({ kind: 'grp', eventId: existing, tenantId: 't' }, Date.now());
    const results = await Promise.allSettled(
      ids.map((id, i) =>
        db.a.tx(async (x) => {
          await qa.enqueueAtCommit({ kind: 'grp', eventId: id, tenantId: 't' }, Date.now(), x);
          await qa.enqueueAtCommit({ kind: 'grp', eventId: existing, tenantId: 't' }, Date.now(), x);
          if (i === 1) throw new Error('event store failed');
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await qa.get('grp', ids[0]!)).toMatchObject({ state: 'pending', tenantId: 't' });
    expect(await qa.get('grp', ids[1]!)).toBeUndefined();
    expect(await qa.get('grp', ids[2]!)).toMatchObject({ state: 'pending' });
    expect((await qa.counts('grp')).pending).toBe(3);
  });

  it('two collectors claiming at once split the due jobs without overlap', async () => {
    const kind = `split_${n}`;
    const now = Date.now();
    const ids = Array.from({ length: 30 }, () => evt());
    for (const id of ids) await qa.enqueue({ kind, eventId: id, tenantId: 'default' }, now);
    const claimed: Job[][] = [[], []];
    await Promise.all(
      [qa, qb].map(async (q, i) => {
        for (let round = 0; round < 10; round++)
          claimed[i]!.push(...(await q.claim(kind, `owner${i}`, Date.now(), 60_000, 4)));
      }),
    );
    const a = claimed[0]!.map((j) => j.eventId);
    const b = claimed[1]!.map((j) => j.eventId);
    expect(a.filter((x) => b.includes(x))).toEqual([]);
    expect([...a, ...b].sort()).toEqual([...ids].sort());
    expect(claimed.flat().every((j) => j.state === 'running' && j.attempts === 1)).toBe(true);
  });

  it('a job not yet due is not claimed', async () => {
    const kind = `due_${n}`;
    const now = Date.now();
    await qa.enqueue({ kind, eventId: evt(), tenantId: 'default', runAt: now + 60_000 }, now);
    expect(await qa.claim(kind, 'o', now, 1000, 10)).toEqual([]);
    expect(await qa.nextDue(kind)).toBe(now + 60_000);
  });

  it('an expired lease is reclaimed by another owner; the first owner can no longer finish it', async () => {
    const kind = `lease_${n}`;
    const id = evt();
    const t0 = Date.now();
    await qa.enqueue({ kind, eventId: id, tenantId: 'default' }, t0);
    const [first] = await qa.claim(kind, 'dead-collector', t0, 1000, 1);
    expect(first).toBeDefined();
    // Still leased: nobody else gets it.
    expect(await qb.claim(kind, 'live-collector', t0 + 500, 1000, 1)).toEqual([]);
    // Renewal moves the lease on.
    expect(await qa.renew(first!.id, 'dead-collector', t0 + 900, 1000)).toBe(true);
    expect(await qb.claim(kind, 'live-collector', t0 + 1500, 1000, 1)).toEqual([]);
    // The owner stops renewing (crash): after expiry the job moves on, as attempt 2.
    const [again] = await qb.claim(kind, 'live-collector', t0 + 1901, 1000, 1);
    expect(again).toMatchObject({ eventId: id, attempts: 2, leaseOwner: 'live-collector' });
    expect(await qa.complete(first!.id, 'dead-collector', t0 + 2000)).toBe(false);
    expect(await qa.renew(first!.id, 'dead-collector', t0 + 2000, 1000)).toBe(false);
    expect(await qb.complete(again!.id, 'live-collector', t0 + 2000)).toBe(true);
    expect((await qa.get(kind, id))!.state).toBe('done');
  });

  it('failures back off, then dead-letter after max attempts; snooze does not count', async () => {
    const kind = `fail_${n}`;
    const id = evt();
    let t = Date.now();
    await qa.enqueue({ kind, eventId: id, tenantId: 'default' }, t);
    let [job] = await qa.claim(kind, 'o', t, 1000, 1);
    expect(await qa.snooze(job!, 'o', t + 100, t, 'waiting for thumbnail')).toBe(true);
    expect(await qa.get(kind, id)).toMatchObject({
      state: 'pending',
      attempts: 0,
      runAt: t + 100,
      lastError: 'waiting for thumbnail',
    });
    expect(await qa.wake(kind, id, t)).toBe(true);
    [job] = await qa.claim(kind, 'o', t, 1000, 1);
    expect(await qa.fail(job!, 'o', 'llm down', t, t + 500, 2)).toBe('pending');
    expect(await qa.claim(kind, 'o', t + 499, 1000, 1)).toEqual([]);
    t += 500;
    [job] = await qa.claim(kind, 'o', t, 1000, 1);
    expect(job!.attempts).toBe(2);
    expect(await qa.fail(job!, 'o', 'still down', t, t + 500, 2)).toBe('dead');
    expect(await qa.get(kind, id)).toMatchObject({ state: 'dead', attempts: 2, lastError: 'still down' });
    expect(await qa.claim(kind, 'o', t + 10_000, 1000, 1)).toEqual([]);
    expect(await qa.counts(kind)).toMatchObject({ dead: 1 });
    expect(await qa.revive(kind, id, t)).toBe(true);
    expect(await qa.get(kind, id)).toMatchObject({ state: 'pending', attempts: 0 });
  });

  it('a wake that lands while the job runs is not lost: the following snooze makes it due at once', async () => {
    const kind = `wake_${n}`;
    const id = evt();
    const t = Date.now();
    await qa.enqueue({ kind, eventId: id, tenantId: 'default' }, t);
    const [job] = await qa.claim(kind, 'o', t, 10_000, 1);
    expect(await qb.wake(kind, id, t)).toBe(true); // e.g. the thumbnail arrived on another collector
    expect(await qa.snooze(job!, 'o', t + 60_000, t + 5, 'waiting for the thumbnail')).toBe(true);
    expect(await qa.get(kind, id)).toMatchObject({ state: 'pending', runAt: t + 5, attempts: 0 });
    // Without a wake, the snooze holds.
    const [again] = await qa.claim(kind, 'o', t + 5, 10_000, 1);
    expect(await qa.snooze(again!, 'o', t + 60_000, t + 6)).toBe(true);
    expect((await qa.get(kind, id))!.runAt).toBe(t + 60_000);
  });

  it('rearm: creates, reopens a finished job, makes a waiting one due; a rerun follows a run it hit', async () => {
    const id = evt();
    const t = Date.now();
    const input = (kind: string) => ({ kind, eventId: id, tenantId: 'default' });
    await qa.rearm(input(`rearm_new_${n}`), t);
    expect(await qa.get(`rearm_new_${n}`, id)).toMatchObject({ state: 'pending', runAt: t, attempts: 0 });
    // A dead job (and a done one) runs again, attempts reset.
    const dead = `rearm_dead_${n}`;
    await qa.enqueue(input(dead), t);
    const [f] = await qa.claim(dead, 'o', t, 10_000, 1);
    await qa.fail(f!, 'o', 'gave up', t, t, 1);
    expect((await qa.get(dead, id))!.state).toBe('dead');
    await qb.rearm(input(dead), t + 10);
    expect(await qa.get(dead, id)).toMatchObject({ state: 'pending', runAt: t + 10, attempts: 0, lastError: null });
    // A job snoozed into the future is due now.
    const waiting = `rearm_wait_${n}`;
    await qa.enqueue(input(waiting), t + 60_000);
    await qa.rearm(input(waiting), t + 20);
    expect((await qa.get(waiting, id))!.runAt).toBe(t + 20);
    // A running job: completing it with rerunIfWokenAfter leaves it pending; without news it is done.
    const running = `rearm_run_${n}`;
    await qa.enqueue(input(running), t);
    const [r] = await qa.claim(running, 'o', t, 10_000, 1);
    await qb.rearm(input(running), t + 30);
    expect((await qa.get(running, id))!.state).toBe('running');
    expect(await qa.complete(r!.id, 'o', t + 40, undefined, r!.runAt)).toBe(true);
    expect(await qa.get(running, id)).toMatchObject({ state: 'pending', runAt: t + 30 });
    const [again] = await qa.claim(running, 'o', t + 50, 10_000, 1);
    expect(await qa.complete(again!.id, 'o', t + 60, undefined, again!.runAt)).toBe(true);
    expect((await qa.get(running, id))!.state).toBe('done');
  });

  it('finished jobs older than keep_done are purged; dead letters and recent ones stay', async () => {
    const kind = `purge_${n}`;
    const [old, recent, dead] = [evt(), evt(), evt()];
    const t = Date.now();
    for (const id of [old, recent, dead])
      await qa.enqueue({ kind, eventId: id, tenantId: 'default' }, t - 10 * 86_400_000);
    for (const j of await qa.claim(kind, 'o', t, 1000, 3)) {
      if (j.eventId === old) await qa.complete(j.id, 'o', t - 8 * 86_400_000);
      if (j.eventId === recent) await qa.complete(j.id, 'o', t - 1000);
      if (j.eventId === dead) await qa.fail(j, 'o', 'gave up', t - 8 * 86_400_000, t, 1);
    }
    const worker = new JobWorker({ queue: qa, kind, handler: async () => undefined, config: cfg({ keep_done: '7d' }) });
    expect(await worker.purge()).toBe(1);
    expect(await qa.get(kind, old)).toBeUndefined();
    expect(await qa.get(kind, recent)).toMatchObject({ state: 'done' });
    expect(await qa.get(kind, dead)).toMatchObject({ state: 'dead' });
  });

  it('worker: runs jobs with bounded concurrency, retries throws, dead-letters', async () => {
    const kind = `work_${n}`;
    let inFlight = 0;
    let maxInFlight = 0;
    const runs = new Map<string, number>();
    const poison = evt();
    const handler: JobHandler = async ({ job }) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      runs.set(job.eventId, (runs.get(job.eventId) ?? 0) + 1);
      await sleep(20);
      inFlight--;
      if (job.eventId === poison) throw new Error('cannot be done');
    };
    const worker = new JobWorker({ queue: qa, kind, handler, config: cfg({ concurrency: 3 }) });
    worker.start();
    const ids = Array.from({ length: 12 }, () => evt());
    for (const id of [...ids, poison]) await qa.enqueue({ kind, eventId: id, tenantId: 'default' }, Date.now());
    worker.kick();
    await waitFor(async () => (await qa.counts(kind)).done === 12 && (await qa.counts(kind)).dead === 1);
    await worker.stop();
    expect(maxInFlight).toBeLessThanOrEqual(3);
    expect(ids.every((id) => runs.get(id) === 1)).toBe(true);
    expect(runs.get(poison)).toBe(3);
    expect(await qa.get(kind, poison)).toMatchObject({ state: 'dead', lastError: 'cannot be done' });
  });

  it('worker crash mid-job: another worker reclaims after the lease and finishes it once', async () => {
    const kind = `crash_${n}`;
    const id = evt();
    const started: string[] = [];
    const finished: string[] = [];
    const slow: JobHandler = async ({ signal }) => {
      started.push('a');
      await sleep(60_000, undefined, { signal }).catch(() => undefined);
      throw new Error('aborted');
    };
    const a = new JobWorker({ queue: qa, kind, handler: slow, config: cfg(), owner: 'a' });
    await qa.enqueue({ kind, eventId: id, tenantId: 'default' }, Date.now());
    a.start();
    await waitFor(async () => started.length === 1);
    await a.stop({ abandon: true }); // as if the process died: the row stays running, leased to a
    expect(await qa.get(kind, id)).toMatchObject({ state: 'running', leaseOwner: 'a' });
    const b = new JobWorker({
      queue: qb,
      kind,
      handler: async ({ job }) => {
        finished.push(`${job.leaseOwner}:${job.attempts}`);
      },
      config: cfg(),
      owner: 'b',
    });
    b.start();
    await waitFor(async () => (await qb.get(kind, id))?.state === 'done');
    await b.stop();
    expect(finished).toEqual(['b:2']);
  });

  it('worker keeps its lease while a job runs longer than the lease', async () => {
    const kind = `renew_${n}`;
    const id = evt();
    let runs = 0;
    const a = new JobWorker({
      queue: qa,
      kind,
      handler: async () => {
        runs++;
        await sleep(1000); // > 3 leases of 300 ms
      },
      config: cfg(),
      owner: 'a',
    });
    const b = new JobWorker({ queue: qb, kind, handler: async () => void runs++, config: cfg(), owner: 'b' });
    await qa.enqueue({ kind, eventId: id, tenantId: 'default' }, Date.now());
    a.start();
    await waitFor(async () => runs === 1);
    b.start();
    await waitFor(async () => (await qa.get(kind, id))?.state === 'done');
    await Promise.all([a.stop(), b.stop()]);
    expect(runs).toBe(1);
  });

  it('graceful stop puts an unfinished job back without counting the attempt', async () => {
    const kind = `stop_${n}`;
    const id = evt();
    let started = false;
    const a = new JobWorker({
      queue: qa,
      kind,
      handler: async ({ signal }) => {
        started = true;
        await sleep(60_000, undefined, { signal });
      },
      config: cfg(),
    });
    await qa.enqueue({ kind, eventId: id, tenantId: 'default' }, Date.now());
    a.start();
    await waitFor(async () => started);
    await a.stop({ waitMs: 50 });
    expect(await qa.get(kind, id)).toMatchObject({ state: 'pending', attempts: 0, leaseOwner: null });
  });
});

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(20);
  }
}
