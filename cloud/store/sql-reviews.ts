import { VigilError } from '../errors.js';
import type { SqlDatabase, SqlExecutor, SqlValue } from '../db/sql.js';
import type { ReviewMessageInput, StoreEventResult } from './messages.js';
import { applyReviewMessage, reviewFields, type ReviewFields, type ReviewState } from './review-apply.js';
import type { ReviewCounts, ReviewCursor, ReviewFilter, ReviewPage, ReviewRecord, ReviewStore } from './reviews.js';
import { json, num } from './sql-rows.js';

/**
 * Review items: storing a review message inside the request's transaction (SqlEvents hands them over, so events
 * and review items of one request commit together), applying it to the item by rev (./review-apply.ts) with its
 * objects, labels and zones mirrored into review_tags for the filters, and reading items back. SQL for both
 * dialects; on PostgreSQL the item row is locked (FOR UPDATE) while a message is applied.
 */
interface ReviewRow {
  id: string;
  tenant_id: string;
  device_id: string;
  camera: string;
  severity: 'alert' | 'detection';
  status: 'active' | 'ended';
  started_at: number;
  ended_at: number | null;
  objects_json: string;
  labels_json: string;
  zones_json: string;
  thumbnail_event: string | null;
  last_rev: number;
  message_json: string;
  reviewed_at: number | null;
  reviewed_by: string | null;
  created_at: number;
  updated_at: number;
}

const list = (text: string): string[] => {
  const v = json(text);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
};

function stateOf(r: ReviewRow): ReviewState {
  return {
    camera: r.camera,
    severity: r.severity,
    status: r.status,
    startedAt: Number(r.started_at),
    endedAt: num(r.ended_at),
    objects: list(r.objects_json),
    labels: list(r.labels_json),
    zones: list(r.zones_json),
    thumbnailEvent: r.thumbnail_event,
    lastRev: Number(r.last_rev),
    message: json(r.message_json),
  };
}

function review(r: ReviewRow): ReviewRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    deviceId: r.device_id,
    ...stateOf(r),
    reviewedAt: num(r.reviewed_at),
    reviewedBy: r.reviewed_by,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

/** The review columns a state sets, in the order the INSERT and UPDATE below list them. */
const STATE_COLUMNS = `camera, severity, status, started_at, ended_at, objects_json, labels_json, zones_json,
  thumbnail_event, last_rev, message_json`;
function stateColumns(st: ReviewState): SqlValue[] {
  return [
    st.camera,
    st.severity,
    st.status,
    st.startedAt,
    st.endedAt,
    JSON.stringify(st.objects),
    JSON.stringify(st.labels),
    JSON.stringify(st.zones),
    st.thumbnailEvent,
    st.lastRev,
    JSON.stringify(st.message ?? null),
  ];
}

const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);

function filterSql(tenantId: string, f: ReviewFilter): { where: string; params: SqlValue[] } {
  const clauses = ['r.tenant_id = ?'];
  const params: SqlValue[] = [tenantId];
  const add = (clause: string, value: SqlValue | undefined): void => {
    if (value === undefined) return;
    clauses.push(clause);
    params.push(value);
  };
  const tag = (kind: 'label' | 'zone'): string =>
    `EXISTS (SELECT 1 FROM review_tags t WHERE t.review_id = r.id AND t.kind = '${kind}' AND t.value = ?)`;
  add('r.device_id = ?', f.deviceId);
  add('r.camera = ?', f.camera);
  add('r.severity = ?', f.severity);
  add(tag('zone'), f.zone);
  add(tag('label'), f.label);
  if (f.reviewed !== undefined) clauses.push(f.reviewed ? 'r.reviewed_at IS NOT NULL' : 'r.reviewed_at IS NULL');
  add('r.started_at >= ?', f.since);
  add('r.started_at < ?', f.until);
  return { where: clauses.join(' AND '), params };
}

function ownedByAnotherDevice(m: ReviewMessageInput): StoreEventResult {
  const message = `review item ${m.id} belongs to another device`;
  return { id: m.id, rev: m.rev, status: 'rejected', code: 'event_conflict', message };
}

type ReviewReads =
  | 'getReview'
  | 'listReviews'
  | 'countReviews'
  | 'setReviewed'
  | 'reviewsHoldingEvent'
  | 'deviceSendsReviews';

export class SqlReviews implements Pick<ReviewStore, ReviewReads> {
  constructor(private readonly db: SqlDatabase) {}

  /** Parses a review message before the transaction (a malformed one fails the request without the write lock). */
  static fields(m: ReviewMessageInput): ReviewFields {
    return reviewFields(m.review);
  }

  /**
   * Stores one review message of the request in its transaction `x`: the message by (device, id, rev), then the
   * item by rev. `stored`, `duplicate`, `conflict` (same id+rev, other content) or `rejected` (another device's id).
   */
  async storeMessage(
    x: SqlExecutor,
    tenantId: string,
    deviceId: string,
    m: ReviewMessageInput,
    fields: ReviewFields,
    now: number,
  ): Promise<StoreEventResult> {
    const base = { id: m.id, rev: m.rev };
    if (fields.id !== m.id || fields.rev !== m.rev) {
      const message = `id/rev (${m.id}, ${m.rev}) differ from the review body (${fields.id}, ${fields.rev})`;
      return { ...base, status: 'rejected', code: 'invalid_message', message };
    }
    let row = await x.get<ReviewRow>(`SELECT * FROM reviews WHERE id = ?${this.db.forUpdate}`, [m.id]);
    if (row && row.device_id !== deviceId) return ownedByAnotherDevice(m);
    const recorded = await x.get<{ review_id: string }>(
      `INSERT INTO review_messages (device_id, review_id, rev, content_sha256, received_at, message_json)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, review_id, rev) DO NOTHING RETURNING review_id`,
      [deviceId, m.id, m.rev, m.contentSha256, now, JSON.stringify(m.review)],
    );
    if (!recorded) return this.alreadyReceived(x, deviceId, m);
    if (!row) {
      const first = applyReviewMessage(undefined, fields).next;
      const inserted = await x.get<{ id: string }>(
        `INSERT INTO reviews (${STATE_COLUMNS}, id, tenant_id, device_id, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id`,
        [...stateColumns(first), m.id, tenantId, deviceId, now, now],
      );
      if (inserted) {
        await this.writeTags(x, m.id, first);
        return { ...base, status: 'stored' };
      }
      // Another collector inserted the same item meanwhile (its transaction committed first): apply to that row.
      row = await x.get<ReviewRow>(`SELECT * FROM reviews WHERE id = ?${this.db.forUpdate}`, [m.id]);
      if (!row) throw new VigilError('internal_error', `review item ${m.id} neither inserted nor found`);
      if (row.device_id !== deviceId) {
        await x.run('DELETE FROM review_messages WHERE device_id = ? AND review_id = ? AND rev = ?', [
          deviceId,
          m.id,
          m.rev,
        ]);
        return ownedByAnotherDevice(m);
      }
    }
    const current = stateOf(row);
    const { next, changed } = applyReviewMessage(current, fields);
    if (changed) {
      await x.run(
        `UPDATE reviews SET camera = ?, severity = ?, status = ?, started_at = ?, ended_at = ?, objects_json = ?,
                labels_json = ?, zones_json = ?, thumbnail_event = ?, last_rev = ?, message_json = ?, updated_at = ?
         WHERE id = ?`,
        [...stateColumns(next), now, m.id],
      );
      const tagsChanged =
        !sameList(current.objects, next.objects) ||
        !sameList(current.labels, next.labels) ||
        !sameList(current.zones, next.zones);
      if (tagsChanged) {
        await x.run('DELETE FROM review_tags WHERE review_id = ?', [m.id]);
        await this.writeTags(x, m.id, next);
      }
    }
    return { ...base, status: 'stored' };
  }

  private async alreadyReceived(x: SqlExecutor, deviceId: string, m: ReviewMessageInput): Promise<StoreEventResult> {
    const seen = await x.get<{ content_sha256: string }>(
      'SELECT content_sha256 FROM review_messages WHERE device_id = ? AND review_id = ? AND rev = ?',
      [deviceId, m.id, m.rev],
    );
    const base = { id: m.id, rev: m.rev };
    if (seen?.content_sha256 === m.contentSha256) return { ...base, status: 'duplicate' };
    const message = `review item ${m.id} rev ${m.rev} was already received with different content`;
    return { ...base, status: 'conflict', code: 'event_conflict', message };
  }

  private async writeTags(x: SqlExecutor, reviewId: string, st: ReviewState): Promise<void> {
    const tags = [
      ...new Set(st.objects.map((v) => `object\n${v}`)),
      ...new Set(st.labels.map((v) => `label\n${v}`)),
      ...new Set(st.zones.map((v) => `zone\n${v}`)),
    ].map((t) => t.split('\n') as [string, string]);
    if (tags.length === 0) return;
    await x.run(
      `INSERT INTO review_tags (review_id, kind, value) VALUES ${tags.map(() => '(?, ?, ?)').join(', ')}
       ON CONFLICT (review_id, kind, value) DO NOTHING`,
      tags.flatMap(([kind, value]) => [reviewId, kind, value]),
    );
  }

  async getReview(tenantId: string, reviewId: string): Promise<ReviewRecord | undefined> {
    const r = await this.db.get<ReviewRow>('SELECT * FROM reviews WHERE tenant_id = ? AND id = ?', [
      tenantId,
      reviewId,
    ]);
    return r && review(r);
  }

  async listReviews(tenantId: string, filter: ReviewFilter, limit: number, after?: ReviewCursor): Promise<ReviewPage> {
    const { where, params } = filterSql(tenantId, filter);
    let cursorSql = '';
    if (after) {
      cursorSql = ' AND (r.started_at < ? OR (r.started_at = ? AND r.id < ?))';
      params.push(after.startedAt, after.startedAt, after.id);
    }
    const rows = await this.db.all<ReviewRow>(
      `SELECT r.* FROM reviews r WHERE ${where}${cursorSql} ORDER BY r.started_at DESC, r.id DESC LIMIT ?`,
      [...params, limit + 1],
    );
    const reviews = rows.slice(0, limit).map(review);
    const last = reviews[reviews.length - 1];
    return { reviews, next: rows.length > limit && last ? { startedAt: last.startedAt, id: last.id } : null };
  }

  async countReviews(tenantId: string, filter: ReviewFilter): Promise<ReviewCounts> {
    const { where, params } = filterSql(tenantId, { ...filter, severity: undefined, reviewed: undefined });
    const rows = await this.db.all<{ severity: string; total: number | string; unreviewed: number | string | null }>(
      `SELECT r.severity AS severity, COUNT(*) AS total,
              SUM(CASE WHEN r.reviewed_at IS NULL THEN 1 ELSE 0 END) AS unreviewed
         FROM reviews r WHERE ${where} GROUP BY r.severity`,
      params,
    );
    const counts: ReviewCounts = { alert: { total: 0, unreviewed: 0 }, detection: { total: 0, unreviewed: 0 } };
    for (const r of rows)
      if (r.severity === 'alert' || r.severity === 'detection')
        counts[r.severity] = { total: Number(r.total), unreviewed: Number(r.unreviewed ?? 0) };
    return counts;
  }

  async setReviewed(
    tenantId: string,
    reviewId: string,
    mark: { at: number; by: string } | null,
    now: number,
  ): Promise<ReviewRecord | undefined> {
    if (mark) {
      // The first mark stays: marking an item reviewed twice is not a change.
      await this.db.run(
        `UPDATE reviews SET reviewed_by = CASE WHEN reviewed_at IS NULL THEN ? ELSE reviewed_by END,
                reviewed_at = COALESCE(reviewed_at, ?), updated_at = ?
         WHERE tenant_id = ? AND id = ?`,
        [mark.by, mark.at, now, tenantId, reviewId],
      );
    } else {
      await this.db.run(
        'UPDATE reviews SET reviewed_at = NULL, reviewed_by = NULL, updated_at = ? WHERE tenant_id = ? AND id = ?',
        [now, tenantId, reviewId],
      );
    }
    return this.getReview(tenantId, reviewId);
  }

  async reviewsHoldingEvent(eventId: string): Promise<string[]> {
    const rows = await this.db.all<{ review_id: string }>(
      `SELECT review_id FROM review_tags WHERE kind = 'object' AND value = ? ORDER BY review_id`,
      [eventId],
    );
    return rows.map((r) => r.review_id);
  }

  async deviceSendsReviews(deviceId: string): Promise<boolean> {
    return (await this.db.get('SELECT 1 AS hit FROM reviews WHERE device_id = ? LIMIT 1', [deviceId])) !== undefined;
  }
}
