import { VigilError } from '../errors.js';
import { atCommit, type SqlDatabase, type SqlExecutor, type SqlValue } from '../db/sql.js';
import { applyEventMessage, durationOf, eventFields, type EventFields, type EventState } from './event-apply.js';
import { endReasonOf } from './event-sweep.js';
import { eventMessageView } from './event-view.js';
import type { EventListJoin, JoinedEventPage } from './event-list.js';
import { EVENT_IN_ZONE, recordEventZones, recordZonesOf } from './event-zones.js';
import {
  isReviewInput,
  type EventMessageInput,
  type ReviewMessageInput,
  type StoreEventResult,
  type TopicMessageInput,
} from './messages.js';
import type { ReviewFields } from './review-apply.js';
import { storeBatchRows, storeOneRow, type StoreRow } from './pg-events.js';
import { claimNonce } from './sql-nonces.js';
import { LAST_SEEN } from './sql-devices.js';
import { SqlReviews } from './sql-reviews.js';
import { DEVICE_COLUMNS, json, num, type DeviceRow } from './sql-rows.js';
import type {
  EventCursor,
  EventFilter,
  EventPage,
  EventRecord,
  EventsStoredHook,
  LabelDayCount,
  Store,
  StoreNonceClaim,
} from './store.js';

/**
 * Events: storing a request's event messages in one transaction (with its nonce; each message applied to the
 * event row by rev, ./event-apply.ts; review messages of the same request go to ./sql-reviews.ts in the same
 * transaction), reading events back with their thumbnail. The request's nonce is claimed in the same transaction
 * (./sql-nonces.ts).
 * SQL for both dialects; PostgreSQL stores a message in one statement where it can.
 */
interface EventRow {
  id: string;
  tenant_id: string;
  device_id: string;
  camera: string;
  label: string;
  score: number;
  box_json: string | null;
  started_at: number;
  ended_at: number | null;
  duration_ms: number | null;
  status: 'active' | 'ended';
  last_rev: number;
  thumbnail_sha256: string | null;
  thumbnail_size: number | null;
  created_at: number;
  updated_at: number;
  message_json: string;
  end_reason: string | null;
}

const EVENT_COLUMNS = `e.id, e.tenant_id, e.device_id, e.camera, e.label, e.score, e.box_json, e.started_at,
  e.ended_at, e.duration_ms,
  e.status, e.last_rev, e.thumbnail_sha256, e.thumbnail_size, e.created_at, e.updated_at, e.message_json, e.end_reason`;
const THUMB_COLUMNS =
  't.blob_key AS t_blob_key, t.sha256 AS t_sha256, t.size AS t_size, t.content_type AS t_content_type, ' +
  't.created_at AS t_created_at';
/** An event with its thumbnail record, if any. */
const EVENT_SELECT = `SELECT ${EVENT_COLUMNS}, ${THUMB_COLUMNS}
  FROM events e LEFT JOIN thumbnails t ON t.event_id = e.id AND t.device_id = e.device_id`;
/** listEvents without another stage's columns. */
const NO_JOIN: EventListJoin<null> = { columns: '', joins: '', where: [], read: () => null };

type EventJoinRow = EventRow & {
  t_blob_key: string | null;
  t_sha256: string | null;
  t_size: number | null;
  t_content_type: string | null;
  t_created_at: number | null;
};

function event(r: EventJoinRow): EventRecord {
  const state = stateOf(r);
  return {
    id: r.id,
    tenantId: r.tenant_id,
    deviceId: r.device_id,
    ...state,
    durationMs: num(r.duration_ms),
    thumbnail:
      r.t_blob_key === null || r.t_sha256 === null
        ? null
        : {
            tenantId: r.tenant_id,
            deviceId: r.device_id,
            eventId: r.id,
            blobKey: r.t_blob_key,
            sha256: r.t_sha256,
            size: Number(r.t_size),
            contentType: r.t_content_type ?? 'image/jpeg',
            createdAt: Number(r.t_created_at),
          },
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    ...eventMessageView(state.message, state.score),
  };
}

function stateOf(r: EventRow): EventState {
  return {
    camera: r.camera,
    label: r.label,
    score: Number(r.score),
    box: json(r.box_json),
    startedAt: Number(r.started_at),
    endedAt: num(r.ended_at),
    status: r.status,
    lastRev: Number(r.last_rev),
    endReason: endReasonOf(r.end_reason),
    message: json(r.message_json),
  };
}

/** The event columns of a new event made of one message. */
function freshColumns(fields: EventFields): SqlValue[] {
  return eventColumns(applyEventMessage(undefined, fields).next);
}

/** The event columns a message state sets, in the order storeOne's INSERT and UPDATE list them. */
function eventColumns(st: EventState): SqlValue[] {
  return [
    st.camera,
    st.label,
    st.score,
    JSON.stringify(st.box ?? null),
    st.startedAt,
    st.endedAt,
    durationOf(st),
    st.status,
    st.lastRev,
    JSON.stringify(st.message ?? null),
    st.endReason,
  ];
}

function filterSql(tenantId: string, f: EventFilter): { where: string; params: SqlValue[] } {
  const clauses = ['e.tenant_id = ?'];
  const params: SqlValue[] = [tenantId];
  const add = (clause: string, value: SqlValue | undefined): void => {
    if (value === undefined) return;
    clauses.push(clause);
    params.push(value);
  };
  add('e.device_id = ?', f.deviceId);
  add('e.camera = ?', f.camera);
  add('e.label = ?', f.label);
  add('e.status = ?', f.status);
  add(EVENT_IN_ZONE, f.zone);
  add('e.started_at >= ?', f.since);
  add('e.started_at < ?', f.until);
  return { where: clauses.join(' AND '), params };
}

const DAY_MS = 86_400_000;

/** One message being stored: in which transaction, for whom, what, and when it was received. */
interface EventWrite {
  x: SqlExecutor;
  tenantId: string;
  deviceId: string;
  m: EventMessageInput;
  fields: ReturnType<typeof eventFields>;
  now: number;
}

/** An event id that another device already uses: rejected before anything is written. */
function ownedByAnotherDevice(m: EventMessageInput): StoreEventResult {
  const message = `event id ${m.id} belongs to another device`;
  return { id: m.id, rev: m.rev, status: 'rejected', code: 'event_conflict', message };
}

/** A (device, event, rev) already recorded: a duplicate when the content is the same, else a conflict. */
async function alreadyReceived(x: SqlExecutor, deviceId: string, m: EventMessageInput): Promise<StoreEventResult> {
  const seen = await x.get<{ content_sha256: string }>(
    'SELECT content_sha256 FROM event_messages WHERE device_id = ? AND event_id = ? AND rev = ?',
    [deviceId, m.id, m.rev],
  );
  const base = { id: m.id, rev: m.rev };
  if (seen?.content_sha256 === m.contentSha256) return { ...base, status: 'duplicate' };
  const message = `event ${m.id} rev ${m.rev} was already received with different content`;
  return { ...base, status: 'conflict', code: 'event_conflict', message };
}

/** A request's message, parsed before its transaction. */
type Parsed =
  | { kind: 'event'; m: EventMessageInput; fields: ReturnType<typeof eventFields> }
  | { kind: 'review'; m: ReviewMessageInput; fields: ReviewFields };

type EventMethods =
  | 'storeEventMessages'
  | 'findDeviceEvent'
  | 'getEvent'
  | 'getEvents'
  | 'listEvents'
  | 'listEventsWith'
  | 'countEventsByLabelDay';

export class SqlEvents implements Pick<Store, EventMethods> {
  /**
   * `hooks`: run in the transaction of every storeEventMessages() that stored a message (Store.onEventsStored);
   * `reviews`: where the request's review messages are stored.
   */
  constructor(
    private readonly db: SqlDatabase,
    private readonly hooks: readonly EventsStoredHook[],
    private readonly reviews: SqlReviews = new SqlReviews(db),
  ) {}

  async storeEventMessages(
    deviceId: string,
    messages: readonly TopicMessageInput[],
    receivedAt: number,
    nonce?: StoreNonceClaim,
  ): Promise<StoreEventResult[]> {
    // Parse before the transaction: a malformed message fails the request without holding the write lock.
    const parsed = messages.map(
      (m): Parsed =>
        isReviewInput(m)
          ? { kind: 'review', m, fields: SqlReviews.fields(m) }
          : { kind: 'event', m, fields: eventFields(m.event) },
    );
    return this.db.tx(async (x) => {
      // The request's nonce commits with its events or not at all: a replay found here throws, rolling back.
      if (
        nonce &&
        !(await claimNonce(x, deviceId, nonce.nonce, nonce.expiresAt, nonce.now)) &&
        nonce.onReplay === 'reject'
      ) {
        throw new VigilError('nonce_replayed', 'nonce already used within the replay window');
      }
      const d = await x.get<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = ?`, [deviceId]);
      if (!d) throw new VigilError('unknown_device', `unknown device ${deviceId}`);
      if (d.revoked_at !== null) throw new VigilError('device_revoked', `device ${deviceId} is revoked`);
      const results: StoreEventResult[] = [];
      const eventIds: string[] = [];
      const reviewIds: string[] = [];
      const batch = this.batchable(parsed);
      if (batch) {
        for (const r of await this.storeBatch(x, d.tenant_id, deviceId, batch, receivedAt)) {
          if (r.status === 'stored') eventIds.push(r.id);
          results.push(r);
        }
      }
      for (const p of batch ? [] : parsed) {
        const tenantId = d.tenant_id;
        if (p.kind === 'review') {
          const r = await this.reviews.storeMessage(x, tenantId, deviceId, p.m, p.fields, receivedAt);
          if (r.status === 'stored') reviewIds.push(r.id);
          results.push(r);
          continue;
        }
        const r = await this.storeOne({ x, tenantId, deviceId, m: p.m, fields: p.fields, now: receivedAt });
        if (r.status === 'stored') {
          eventIds.push(r.id);
          await recordEventZones(x, r.id, p.m.event);
        }
        results.push(r);
      }
      if (eventIds.length + reviewIds.length > 0)
        for (const hook of this.hooks) await hook(x, { tenantId: d.tenant_id, deviceId, eventIds, reviewIds });
      // Once per device per commit (a SQLite group merges many requests), still in this transaction.
      await atCommit(x, LAST_SEEN, { deviceId, at: receivedAt });
      return results;
    });
  }

  private async storeOne(w: EventWrite): Promise<StoreEventResult> {
    const { x, tenantId, deviceId, m, fields, now } = w;
    const base = { id: m.id, rev: m.rev };
    if (fields.id !== m.id || fields.rev !== m.rev) {
      return {
        ...base,
        status: 'rejected',
        code: 'invalid_message',
        message: `id/rev (${m.id}, ${m.rev}) differ from the event body (${fields.id}, ${fields.rev})`,
      };
    }
    if (this.db.dialect === 'postgres') return this.storeOneStatement(w);
    // Ownership first: an id another device already uses is rejected before anything is written.
    const owner = await x.get<{ device_id: string }>('SELECT device_id FROM events WHERE id = ?', [m.id]);
    if (owner && owner.device_id !== deviceId) {
      return ownedByAnotherDevice(m);
    }
    const recorded = await x.get<{ event_id: string }>(
      `INSERT INTO event_messages (device_id, event_id, rev, content_sha256, received_at, message_json)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (device_id, event_id, rev) DO NOTHING RETURNING event_id`,
      [deviceId, m.id, m.rev, m.contentSha256, now, JSON.stringify(m.event)],
    );
    if (!recorded) {
      return alreadyReceived(x, deviceId, m);
    }
    // A thumbnail may have arrived before the event's first message.
    const early = await x.get<{ sha256: string; size: number }>(
      'SELECT sha256, size FROM thumbnails WHERE event_id = ? AND device_id = ?',
      [m.id, deviceId],
    );
    // Insert-or-lock: a concurrent first message of the same event on another collector waits on the unique id.
    const inserted = await x.get<{ id: string }>(
      `INSERT INTO events (camera, label, score, box_json, started_at, ended_at, duration_ms, status, last_rev,
                           message_json, end_reason,
                           id, tenant_id, device_id, thumbnail_sha256, thumbnail_size, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [
        ...eventColumns(applyEventMessage(undefined, fields).next),
        m.id,
        tenantId,
        deviceId,
        early?.sha256 ?? null,
        early ? Number(early.size) : null,
        now,
        now,
      ],
    );
    if (inserted) return { ...base, status: 'stored' };
    return this.applyToEvent(w, undefined);
  }

  /**
   * A recorded message of an event that already exists: applies it to the (locked) event row. `row` when the
   * caller already holds it locked; else it is read here with FOR UPDATE.
   */
  private async applyToEvent(w: EventWrite, locked: EventRow | undefined): Promise<StoreEventResult> {
    const { x, deviceId, m, fields, now } = w;
    const base = { id: m.id, rev: m.rev };
    const row = locked ?? (await x.get<EventRow>(`SELECT * FROM events WHERE id = ?${this.db.forUpdate}`, [m.id]));
    if (!row) throw new VigilError('internal_error', `event ${m.id} neither inserted nor found`);
    if (row.device_id !== deviceId) {
      // Lost a race with another device's first message of the same id: undo this message's history row.
      await x.run('DELETE FROM event_messages WHERE device_id = ? AND event_id = ? AND rev = ?', [
        deviceId,
        m.id,
        m.rev,
      ]);
      return ownedByAnotherDevice(m);
    }
    const { next, changed } = applyEventMessage(stateOf(row), fields);
    if (changed) {
      await x.run(
        `UPDATE events SET camera = ?, label = ?, score = ?, box_json = ?, started_at = ?, ended_at = ?,
                duration_ms = ?, status = ?, last_rev = ?,
                message_json = ?, end_reason = ?, updated_at = ? WHERE id = ?`,
        [...eventColumns(next), now, m.id],
      );
    }
    return { ...base, status: 'stored' };
  }

  /** PostgreSQL: storeOne's steps for one message in ONE statement (./pg-events.ts). */
  private async storeOneStatement(w: EventWrite): Promise<StoreEventResult> {
    const { x, tenantId, deviceId, m, fields, now } = w;
    return this.decide(w, await storeOneRow(x, tenantId, deviceId, { m, fresh: freshColumns(fields) }, now));
  }

  /**
   * PostgreSQL, a request of several event messages of distinct ids (no review messages): every message in ONE
   * statement (./pg-events.ts), their zones in one more; else undefined (stored one by one).
   */
  private batchable(parsed: readonly Parsed[]): Extract<Parsed, { kind: 'event' }>[] | undefined {
    if (this.db.dialect !== 'postgres' || parsed.length < 2) return undefined;
    const ids = new Set<string>();
    const events: Extract<Parsed, { kind: 'event' }>[] = [];
    for (const p of parsed) {
      if (p.kind !== 'event' || ids.has(p.m.id) || p.fields.id !== p.m.id || p.fields.rev !== p.m.rev) return undefined;
      ids.add(p.m.id);
      events.push(p);
    }
    return events;
  }

  private async storeBatch(
    x: SqlExecutor,
    tenantId: string,
    deviceId: string,
    batch: readonly Extract<Parsed, { kind: 'event' }>[],
    now: number,
  ): Promise<StoreEventResult[]> {
    const messages = batch.map((p) => ({ m: p.m, fresh: freshColumns(p.fields) }));
    const rows = await storeBatchRows(x, tenantId, deviceId, messages, now);
    const results: StoreEventResult[] = [];
    for (const [i, p] of batch.entries()) {
      results.push(await this.decide({ x, tenantId, deviceId, m: p.m, fields: p.fields, now }, rows[i]!));
    }
    await recordZonesOf(
      x,
      batch.filter((_p, i) => results[i]!.status === 'stored').map((p) => ({ eventId: p.m.id, event: p.m.event })),
    );
    return results;
  }

  /** What a PostgreSQL store statement's row means for its message (storeOne's logic for the rarer outcomes). */
  private async decide(w: EventWrite, r: StoreRow): Promise<StoreEventResult> {
    const { x, deviceId, m } = w;
    const row = r.id === null || r.id === undefined ? undefined : (r as unknown as EventRow);
    if (row && row.device_id !== deviceId) {
      return ownedByAnotherDevice(m);
    }
    if (!r.recorded) {
      return alreadyReceived(x, deviceId, m);
    }
    if (r.inserted) return { id: m.id, rev: m.rev, status: 'stored' };
    // Recorded, not inserted: the event exists (locked above), or another collector inserted it meanwhile.
    return this.applyToEvent(w, row);
  }

  async findDeviceEvent(deviceId: string, eventId: string): Promise<EventRecord | undefined> {
    return this.oneEvent('e.device_id = ? AND e.id = ?', [deviceId, eventId]);
  }

  async getEvent(tenantId: string, eventId: string): Promise<EventRecord | undefined> {
    return this.oneEvent('e.tenant_id = ? AND e.id = ?', [tenantId, eventId]);
  }

  async getEvents(tenantId: string, eventIds: readonly string[]): Promise<EventRecord[]> {
    const ids = [...new Set(eventIds)];
    if (ids.length === 0) return [];
    const rows = await this.db.all<EventJoinRow>(
      `${EVENT_SELECT} WHERE e.tenant_id = ? AND e.id IN (${ids.map(() => '?').join(', ')})`,
      [tenantId, ...ids],
    );
    const byId = new Map(rows.map((r) => [r.id, event(r)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  private async oneEvent(where: string, params: SqlValue[]): Promise<EventRecord | undefined> {
    const r = await this.db.get<EventJoinRow>(`${EVENT_SELECT} WHERE ${where}`, params);
    return r && event(r);
  }

  async listEvents(tenantId: string, filter: EventFilter, limit: number, after?: EventCursor): Promise<EventPage> {
    const page = await this.listEventsWith(tenantId, filter, limit, after, NO_JOIN);
    return { events: page.events.map((j) => j.event), next: page.next };
  }

  async listEventsWith<T>(
    tenantId: string,
    filter: EventFilter,
    limit: number,
    after: EventCursor | undefined,
    join: EventListJoin<T>,
  ): Promise<JoinedEventPage<T>> {
    const { where, params } = filterSql(tenantId, filter);
    const clauses = [where];
    for (const w of join.where) {
      clauses.push(`(${w.sql})`);
      params.push(...w.params);
    }
    if (after) {
      clauses.push('(e.started_at < ? OR (e.started_at = ? AND e.id < ?))');
      params.push(after.startedAt, after.startedAt, after.id);
    }
    const columns = join.columns ? `, ${join.columns}` : '';
    const rows = await this.db.all<EventJoinRow & Record<string, unknown>>(
      `SELECT ${EVENT_COLUMNS}, ${THUMB_COLUMNS}${columns}
         FROM events e LEFT JOIN thumbnails t ON t.event_id = e.id AND t.device_id = e.device_id ${join.joins}
        WHERE ${clauses.join(' AND ')} ORDER BY e.started_at DESC, e.id DESC LIMIT ?`,
      [...params, limit + 1],
    );
    const events = rows.slice(0, limit).map((r) => ({ event: event(r), joined: join.read(r) }));
    const last = events[events.length - 1]?.event;
    return { events, next: rows.length > limit && last ? { startedAt: last.startedAt, id: last.id } : null };
  }

  async countEventsByLabelDay(tenantId: string, filter: EventFilter): Promise<LabelDayCount[]> {
    const { where, params } = filterSql(tenantId, filter);
    // Integer division works the same in both dialects; the day is formatted here.
    const rows = await this.db.all<{ day: number; label: string; n: number }>(
      `SELECT e.started_at / ${DAY_MS} AS day, e.label AS label, COUNT(*) AS n FROM events e WHERE ${where}` +
        ` GROUP BY e.started_at / ${DAY_MS}, e.label ORDER BY day, label`,
      params,
    );
    return rows.map((r) => ({
      day: new Date(Number(r.day) * DAY_MS).toISOString().slice(0, 10),
      label: r.label,
      count: Number(r.n),
    }));
  }
}
