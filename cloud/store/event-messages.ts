import type { SqlDatabase } from '../db/sql.js';
import { json } from './sql-rows.js';

/**
 * An event's message history (`event_messages`: every new/update/end the box sent, as first received), oldest
 * first, for the app's timeline. Tenant-scoped through the event row: another tenant's event has no history here.
 */
export interface EventMessageRecord {
  rev: number;
  /** new | update | end (as the box sent it). */
  type: string;
  /** Collector time it was received, ms. */
  receivedAt: number;
  /** The box's `sent_at` of the first copy received, ms; null when it sent none. */
  sentAt: number | null;
  score: number;
  label: string;
  box: unknown;
  /** Zones entered so far / zones it is in at this message (empty when the box did not say). */
  zones: unknown[];
  currentZones: unknown[];
  stationary: boolean;
  /** The box's reason, on an `end` message that gave one. */
  endReason: string | null;
}

interface Row {
  rev: number | string;
  received_at: number | string;
  message_json: string;
}

function recordOf(r: Row): EventMessageRecord {
  const v = json(r.message_json);
  const m = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  const sentAt = typeof m.sent_at === 'string' ? Date.parse(m.sent_at) : Number.NaN;
  return {
    rev: Number(r.rev),
    type: typeof m.type === 'string' ? m.type : 'update',
    receivedAt: Number(r.received_at),
    sentAt: Number.isFinite(sentAt) ? sentAt : null,
    score: typeof m.score === 'number' ? m.score : 0,
    label: typeof m.label === 'string' ? m.label : '',
    box: m.box ?? null,
    zones: Array.isArray(m.zones) ? m.zones : [],
    currentZones: Array.isArray(m.current_zones) ? m.current_zones : [],
    stationary: m.stationary === true,
    endReason: typeof m.end_reason === 'string' ? m.end_reason : null,
  };
}

export class SqlEventMessages {
  constructor(private readonly db: SqlDatabase) {}

  /** The messages of the tenant's event, oldest first; undefined when the tenant has no such event. */
  async list(tenantId: string, eventId: string): Promise<EventMessageRecord[] | undefined> {
    // One query: the event row decides the tenant and the device the messages are keyed by.
    const rows = await this.db.all<Row>(
      `SELECT m.rev, m.received_at, m.message_json
         FROM events e JOIN event_messages m ON m.device_id = e.device_id AND m.event_id = e.id
        WHERE e.tenant_id = ? AND e.id = ?
        ORDER BY m.rev`,
      [tenantId, eventId],
    );
    if (rows.length > 0) return rows.map(recordOf);
    // No history: an event of this tenant always has its first message, so this is someone else's or none.
    const e = await this.db.get('SELECT 1 AS hit FROM events WHERE tenant_id = ? AND id = ?', [tenantId, eventId]);
    return e ? [] : undefined;
  }
}
