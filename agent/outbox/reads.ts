import type { Statement } from 'better-sqlite3';
import type { ListOptions, OutboxStats, StateCounts } from './api.js';
import { readDiskState } from './disk-state.js';
import type { OutboxFile } from './file.js';
import { COLUMNS, toItem, type Row } from './rows.js';
import type { ItemKind, ItemRef, ItemState, OutboxItem } from './types.js';

const t = (row: unknown): number | null => (row as { t: number | null }).t;

/**
 * Reading the outbox: what is due next, depth, single items and their bodies, listings, counters and the stats
 * that `outbox stats`, `status`, heartbeats and doctor show. Nothing here writes, so all of it works on a file
 * opened read-only. Records held in memory on a full disk (`held()`) count as pending.
 */
export class OutboxReads {
  private readonly st: Record<'getRef' | 'inFlight' | 'inFlightOf' | 'thumbFor' | 'nextDue' | 'nextLease', Statement>;

  constructor(
    private readonly file: OutboxFile,
    private readonly budgetBytes: number,
    private readonly held: () => number,
  ) {
    const db = file.db;
    this.st = {
      getRef: db.prepare(`SELECT ${COLUMNS} FROM items WHERE kind = ? AND event_id = ? AND rev = ?`),
      inFlight: db.prepare("SELECT count(*) AS n FROM items WHERE state = 'in_flight'"),
      inFlightOf: db.prepare("SELECT count(*) AS n FROM items WHERE state = 'in_flight' AND kind = ?"),
      thumbFor: db.prepare(
        `SELECT rev FROM items WHERE kind = 'thumbnail' AND event_id = ? AND state IN ('in_flight','pending','dead')
          ORDER BY state = 'in_flight' DESC, rev DESC LIMIT 1`,
      ),
      nextDue: db.prepare("SELECT min(next_attempt_at) AS t FROM items WHERE state = 'pending'"),
      nextLease: db.prepare("SELECT min(lease_until) AS t FROM items WHERE state = 'in_flight'"),
    };
  }

  nextWakeAt(): number | null {
    const due = t(this.st.nextDue.get());
    const lease = t(this.st.nextLease.get());
    if (due === null) return lease;
    if (lease === null) return due;
    return Math.min(due, lease);
  }

  depth(): number {
    return this.file.totals().items + this.held();
  }

  inFlightCount(kind?: ItemKind): number {
    const row = kind === undefined ? this.st.inFlight.get() : this.st.inFlightOf.get(kind);
    return (row as { n: number }).n;
  }

  refForAck(kind: ItemKind, eventId: string, rev: number): ItemRef | undefined {
    if (kind !== 'thumbnail') return { kind, eventId, rev };
    const r = this.st.thumbFor.get(eventId) as { rev: number } | undefined;
    return r ? { kind, eventId, rev: r.rev } : undefined;
  }

  get(ref: ItemRef): OutboxItem | undefined {
    const r = this.st.getRef.get(ref.kind, ref.eventId, ref.rev) as Row | undefined;
    return r ? toItem(r) : undefined;
  }

  body(ref: ItemRef): Buffer | undefined {
    const r = this.file.db
      .prepare(
        `SELECT b.body AS body FROM items i LEFT JOIN bodies b ON b.seq = i.seq
          WHERE i.kind = ? AND i.event_id = ? AND i.rev = ?`,
      )
      .get(ref.kind, ref.eventId, ref.rev) as { body: Buffer | null } | undefined;
    return r === undefined ? undefined : (r.body ?? Buffer.alloc(0));
  }

  list(o: ListOptions = {}): OutboxItem[] {
    const states = o.states ?? ['pending', 'in_flight', 'dead'];
    const params: unknown[] = [...states];
    let sql = `SELECT ${COLUMNS} FROM items WHERE state IN (${states.map(() => '?').join(',')})`;
    if (o.kind) {
      sql += ' AND kind = ?';
      params.push(o.kind);
    }
    sql += ' ORDER BY seq LIMIT ?';
    params.push(o.limit ?? 100);
    return (this.file.db.prepare(sql).all(...params) as Row[]).map(toItem);
  }

  stateCounts(kind?: ItemKind): StateCounts {
    const db = this.file.db;
    const c: StateCounts = { pending: 0, in_flight: 0, acked: 0, dead: 0, dropped: 0 };
    const rows = (
      kind
        ? db.prepare('SELECT state, count(*) AS n FROM items WHERE kind = ? GROUP BY state').all(kind)
        : db.prepare('SELECT state, count(*) AS n FROM items GROUP BY state').all()
    ) as Array<{ state: ItemState; n: number }>;
    for (const r of rows) c[r.state] = r.n;
    return c;
  }

  counters(): Record<string, number> {
    const out: Record<string, number> = {};
    const rows = this.file.db.prepare('SELECT name, value FROM counters ORDER BY name').all();
    for (const r of rows as Array<{ name: string; value: number }>) out[r.name] = r.value;
    return this.file.pending.merge(out);
  }

  stats(): OutboxStats {
    const db = this.file.db;
    const now = this.file.clock.now();
    const total = this.stateCounts();
    const counters = this.counters();
    const live = "state IN ('pending','in_flight','dead')";
    const oldest = t(db.prepare(`SELECT min(created_at) AS t FROM items WHERE ${live}`).get());
    const backingOff = db.prepare("SELECT count(*) AS n FROM items WHERE state = 'pending' AND next_attempt_at > ?");
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const pages = db.pragma('page_count', { simple: true }) as number;
    const dropped =
      Object.entries(counters)
        .filter(([k]) => k.startsWith('dropped.'))
        .reduce((n, [, v]) => n + v, 0) +
      (counters['refused.outbox_full'] ?? 0) +
      (counters['lost.disk_full'] ?? 0);
    const disk = readDiskState(this.file.path);
    // Records held in memory are pending too (waiting to be sent): `--exit-when-idle` and depth count them.
    const held = this.held();
    total.pending += held;
    const events = this.stateCounts('event');
    events.pending += held;
    return {
      path: this.file.path,
      total,
      byKind: {
        event: events,
        thumbnail: this.stateCounts('thumbnail'),
        review: this.stateCounts('review'),
        result: this.stateCounts('result'),
      },
      depth: total.pending + total.in_flight + total.dead,
      backingOff: (backingOff.get(now) as { n: number }).n,
      oldestPendingAgeMs: oldest === null ? null : Math.max(0, now - oldest),
      liveBytes: this.file.totals().bytes,
      budgetBytes: this.budgetBytes,
      fileBytes: pageSize * pages,
      counters,
      dropped,
      diskFull: disk.full,
      refused: { disk_full: counters['refused.disk_full'] ?? 0, outbox_full: counters['refused.outbox_full'] ?? 0 },
      thumbnailsSkipped: counters.thumbnails_skipped ?? 0,
      held,
      reserve: disk.reserve,
      freeBytes: disk.freeBytes,
      nextDueAt: t(this.st.nextDue.get()),
    };
  }
}
