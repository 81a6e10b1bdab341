import type { OutboxStats } from '../outbox/index.js';
import type { DaemonStatus } from './schema.js';

/** Event messages the daemon's EventSink handed to the outbox since the start (daemon/event-sink.ts counts them). */
export interface SinkCounts {
  accepted: number;
  refused: number;
}

/** The outbox part of `GET /status`, from the same stats `outbox stats` and heartbeats use. */
export function outboxStatusOf(o: OutboxStats, sink: SinkCounts): DaemonStatus['outbox'] {
  return {
    path: o.path,
    depth: o.depth,
    pending: o.total.pending,
    in_flight: o.total.in_flight,
    dead: o.total.dead,
    oldest_pending_age_s: o.oldestPendingAgeMs === null ? null : o.oldestPendingAgeMs / 1000,
    dropped: o.dropped,
    live_bytes: o.liveBytes,
    budget_bytes: o.budgetBytes,
    disk_full: o.diskFull,
    disk_free_bytes: o.freeBytes,
    reserve: o.reserve,
    held: o.held,
    refused: { disk_full: o.refused.disk_full, outbox_full: o.refused.outbox_full },
    thumbnails_skipped: o.thumbnailsSkipped,
    accepted_since_start: sink.accepted,
    refused_since_start: sink.refused,
  };
}
