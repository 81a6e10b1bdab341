import { hostname } from 'node:os';
import { parseDuration, systemClock, type Clock } from '../../shared/clock/index.js';
import { describeError, isVigilError } from '../errors.js';
import { randomToken } from '../../shared/ids/index.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import type { QueueConfig } from './config.js';
import type { Job, JobQueue } from './jobs.js';

/**
 * Runs the jobs of one kind: claims due jobs up to the configured concurrency, renews their leases while they
 * run, and records the outcome. A handler must be idempotent — after a crash its job is claimed again (by this
 * or another collector) once the lease expires, and runs from the start.
 *
 * Handler outcomes: return `done` (or nothing), `snooze` (wait for something, e.g. the thumbnail; the attempt is
 * not counted), `retry` (count the attempt, back off — or dead-letter after max_attempts); a throw is a retry
 * with the error's message. When the lease is lost (renewal fails), the handler's signal aborts.
 */
export type JobOutcome =
  | { kind: 'done' }
  | { kind: 'snooze'; until: number; note?: string }
  | { kind: 'retry'; error: string; retryAfterMs?: number };

export interface JobContext {
  job: Job;
  /** Aborted when the lease is lost or the worker stops. */
  signal: AbortSignal;
}

// biome-ignore lint/suspicious/noConfusingVoidType: returning nothing means done (async => void)
export type JobHandler = (ctx: JobContext) => Promise<JobOutcome | void>;

export interface JobWorkerOptions {
  queue: JobQueue;
  kind: string;
  handler: JobHandler;
  config: QueueConfig;
  /**
   * Run a job again when news came while it ran (JobQueue.rearm / wake moved its run_at): completing it leaves it
   * pending instead of done. For jobs whose subject keeps changing (review items).
   */
  rerunWhenWoken?: boolean;
  /** Lease owner name; unique per worker (default host:pid:random). */
  owner?: string;
  clock?: Clock;
  log?: Logger;
}

interface Active {
  job: Job;
  controller: AbortController;
  done: Promise<void>;
}

export class JobWorker {
  readonly owner: string;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly active = new Map<string, Active>();
  private running = false;
  private loopDone: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private kicked = false;
  private renewTimer: NodeJS.Timeout | null = null;
  private purgeTimer: NodeJS.Timeout | null = null;
  private readonly keepDoneMs: number;

  constructor(private readonly options: JobWorkerOptions) {
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${randomToken(4)}`;
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger();
    this.leaseMs = parseDuration(options.config.lease);
    this.pollMs = parseDuration(options.config.poll);
    this.backoffBaseMs = parseDuration(options.config.backoff_base);
    this.backoffMaxMs = parseDuration(options.config.backoff_max);
    this.keepDoneMs = parseDuration(options.config.keep_done);
  }

  get activeCount(): number {
    return this.active.size;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.renewTimer = setInterval(() => void this.renewAll(), Math.max(50, Math.floor(this.leaseMs / 3)));
    this.renewTimer.unref();
    this.purgeTimer = setInterval(() => void this.purge(), 3_600_000);
    this.purgeTimer.unref();
    void this.purge();
    this.loopDone = this.loop();
  }

  /** Wakes idle workers now (a job was just enqueued or became due). */
  kick(): void {
    this.kicked = true;
    this.wakeUp?.();
  }

  /**
   * Stops claiming. `graceful` (default): lets running jobs finish for up to `waitMs`, then aborts the rest and
   * puts them back (pending, attempt not counted). `abandon`: stops at once and leaves the rows as they are, as a
   * crashed process would (the leases expire and another worker reclaims them) — for tests and fast exits.
   */
  async stop(options: { waitMs?: number; abandon?: boolean } = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.purgeTimer) clearInterval(this.purgeTimer);
    this.wakeUp?.();
    if (options.abandon) {
      for (const a of this.active.values()) a.controller.abort(new Error('worker abandoned'));
      await this.loopDone;
      return;
    }
    const all = Promise.all([...this.active.values()].map((a) => a.done));
    const waitMs = options.waitMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
    for (const a of this.active.values()) a.controller.abort(new Error('worker stopping'));
    await all;
    await this.loopDone;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const free = this.options.config.concurrency - this.active.size;
      let claimed: Job[] = [];
      if (free > 0) {
        try {
          claimed = await this.options.queue.claim(this.options.kind, this.owner, this.clock.now(), this.leaseMs, free);
        } catch (err) {
          this.log.warn({ err: describeError(err) }, 'job claim failed');
        }
        for (const job of claimed) this.launch(job);
      }
      if (!this.running) break;
      if (claimed.length > 0 && claimed.length === free) {
        await new Promise((r) => setImmediate(r)); // maybe more due; yield to I/O first
        continue;
      }
      await this.idle(free > 0 ? await this.sleepHint() : this.pollMs);
    }
  }

  private async sleepHint(): Promise<number> {
    try {
      const next = await this.options.queue.nextDue(this.options.kind);
      if (next === null) return this.pollMs;
      return Math.max(5, Math.min(this.pollMs, next - this.clock.now()));
    } catch {
      return this.pollMs;
    }
  }

  /** Sleeps up to `ms`, or until kick(); a kick that came while busy is consumed at once. */
  private idle(ms: number): Promise<void> {
    if (this.kicked) {
      this.kicked = false;
      return new Promise((r) => setImmediate(r));
    }
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = null;
        this.kicked = false;
        done();
      };
    });
  }

  private launch(job: Job): void {
    const controller = new AbortController();
    const entry: Active = { job, controller, done: Promise.resolve() };
    entry.done = this.runOne(job, controller).finally(() => {
      this.active.delete(job.id);
      this.kick(); // a slot is free
    });
    this.active.set(job.id, entry);
  }

  private async runOne(job: Job, controller: AbortController): Promise<void> {
    const q = this.options.queue;
    const log = this.log.child({ job_id: job.id, event_id: job.eventId, attempt: job.attempts });
    let outcome: JobOutcome;
    let threw = false;
    try {
      outcome = (await this.options.handler({ job, signal: controller.signal })) ?? { kind: 'done' };
    } catch (err) {
      threw = true;
      outcome = {
        kind: 'retry',
        error: describeError(err),
        ...(isVigilError(err) && typeof err.details?.retry_after_ms === 'number'
          ? { retryAfterMs: err.details.retry_after_ms }
          : {}),
      };
    }
    if (controller.signal.aborted) {
      const why = controller.signal.reason instanceof Error ? controller.signal.reason.message : '';
      // Lease lost: the row is someone else's now. Abandoned: leave it as a crashed process would.
      if (why === 'lease lost' || why === 'worker abandoned') return;
      // Stopping, and the handler gave up because of it: back to pending, attempt not counted.
      if (threw) {
        await q.snooze(job, this.owner, this.clock.now(), this.clock.now(), null).catch(() => undefined);
        return;
      }
    }
    const now = this.clock.now();
    try {
      if (outcome.kind === 'done') {
        await q.complete(job.id, this.owner, now, undefined, this.options.rerunWhenWoken ? job.runAt : undefined);
      } else if (outcome.kind === 'snooze') {
        await q.snooze(job, this.owner, outcome.until, now, outcome.note ?? null);
      } else {
        const backoff = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** Math.max(0, job.attempts - 1));
        const retryAt = now + Math.max(backoff, outcome.retryAfterMs ?? 0);
        const state = await q.fail(job, this.owner, outcome.error, now, retryAt, this.options.config.max_attempts);
        if (state === 'dead') log.error({ err: outcome.error }, 'job dead-lettered after max attempts');
        else log.warn({ err: outcome.error, retry_in_ms: retryAt - now }, 'job failed; will retry');
      }
    } catch (err) {
      // The lease expires and the job runs again: handlers are idempotent.
      log.warn({ err: describeError(err) }, 'recording job outcome failed');
    }
  }

  /** Drops finished jobs older than keep_done (hourly, and at start). */
  async purge(): Promise<number> {
    try {
      const n = await this.options.queue.purgeDone(this.options.kind, this.clock.now() - this.keepDoneMs);
      if (n > 0) this.log.info({ deleted: n }, 'finished jobs purged');
      return n;
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'job purge failed');
      return 0;
    }
  }

  private async renewAll(): Promise<void> {
    for (const a of [...this.active.values()]) {
      try {
        const ok = await this.options.queue.renew(a.job.id, this.owner, this.clock.now(), this.leaseMs);
        if (!ok) {
          this.log.warn({ job_id: a.job.id, event_id: a.job.eventId }, 'job lease lost; abandoning it');
          a.controller.abort(new Error('lease lost'));
        }
      } catch (err) {
        this.log.warn({ job_id: a.job.id, err: describeError(err) }, 'job lease renewal failed');
      }
    }
  }
}
