import type { SqlDatabase, SqlValue } from '../db/sql.js';

/**
 * No event left open, on the collector: the events of a box that went quiet or restarted are ended by the
 * collector itself, with `end_reason = 'device_lost'`, once the quiet time (`events.lost_after`) has passed.
 *
 * - Offline: no verified message from the box (heartbeat or upload) for the quiet time → every active event of it.
 * - Restarted: the box's heartbeats carry a new boot id, first seen at least the quiet time ago → its active events
 *   that were first stored before the new run started (collector time of the heartbeat minus its uptime). The
 *   box's own agent ends those itself at start (`agent_restart`); this catches boxes that do not.
 *
 * `ended_at` is the event's last message time: the collector time its last message arrived, moved onto the box's
 * clock by the box's last known clock skew (started_at is box time), and never before started_at. `last_rev` and the
 * stored message stay as the box sent them: the collector invents no rev, so a box `end` arriving later is simply
 * the next rev of an ended event (accepted, its reason replaces device_lost; see event-apply.ts).
 *
 * Safe with several collectors on one database: each end is one `UPDATE … WHERE status = 'active'` (idempotent;
 * on PostgreSQL the row lock makes the second collector see the row ended and change nothing), one row per
 * statement, so a sweep never holds locks on many events at once against an ingest batch.
 */

/** End reasons the API shows: the three a box sends, and the collector's own. */
export const END_REASONS = ['left', 'agent_stop', 'agent_restart', 'device_lost'] as const;
export type EndReason = (typeof END_REASONS)[number];

export function endReasonOf(value: unknown): EndReason | null {
  return typeof value === 'string' && (END_REASONS as readonly string[]).includes(value) ? (value as EndReason) : null;
}

export interface LostEventEnd {
  tenantId: string;
  deviceId: string;
  eventId: string;
  endedAt: number;
  /** offline: the box went quiet; restarted: a new boot id, and this event is from before it. */
  why: 'offline' | 'restarted';
}

interface Candidate {
  id: string;
  tenant_id: string;
  device_id: string;
  started_at: number | string;
  last_at: number | string | null;
  created_at: number | string;
  skew: number | string | null;
  offline: number | boolean | string;
}

const truthy = (v: number | boolean | string): boolean => [true, 1, '1', 't', 'true'].includes(v);

/**
 * Ends (at most `limit`) events left open by boxes that went quiet or restarted at least `lostAfterMs` before
 * `now`. Returns what THIS call ended (another collector's sweep may end the rest).
 */
export async function endLostEvents(
  db: SqlDatabase,
  o: { now: number; lostAfterMs: number; limit?: number },
): Promise<LostEventEnd[]> {
  const cutoff = o.now - o.lostAfterMs;
  const params: SqlValue[] = [cutoff, cutoff, cutoff, o.limit ?? 500];
  const rows = await db.all<Candidate>(
    `SELECT e.id, e.tenant_id, e.device_id, e.started_at, e.created_at, s.clock_skew_ms AS skew,
            (SELECT MAX(m.received_at) FROM event_messages m
              WHERE m.device_id = e.device_id AND m.event_id = e.id) AS last_at,
            CASE WHEN s.last_seen_at IS NOT NULL AND s.last_seen_at <= ? THEN 1 ELSE 0 END AS offline
       FROM events e JOIN device_status s ON s.device_id = e.device_id
      WHERE e.status = 'active'
        AND ((s.last_seen_at IS NOT NULL AND s.last_seen_at <= ?)
             OR (s.boot_seen_at IS NOT NULL AND s.boot_seen_at <= ? AND e.created_at < s.boot_started_at))
      ORDER BY e.id LIMIT ?`,
    params,
  );
  const ended: LostEventEnd[] = [];
  for (const r of rows) {
    const startedAt = Number(r.started_at);
    const lastAt = r.last_at === null ? Number(r.created_at) : Number(r.last_at);
    const endedAt = Math.max(startedAt, lastAt + Number(r.skew ?? 0));
    const changed = await db.run(
      `UPDATE events SET status = 'ended', ended_at = ?, duration_ms = ?, end_reason = 'device_lost', updated_at = ?
        WHERE id = ? AND status = 'active'`,
      [endedAt, endedAt - startedAt, o.now, r.id],
    );
    if (changed.changes > 0) {
      const why = truthy(r.offline) ? 'offline' : 'restarted';
      ended.push({ tenantId: r.tenant_id, deviceId: r.device_id, eventId: r.id, endedAt, why });
    }
  }
  return ended;
}
