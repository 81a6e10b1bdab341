import { VigilError } from '../errors.js';
import type { SqlExecutor, SqlValue } from '../db/sql.js';
import type { EventMessageInput } from './messages.js';

/**
 * PostgreSQL's statements for storing event messages (./sql-events.ts decides what their rows mean). A round trip
 * costs more than the work of one message, so:
 * - `storeOneRow`: one message in ONE statement — lock the event row if it exists, record the message unless
 *   another device owns the id, insert the event when it is new (with its early thumbnail, if one came first).
 * - `storeBatchRows`: the same for every message of a request in ONE statement, the messages passed as one JSON
 *   parameter (`json_to_recordset`); only for messages of distinct event ids (each row of a sub-statement then
 *   belongs to exactly one message).
 * Sub-statements of a WITH see one snapshot, so the RETURNING flags are what decide; the rarer outcomes (duplicate,
 * conflict, update, a race with another collector inserting the same id) take one more statement each.
 */

/** The event row as locked (all columns null when there was none), and what the statement did. */
export interface StoreRow {
  id?: string | null;
  device_id?: string | null;
  recorded: boolean;
  inserted: boolean;
  [column: string]: unknown;
}

/** One message to store: the input, and the event columns of a new event made of it (eventColumns order). */
export interface PgMessage {
  m: EventMessageInput;
  fresh: SqlValue[];
}

const EVENT_INSERT_COLUMNS = `camera, label, score, box_json, started_at, ended_at, duration_ms, status, last_rev,
  message_json, end_reason, id, tenant_id, device_id, thumbnail_sha256, thumbnail_size, created_at, updated_at`;

export async function storeOneRow(
  x: SqlExecutor,
  tenantId: string,
  deviceId: string,
  { m, fresh }: PgMessage,
  now: number,
): Promise<StoreRow> {
  const r = await x.get<StoreRow>(
    `WITH cur AS (SELECT * FROM events WHERE id = ? FOR UPDATE),
          msg AS (
            INSERT INTO event_messages (device_id, event_id, rev, content_sha256, received_at, message_json)
            SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT),
                   CAST(? AS TEXT)
             WHERE NOT EXISTS (SELECT 1 FROM cur WHERE cur.device_id <> ?)
            ON CONFLICT (device_id, event_id, rev) DO NOTHING RETURNING event_id),
          early AS (SELECT sha256, size FROM thumbnails WHERE event_id = ? AND device_id = ?),
          ins AS (
            INSERT INTO events (${EVENT_INSERT_COLUMNS})
            SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS DOUBLE PRECISION), CAST(? AS TEXT),
                   CAST(? AS BIGINT), CAST(? AS BIGINT),
                   CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT),
                   CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), (SELECT sha256 FROM early),
                   (SELECT size FROM early), CAST(? AS BIGINT), CAST(? AS BIGINT)
             WHERE EXISTS (SELECT 1 FROM msg) AND NOT EXISTS (SELECT 1 FROM cur)
            ON CONFLICT (id) DO NOTHING RETURNING id)
     SELECT cur.*, EXISTS (SELECT 1 FROM msg) AS recorded, EXISTS (SELECT 1 FROM ins) AS inserted
       FROM (SELECT 1) AS one LEFT JOIN cur ON TRUE`,
    [
      m.id,
      deviceId,
      m.id,
      m.rev,
      m.contentSha256,
      now,
      JSON.stringify(m.event),
      deviceId,
      m.id,
      deviceId,
      ...fresh,
      m.id,
      tenantId,
      deviceId,
      now,
      now,
    ],
  );
  if (!r) throw new VigilError('internal_error', `storing event ${m.id} returned no row`);
  return r;
}

/** The columns of one message in the batch's JSON parameter (json_to_recordset's column list). */
const BATCH_COLUMNS = `ord INT, id TEXT, rev BIGINT, sha TEXT, msg TEXT, camera TEXT, label TEXT,
  score DOUBLE PRECISION, box_json TEXT, started_at BIGINT, ended_at BIGINT, duration_ms BIGINT, status TEXT,
  last_rev BIGINT, end_reason TEXT`;

/**
 * `storeOneRow` for many messages of DISTINCT event ids in one statement; rows in the order of `messages`. Every
 * message is decided exactly as storeOneRow would decide it alone.
 */
export async function storeBatchRows(
  x: SqlExecutor,
  tenantId: string,
  deviceId: string,
  messages: readonly PgMessage[],
  now: number,
): Promise<StoreRow[]> {
  const input = messages.map(({ m, fresh }, ord) => {
    const [camera, label, score, box, started, ended, duration, status, lastRev, message, endReason] = fresh;
    // A new event's message_json is its message: sent once, used for both rows.
    const msg = JSON.stringify(m.event);
    if (message !== msg) throw new VigilError('internal_error', `event ${m.id}: its first message differs`);
    return {
      ord,
      id: m.id,
      rev: m.rev,
      sha: m.contentSha256,
      msg,
      camera,
      label,
      score,
      box_json: box,
      started_at: started,
      ended_at: ended,
      duration_ms: duration,
      status,
      last_rev: lastRev,
      end_reason: endReason,
    };
  });
  const rows = await x.all<StoreRow & { ord: number }>(
    `WITH input AS (SELECT * FROM json_to_recordset(CAST(? AS JSON)) AS t(${BATCH_COLUMNS})),
          cur AS (SELECT e.* FROM events e WHERE e.id = ANY (ARRAY(SELECT id FROM input)) FOR UPDATE),
          msg AS (
            INSERT INTO event_messages (device_id, event_id, rev, content_sha256, received_at, message_json)
            SELECT CAST(? AS TEXT), i.id, i.rev, i.sha, CAST(? AS BIGINT), i.msg FROM input i
             WHERE NOT EXISTS (SELECT 1 FROM cur WHERE cur.id = i.id AND cur.device_id <> CAST(? AS TEXT))
             ORDER BY i.ord
            ON CONFLICT (device_id, event_id, rev) DO NOTHING RETURNING event_id),
          ins AS (
            INSERT INTO events (${EVENT_INSERT_COLUMNS})
            SELECT i.camera, i.label, i.score, i.box_json, i.started_at, i.ended_at, i.duration_ms, i.status,
                   i.last_rev, i.msg, i.end_reason, i.id, CAST(? AS TEXT), CAST(? AS TEXT), th.sha256,
                   th.size, CAST(? AS BIGINT), CAST(? AS BIGINT)
              FROM input i LEFT JOIN thumbnails th ON th.event_id = i.id AND th.device_id = CAST(? AS TEXT)
             WHERE i.id IN (SELECT event_id FROM msg) AND NOT EXISTS (SELECT 1 FROM cur WHERE cur.id = i.id)
             ORDER BY i.ord
            ON CONFLICT (id) DO NOTHING RETURNING id)
     SELECT cur.*, i.ord AS ord, i.id IN (SELECT event_id FROM msg) AS recorded,
            i.id IN (SELECT id FROM ins) AS inserted
       FROM input i LEFT JOIN cur ON cur.id = i.id ORDER BY i.ord`,
    [JSON.stringify(input), deviceId, now, deviceId, tenantId, deviceId, now, now, deviceId],
  );
  if (rows.length !== messages.length)
    throw new VigilError('internal_error', `storing ${messages.length} events returned ${rows.length} rows`);
  return rows.map(({ ord: _ord, ...row }) => row as StoreRow);
}
