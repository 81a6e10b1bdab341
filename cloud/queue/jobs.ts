import { ulid } from '../../shared/ids/index.js';
import { atCommit, type CommitBatch, type SqlDatabase, type SqlExecutor, type SqlValue } from '../db/sql.js';

/**
 * The job table, in the collector's own database (table `jobs`, cloud/db/migrations.ts). One job per
 * (kind, event id): enqueueing twice is a no-op, so the ingest path can enqueue in the same transaction that
 * stores the event, or right after it, without ever doubling work.
 *
 *   pending ──claim──▶ running ──complete──▶ done
 *      ▲                 │ fail (attempts < max): pending, run_at = now + backoff
 *      └── snooze ───────┤ fail (attempts = max): dead (dead letter; kept for the API and operators)
 *                        └ lease expired (crash): claimable again by anyone
 *
 * Claiming is one UPDATE … RETURNING over the due rows: on PostgreSQL the inner SELECT takes
 * `FOR UPDATE SKIP LOCKED`, so collectors sharing a database split the work without waiting on each other;
 * SQLite's write transactions are exclusive, which gives the same atomicity.
 */
export type JobState = 'pending' | 'running' | 'done' | 'dead';

export interface Job {
  id: string;
  kind: string;
  eventId: string;
  tenantId: string;
  state: JobState;
  /** Claims so far, including the current one. */
  attempts: number;
  runAt: number;
  leaseOwner: string | null;
  leaseUntil: number | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

interface JobRow {
  id: string;
  kind: string;
  event_id: string;
  tenant_id: string;
  state: JobState;
  attempts: number;
  run_at: number;
  lease_owner: string | null;
  lease_until: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

const COLUMNS =
  'id, kind, event_id, tenant_id, state, attempts, run_at, lease_owner, lease_until, last_error, created_at, ' +
  'updated_at';

const toJob = (r: JobRow): Job => ({
  id: r.id,
  kind: r.kind,
  eventId: r.event_id,
  tenantId: r.tenant_id,
  state: r.state,
  attempts: Number(r.attempts),
  runAt: Number(r.run_at),
  leaseOwner: r.lease_owner,
  leaseUntil: r.lease_until === null ? null : Number(r.lease_until),
  lastError: r.last_error,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

export interface EnqueueInput {
  kind: string;
  eventId: string;
  tenantId: string;
  /** Not before (ms); default now. */
  runAt?: number;
}

/** Longest error text kept on a job. */
const ERROR_MAX = 500;

/** Rows per INSERT of the jobs queued for one commit (well under SQLite's bound on parameters). */
const ENQUEUE_CHUNK = 500;

/** Jobs queued with `enqueueAtCommit`: one multi-row INSERT per commit (a SQLite group merges many requests). */
const ENQUEUED: CommitBatch<{ input: EnqueueInput; now: number }> = {
  async flush(x, items) {
    const seen = new Set<string>();
    const rows: SqlValue[][] = [];
    for (const { input, now } of items) {
      const key = `${input.kind}\n${input.eventId}`;
      if (seen.has(key)) continue;
      seen.add(key);
      rows.push([ulid(now), input.kind, input.eventId, input.tenantId, input.runAt ?? now, now, now]);
    }
    for (let i = 0; i < rows.length; i += ENQUEUE_CHUNK) {
      const chunk = rows.slice(i, i + ENQUEUE_CHUNK);
      const values = chunk.map(() => "(?, ?, ?, ?, 'pending', 0, ?, ?, ?)").join(', ');
      await x.run(
        `INSERT INTO jobs (id, kind, event_id, tenant_id, state, attempts, run_at, created_at, updated_at)
         VALUES ${values} ON CONFLICT (kind, event_id) DO NOTHING`,
        chunk.flat(),
      );
    }
  },
};

export class JobQueue {
  constructor(readonly db: SqlDatabase) {}

  /**
   * Adds a job unless one exists for (kind, event id). Pass the executor of an open transaction to enqueue
   * atomically with the event; true when a job was created.
   */
  async enqueue(input: EnqueueInput, now: number, x: SqlExecutor = this.db): Promise<boolean> {
    const r = await x.run(
      `INSERT INTO jobs (id, kind, event_id, tenant_id, state, attempts, run_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?) ON CONFLICT (kind, event_id) DO NOTHING`,
      [ulid(now), input.kind, input.eventId, input.tenantId, input.runAt ?? now, now, now],
    );
    return r.changes > 0;
  }

  /**
   * `enqueue` in the transaction `x`, written with the other jobs of the same commit in one INSERT just before it
   * commits (SqlExecutor.atCommit; at once where `x` cannot defer). For the ingest path, which needs no answer.
   */
  async enqueueAtCommit(input: EnqueueInput, now: number, x: SqlExecutor): Promise<void> {
    await atCommit(x, ENQUEUED, { input, now });
  }

  /**
   * Makes the job of (kind, id) run (again) for news about its subject (a review item got a new message): creates
   * it, or puts a finished one (done, dead) back to pending due now with its attempts reset, or makes a pending one
   * due now. A running one gets its run_at moved on, so a worker that completes it with `rerunIfWokenAfter` runs it
   * once more (the news came after it read its subject). Pass the executor of an open transaction to re-arm
   * atomically with the news.
   */
  async rearm(input: EnqueueInput, now: number, x: SqlExecutor = this.db): Promise<void> {
    await x.run(
      `INSERT INTO jobs (id, kind, event_id, tenant_id, state, attempts, run_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)
       ON CONFLICT (kind, event_id) DO UPDATE SET
         state = CASE WHEN jobs.state = 'running' THEN 'running' ELSE 'pending' END,
         attempts = CASE WHEN jobs.state IN ('done', 'dead') THEN 0 ELSE jobs.attempts END,
         run_at = CASE WHEN jobs.state = 'running' THEN
                         (CASE WHEN jobs.run_at + 1 > CAST(? AS BIGINT) THEN jobs.run_at + 1 ELSE CAST(? AS BIGINT) END)
                       WHEN jobs.state = 'pending' AND jobs.run_at < CAST(? AS BIGINT) THEN jobs.run_at
                       ELSE CAST(? AS BIGINT) END,
         last_error = CASE WHEN jobs.state IN ('done', 'dead') THEN NULL ELSE jobs.last_error END,
         updated_at = CAST(? AS BIGINT)`,
      [ulid(now), input.kind, input.eventId, input.tenantId, now, now, now, now, now, now, now, now],
    );
  }

  /**
   * Claims up to `limit` due jobs of `kind` for `owner`: pending ones whose run_at has come, and running ones
   * whose lease expired (their collector died). Each claim counts as an attempt.
   */
  async claim(kind: string, owner: string, now: number, leaseMs: number, limit: number): Promise<Job[]> {
    const lock = this.db.dialect === 'postgres' ? ' FOR UPDATE SKIP LOCKED' : '';
    return this.db.tx(async (x) => {
      const rows = await x.all<JobRow>(
        `UPDATE jobs SET state = 'running', lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
         WHERE id IN (
           SELECT id FROM jobs
           WHERE kind = ? AND ((state = 'pending' AND run_at <= ?) OR (state = 'running' AND lease_until <= ?))
           ORDER BY run_at, id LIMIT ?${lock}
         )
         RETURNING ${COLUMNS}`,
        [owner, now + leaseMs, now, kind, now, now, limit],
      );
      return rows.map(toJob).sort((a, b) => a.runAt - b.runAt || a.id.localeCompare(b.id));
    });
  }

  /** Extends a lease; false when the job is no longer ours (lease expired and reclaimed, or finished). */
  async renew(id: string, owner: string, now: number, leaseMs: number): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ? AND lease_owner = ? AND state = 'running'`,
      [now + leaseMs, now, id, owner],
    );
    return r.changes > 0;
  }

  /**
   * Marks a job done; false when it was not ours any more. With `rerunIfWokenAfter` (the run_at the job was claimed
   * with): when rearm() or wake() moved its run_at past that while it ran, it goes back to pending instead, due then.
   */
  async complete(
    id: string,
    owner: string,
    now: number,
    x: SqlExecutor = this.db,
    rerunIfWokenAfter?: number,
  ): Promise<boolean> {
    const woken = rerunIfWokenAfter ?? Number.MAX_SAFE_INTEGER;
    const r = await x.run(
      `UPDATE jobs SET state = CASE WHEN run_at > CAST(? AS BIGINT) THEN 'pending' ELSE 'done' END,
              lease_owner = NULL, lease_until = NULL, last_error = NULL, updated_at = ?` +
        ` WHERE id = ? AND lease_owner = ? AND state = 'running'`,
      [woken, now, id, owner],
    );
    return r.changes > 0;
  }

  /**
   * Records a failed attempt: back to pending at `retryAt`, or dead when `attempts` reached `maxAttempts`.
   * Returns the new state, or null when the job was not ours any more.
   */
  async fail(
    job: Job,
    owner: string,
    error: string,
    now: number,
    retryAt: number,
    maxAttempts: number,
  ): Promise<JobState | null> {
    const dead = job.attempts >= maxAttempts;
    const r = await this.db.run(
      `UPDATE jobs SET state = ?, run_at = ?, lease_owner = NULL, lease_until = NULL, last_error = ?, updated_at = ?
       WHERE id = ? AND lease_owner = ? AND state = 'running'`,
      [dead ? 'dead' : 'pending', dead ? job.runAt : retryAt, error.slice(0, ERROR_MAX), now, job.id, owner],
    );
    return r.changes > 0 ? (dead ? 'dead' : 'pending') : null;
  }

  /**
   * Puts a job back without counting the attempt: waiting for something (a thumbnail) or this collector is
   * shutting down. `note` (if given) becomes last_error so the API shows why it waits. If wake() came while the job
   * ran (its run_at moved past `job.runAt`), the job is due at once instead: what it waited for has arrived.
   */
  async snooze(
    job: Pick<Job, 'id' | 'runAt'>,
    owner: string,
    runAt: number,
    now: number,
    note: string | null = null,
  ): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE jobs SET state = 'pending', run_at = CASE WHEN run_at > CAST(? AS BIGINT) THEN CAST(? AS BIGINT)
                ELSE CAST(? AS BIGINT) END,
              attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
              lease_owner = NULL, lease_until = NULL, last_error = COALESCE(?, last_error), updated_at = ?
       WHERE id = ? AND lease_owner = ? AND state = 'running'`,
      [job.runAt, now, runAt, note, now, job.id, owner],
    );
    return r.changes > 0;
  }

  /**
   * Something a job of this event waits for has arrived (e.g. its thumbnail): a pending job becomes due now; a
   * running one gets its run_at moved on, which its snooze() then honours (no wake is lost to that race).
   */
  async wake(kind: string, eventId: string, now: number): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE jobs SET run_at = CASE WHEN state = 'running' THEN (CASE WHEN run_at + 1 > CAST(? AS BIGINT)
                THEN run_at + 1 ELSE CAST(? AS BIGINT) END) ELSE CAST(? AS BIGINT) END,
              updated_at = ?
       WHERE kind = ? AND event_id = ? AND ((state = 'pending' AND run_at > ?) OR state = 'running')`,
      [now, now, now, now, kind, eventId, now],
    );
    return r.changes > 0;
  }

  /** Sends a dead job around again (operator action): pending, attempts reset. */
  async revive(kind: string, eventId: string, now: number): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE jobs SET state = 'pending', attempts = 0, run_at = ?, updated_at = ? WHERE kind = ?` +
        ` AND event_id = ? AND state = 'dead'`,
      [now, now, kind, eventId],
    );
    return r.changes > 0;
  }

  /** Deletes finished (done) jobs last touched before `before`; returns how many. Dead letters stay. */
  async purgeDone(kind: string, before: number): Promise<number> {
    return (await this.db.run(`DELETE FROM jobs WHERE kind = ? AND state = 'done' AND updated_at < ?`, [kind, before]))
      .changes;
  }

  async get(kind: string, eventId: string): Promise<Job | undefined> {
    const r = await this.db.get<JobRow>(`SELECT ${COLUMNS} FROM jobs WHERE kind = ? AND event_id = ?`, [kind, eventId]);
    return r ? toJob(r) : undefined;
  }

  async counts(kind: string): Promise<Record<JobState, number>> {
    const rows = await this.db.all<{ state: JobState; n: number }>(
      'SELECT state, COUNT(*) AS n FROM jobs WHERE kind = ? GROUP BY state',
      [kind],
    );
    const out: Record<JobState, number> = { pending: 0, running: 0, done: 0, dead: 0 };
    for (const r of rows) out[r.state] = Number(r.n);
    return out;
  }

  /** Earliest run_at of a pending job (for the worker's sleep), or null. */
  async nextDue(kind: string): Promise<number | null> {
    const r = await this.db.get<{ t: number | null }>(
      `SELECT MIN(CASE WHEN state = 'pending' THEN run_at ELSE lease_until END) AS t FROM jobs WHERE kind = ?` +
        ` AND state IN ('pending', 'running')`,
      [kind],
    );
    return r?.t === null || r?.t === undefined ? null : Number(r.t);
  }
}
