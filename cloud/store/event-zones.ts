import type { SqlExecutor, SqlValue } from '../db/sql.js';
import type { WireObject } from './messages.js';

/**
 * The zones each event entered (table event_zones), for `GET /v1/events?zone=`. An event's `zones` lists every zone
 * its object entered so far and only grows, so each stored message adds what it names and nothing is removed.
 */

/** Zone names an event message lists (Event.zones), or none. */
export function zonesOf(event: WireObject): string[] {
  const z = event.zones;
  return Array.isArray(z) ? z.filter((v): v is string => typeof v === 'string') : [];
}

/** Records the zones a stored message of `eventId` names (in the request's transaction). */
export async function recordEventZones(x: SqlExecutor, eventId: string, event: WireObject): Promise<void> {
  await recordZonesOf(x, [{ eventId, event }]);
}

/** The zones of several stored messages in one statement (none when they name none). */
export async function recordZonesOf(
  x: SqlExecutor,
  stored: readonly { eventId: string; event: WireObject }[],
): Promise<void> {
  const params: SqlValue[] = [];
  for (const { eventId, event } of stored) for (const zone of new Set(zonesOf(event))) params.push(eventId, zone);
  if (params.length === 0) return;
  const values = Array.from({ length: params.length / 2 }, () => '(?, ?)').join(', ');
  await x.run(
    `INSERT INTO event_zones (event_id, zone) VALUES ${values}
     ON CONFLICT (event_id, zone) DO NOTHING`,
    params,
  );
}

/** SQL clause (over events aliased `e`) for "the event entered this zone". */
export const EVENT_IN_ZONE = 'EXISTS (SELECT 1 FROM event_zones z WHERE z.event_id = e.id AND z.zone = ?)';
