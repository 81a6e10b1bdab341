import type { Notification, PushResult } from '../push/index.js';
import type { SqlDatabase } from '../db/sql.js';
import type { Verdict } from './policy.js';
import type { DeliveryRecord, PushState } from './records.js';

/**
 * What the review item's push job writes (tables review_notifications, review_deliveries: cloud/db/migrations.ts 8),
 * and what it reads of its objects' verify jobs (event_verifications, written by ./records.ts).
 *
 * One item can push more than once: the first push, then updates in place (same collapse id) as objects join.
 * `push_seq` numbers them; `sending` is recorded with the notification BEFORE a fan-out (a crash resends that same
 * push to the tokens without a settled outcome), `sent` after the per-token outcomes.
 */
export interface ReviewPushRecord {
  reviewId: string;
  tenantId: string;
  /** The last decision: `pushed`, `updated`, or why nothing was sent (snoozed, detection, not_confirmed …). */
  decision: string | null;
  decisionDetail: string | null;
  pushState: PushState | null;
  /** Pushes sent (or being sent) for the item: 1 = the first, more = updates of it. */
  pushSeq: number;
  /** The last push sent (or being sent). */
  notification: Notification | null;
  firstPushAt: number | null;
  lastPushAt: number | null;
  updatedAt: number;
}

/** An object's verify-job outcome, as the review item's push reads it. */
export interface ObjectVerdict {
  eventId: string;
  /** null while the event's job has not decided yet. */
  verdict: Verdict | null;
  /** The policy's reason (verified, edge_only, llm_disagrees …). */
  reason: string | null;
  summary: string | null;
  confidence: number | null;
  threat: number | null;
  /** The event was pushed on its own (its box was not yet known to send review items when it was decided). */
  pushed: boolean;
}

interface ReviewPushRow {
  review_id: string;
  tenant_id: string;
  decision: string | null;
  decision_detail: string | null;
  push_state: PushState | null;
  push_seq: number;
  push_json: string | null;
  first_push_at: number | null;
  last_push_at: number | null;
  updated_at: number;
}

const n = (v: number | string | null): number | null => (v === null ? null : Number(v));

/** Delivery outcomes after which a resend skips the token. */
const SETTLED = new Set(['sent', 'invalid_token', 'failed']);

export class ReviewPushRecords {
  constructor(private readonly db: SqlDatabase) {}

  async get(reviewId: string): Promise<ReviewPushRecord | undefined> {
    const r = await this.db.get<ReviewPushRow>('SELECT * FROM review_notifications WHERE review_id = ?', [reviewId]);
    if (!r) return undefined;
    return {
      reviewId: r.review_id,
      tenantId: r.tenant_id,
      decision: r.decision,
      decisionDetail: r.decision_detail,
      pushState: r.push_state,
      pushSeq: Number(r.push_seq),
      notification: r.push_json ? (JSON.parse(r.push_json) as Notification) : null,
      firstPushAt: n(r.first_push_at),
      lastPushAt: n(r.last_push_at),
      updatedAt: Number(r.updated_at),
    };
  }

  /** Records a decision that sends nothing (the push state and the last push stay as they were). */
  async saveDecision(reviewId: string, tenantId: string, decision: string, detail: string, now: number): Promise<void> {
    await this.db.run(
      `INSERT INTO review_notifications (review_id, tenant_id, decision, decision_detail, push_seq, updated_at)
       VALUES (?, ?, ?, ?, 0, ?)
       ON CONFLICT (review_id) DO UPDATE SET decision = excluded.decision, decision_detail = excluded.decision_detail,
         updated_at = excluded.updated_at`,
      [reviewId, tenantId, decision, detail, now],
    );
  }

  /**
   * Claims the next push of the item: push_seq + 1, state `sending`, the notification recorded before it is sent.
   * Returns the push's seq.
   */
  async claimPush(
    reviewId: string,
    tenantId: string,
    decision: string,
    notification: Notification,
    now: number,
  ): Promise<number> {
    const r = await this.db.get<{ push_seq: number }>(
      `INSERT INTO review_notifications (review_id, tenant_id, decision, decision_detail, push_state, push_seq,
         push_json, first_push_at, last_push_at, updated_at)
       VALUES (?, ?, ?, ?, 'sending', 1, ?, ?, ?, ?)
       ON CONFLICT (review_id) DO UPDATE SET decision = excluded.decision,
         decision_detail = excluded.decision_detail, push_state = 'sending',
         push_seq = review_notifications.push_seq + 1, push_json = excluded.push_json,
         first_push_at = COALESCE(review_notifications.first_push_at, excluded.first_push_at),
         last_push_at = excluded.last_push_at, updated_at = excluded.updated_at
       RETURNING push_seq`,
      [reviewId, tenantId, decision, notification.title, JSON.stringify(notification), now, now, now],
    );
    if (!r) throw new Error(`claiming the push of review item ${reviewId} returned nothing`);
    return Number(r.push_seq);
  }

  /** Target ids whose delivery of push `seq` is settled (sent, invalid, failed); a resend skips them. */
  async settledTargets(reviewId: string, seq: number): Promise<Set<string>> {
    const rows = await this.db.all<{ target_id: string; status: string }>(
      'SELECT target_id, status FROM review_deliveries WHERE review_id = ? AND push_seq = ?',
      [reviewId, seq],
    );
    return new Set(rows.filter((r) => SETTLED.has(r.status)).map((r) => r.target_id));
  }

  /** The per-token outcomes of push `seq` and, when `final`, the push as sent — in one transaction. */
  async recordDeliveries(
    reviewId: string,
    seq: number,
    results: readonly PushResult[],
    final: boolean,
    now: number,
  ): Promise<void> {
    await this.db.tx(async (x) => {
      for (const { target, outcome, attempts } of results) {
        if (target.id === undefined) continue;
        await x.run(
          `INSERT INTO review_deliveries (review_id, push_seq, target_id, platform, status, http_status, reason,
             attempts, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (review_id, push_seq, target_id) DO UPDATE SET status = excluded.status,
             http_status = excluded.http_status, reason = excluded.reason,
             attempts = review_deliveries.attempts + excluded.attempts, updated_at = excluded.updated_at`,
          [
            reviewId,
            seq,
            target.id,
            target.platform,
            outcome.status,
            outcome.httpStatus,
            outcome.reason ?? null,
            attempts,
            now,
          ],
        );
      }
      if (final)
        await x.run(
          `UPDATE review_notifications SET push_state = 'sent', updated_at = ? WHERE review_id = ? AND push_seq = ?`,
          [now, reviewId, seq],
        );
    });
  }

  /** The deliveries of the item's last push. */
  async deliveries(reviewId: string): Promise<DeliveryRecord[]> {
    const rows = await this.db.all<{
      target_id: string;
      platform: string;
      status: string;
      http_status: number | null;
      reason: string | null;
      attempts: number;
      updated_at: number;
    }>(
      `SELECT d.target_id, d.platform, d.status, d.http_status, d.reason, d.attempts, d.updated_at
         FROM review_deliveries d JOIN review_notifications r ON r.review_id = d.review_id AND r.push_seq = d.push_seq
        WHERE d.review_id = ? ORDER BY d.target_id`,
      [reviewId],
    );
    return rows.map((r) => ({
      targetId: r.target_id,
      platform: r.platform,
      status: r.status,
      httpStatus: n(r.http_status),
      reason: r.reason,
      attempts: Number(r.attempts),
      updatedAt: Number(r.updated_at),
    }));
  }

  /** What the verify jobs of these events decided so far (an event without a decision is pending). */
  async objectVerdicts(eventIds: readonly string[]): Promise<ObjectVerdict[]> {
    const ids = [...new Set(eventIds)];
    if (ids.length === 0) return [];
    const rows = await this.db.all<{
      event_id: string;
      status: Verdict;
      decision: string | null;
      classify_summary: string | null;
      classify_confidence: number | null;
      classify_threat: number | null;
      push_state: string | null;
    }>(
      `SELECT event_id, status, decision, classify_summary, classify_confidence, classify_threat, push_state
         FROM event_verifications WHERE event_id IN (${ids.map(() => '?').join(', ')})`,
      ids,
    );
    const byId = new Map(rows.map((r) => [r.event_id, r]));
    return ids.map((eventId) => {
      const r = byId.get(eventId);
      const decided = r !== undefined && r.decision !== null;
      return {
        eventId,
        verdict: decided ? r.status : null,
        reason: decided ? r.decision : null,
        summary: r?.classify_summary ?? null,
        confidence: n(r?.classify_confidence ?? null),
        threat: n(r?.classify_threat ?? null),
        pushed: r?.push_state !== null && r?.push_state !== undefined,
      };
    });
  }
}
