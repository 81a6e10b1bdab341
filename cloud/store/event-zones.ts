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
  const zones = [...new Set(zonesOf(event))];
  if (zones.length === 0) return;
  const params: SqlValue[] = [];
  for (const zone of zones) params.push(eventId, zone);
  await x.run(
    `INSERT INTO event_zones (event_id, zone) VALUES ${zones.map(() => '(?, ?)').join(', ')}
     ON CONFLICT (event_id, zone) DO NOTHING`,
    params,
  );
}

/** SQL clause (over events aliased `e`) for "the event entered this zone". */
export const EVENT_IN_ZONE = 'EXISTS (SELECT 1 FROM event_zones z WHERE z.event_id = e.id AND z.zone = ?)';
