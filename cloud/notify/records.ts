import type { CachedAnswer, ClassificationCacheBackend } from '../reclassify/cache.js';
import type { Classification, ClassificationAttempt } from '../reclassify/classification.js';
import type { Notification, PushResult } from '../push/index.js';
import type { SqlDatabase, SqlExecutor } from '../db/sql.js';
import type { Decision, Verdict } from './policy.js';

/**
 * What the verify-then-notify job writes, in the collector's database (tables: cloud/db/migrations.ts):
 * the classification (stored as soon as it is known, so a crash never loses a paid answer), the policy decision,
 * the push state (`sending` is recorded BEFORE the fan-out, together with the cooldown claim; `sent` after the
 * per-token outcomes), and the per-token deliveries. Also the persistent half of the answer cache.
 */
export type PushState = 'sending' | 'sent';

export interface VerificationRecord {
  eventId: string;
  tenantId: string;
  /** classified: verified/unverified; decided: the policy's verdict. */
  status: Verdict;
  reason: string | null;
  classification: Classification | null;
  classifiedAt: number | null;
  decision: string | null;
  decisionDetail: string | null;
  pushState: PushState | null;
  pushAt: number | null;
  notification: Notification | null;
  updatedAt: number;
}

export interface DeliveryRecord {
  targetId: string;
  platform: string;
  status: string;
  httpStatus: number | null;
  reason: string | null;
  attempts: number;
  updatedAt: number;
}

interface VerificationRow {
  event_id: string;
  tenant_id: string;
  status: Verdict;
  reason: string | null;
  classify_label: string | null;
  classify_confidence: number | null;
  classify_summary: string | null;
  classify_threat: number | null;
  agrees_with_edge: number | null;
  provider: string | null;
  model: string | null;
  ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  cached: number | null;
  image_sha256: string | null;
  attempts_json: string | null;
  classified_at: number | null;
  decision: string | null;
  decision_detail: string | null;
  push_state: PushState | null;
  push_at: number | null;
  push_json: string | null;
  updated_at: number;
}

/** A notify delivery row as stored (the harness's event view reads the same columns, updated_at aside). */
export interface DeliveryRow {
  target_id: string;
  platform: string;
  status: string;
  http_status: number | null;
  reason: string | null;
  attempts: number;
  updated_at: number;
}

const n = (v: number | string | null): number | null => (v === null ? null : Number(v));
const bool = (v: boolean | null): number | null => (v === null ? null : v ? 1 : 0);

function classificationOf(r: VerificationRow): Classification | null {
  if (r.classified_at === null || r.classify_label === null || r.provider === null) return null;
  return {
    // A verified answer has no reason; every unverified one says why.
    status: r.reason === null ? 'verified' : 'unverified',
    reason: (r.reason as Classification['reason']) ?? null,
    classify_label: r.classify_label,
    classify_confidence: Number(r.classify_confidence ?? 0),
    classify_summary: r.classify_summary ?? '',
    classify_threat: n(r.classify_threat),
    agrees_with_edge: r.agrees_with_edge === null ? null : Number(r.agrees_with_edge) === 1,
    provider: r.provider,
    model: r.model,
    ms: Number(r.ms ?? 0),
    prompt_tokens: n(r.prompt_tokens),
    completion_tokens: n(r.completion_tokens),
    cached: Number(r.cached ?? 0) === 1,
    prompt_version: null,
    image_sha256: r.image_sha256,
    attempts: r.attempts_json ? (JSON.parse(r.attempts_json) as ClassificationAttempt[]) : [],
  };
}

const toRecord = (r: VerificationRow): VerificationRecord => ({
  eventId: r.event_id,
  tenantId: r.tenant_id,
  status: r.status,
  reason: r.reason,
  classification: classificationOf(r),
  classifiedAt: n(r.classified_at),
  decision: r.decision,
  decisionDetail: r.decision_detail,
  pushState: r.push_state,
  pushAt: n(r.push_at),
  notification: r.push_json ? (JSON.parse(r.push_json) as Notification) : null,
  updatedAt: Number(r.updated_at),
});

const toDelivery = (r: DeliveryRow): DeliveryRecord => ({
  targetId: r.target_id,
  platform: r.platform,
  status: r.status,
  httpStatus: n(r.http_status),
  reason: r.reason,
  attempts: Number(r.attempts),
  updatedAt: Number(r.updated_at),
});

/** Delivery outcomes after which a resend skips the token. */
const SETTLED = new Set(['sent', 'invalid_token', 'failed']);

export interface CooldownKey {
  tenantId: string;
  deviceId: string;
  camera: string;
  label: string;
}

/** The persistent half of the answer cache (table classification_cache). */
export class SqlAnswerCache implements ClassificationCacheBackend {
  constructor(private readonly db: SqlDatabase) {}

  async get(key: string): Promise<CachedAnswer | undefined> {
    const r = await this.db.get<{ answer_json: string }>(
      'SELECT answer_json FROM classification_cache WHERE cache_key = ?',
      [key],
    );
    return r ? (JSON.parse(r.answer_json) as CachedAnswer) : undefined;
  }

  async put(key: string, value: CachedAnswer): Promise<void> {
    await this.db.run(
      'INSERT INTO classification_cache (cache_key, answer_json, created_at) VALUES (?, ?, ?)' +
        ' ON CONFLICT (cache_key) DO NOTHING',
      [key, JSON.stringify(value), value.created_at],
    );
  }
}

export class NotifyRecords {
  constructor(private readonly db: SqlDatabase) {}

  async verification(eventId: string): Promise<VerificationRecord | undefined> {
    const r = await this.db.get<VerificationRow>('SELECT * FROM event_verifications WHERE event_id = ?', [eventId]);
    return r ? toRecord(r) : undefined;
  }

  /** Stores the LLM's (or the fallback's) answer; the event's status becomes verified/unverified. */
  async saveClassification(eventId: string, tenantId: string, c: Classification, now: number): Promise<void> {
    const values = [
      c.status,
      c.reason,
      c.classify_label,
      c.classify_confidence,
      c.classify_summary,
      c.classify_threat,
      bool(c.agrees_with_edge),
      c.provider,
      c.model,
      Math.round(c.ms),
      c.prompt_tokens,
      c.completion_tokens,
      c.cached ? 1 : 0,
      c.image_sha256,
      JSON.stringify(c.attempts),
      now,
      now,
    ];
    await this.db.run(
      `INSERT INTO event_verifications (status, reason, classify_label, classify_confidence, classify_summary,
         classify_threat, agrees_with_edge, provider, model, ms, prompt_tokens, completion_tokens, cached, image_sha256,
         attempts_json, classified_at, updated_at, event_id, tenant_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (event_id) DO UPDATE SET status = excluded.status, reason = excluded.reason,
         classify_label = excluded.classify_label,
         classify_confidence = excluded.classify_confidence, classify_summary = excluded.classify_summary,
         classify_threat = excluded.classify_threat,
         agrees_with_edge = excluded.agrees_with_edge, provider = excluded.provider, model = excluded.model,
         ms = excluded.ms,
         prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
         cached = excluded.cached,
         image_sha256 = excluded.image_sha256, attempts_json = excluded.attempts_json,
         classified_at = excluded.classified_at,
         updated_at = excluded.updated_at`,
      [...values, eventId, tenantId],
    );
  }

  /** Records a decision that sends nothing (the verdict becomes the event's status). */
  async saveDecision(eventId: string, tenantId: string, d: Decision, now: number): Promise<void> {
    await this.db.run(
      `INSERT INTO event_verifications (event_id, tenant_id, status, decision, decision_detail, updated_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (event_id) DO UPDATE SET status = excluded.status, decision = excluded.decision,
         decision_detail = excluded.decision_detail,
         updated_at = excluded.updated_at`,
      [eventId, tenantId, d.verdict, d.reason, d.detail, now],
    );
  }

  /** Last push for device+camera+label by another event (for the policy's cooldown). */
  async lastPushAt(key: CooldownKey, exceptEventId: string): Promise<number | null> {
    const r = await this.db.get<{ last_push_at: number; event_id: string }>(
      'SELECT last_push_at, event_id FROM notify_cooldowns WHERE tenant_id = ? AND device_id = ? AND camera = ?' +
        ' AND label = ?',
      [key.tenantId, key.deviceId, key.camera, key.label],
    );
    return r && r.event_id !== exceptEventId ? Number(r.last_push_at) : null;
  }

  /**
   * Claims the push of an event, atomically: takes the device+camera+label cooldown slot (unless another event
   * pushed within `cooldownMs`) and marks the event `sending` with the notification to send. False when the slot
   * was taken meanwhile by a concurrent job (the caller re-decides: cooldown).
   */
  async claimPush(
    eventId: string,
    key: CooldownKey,
    d: Decision,
    notification: Notification,
    now: number,
    cooldownMs: number,
  ): Promise<boolean> {
    return this.db.tx(async (x) => {
      const got = await x.get<{ event_id: string }>(
        `INSERT INTO notify_cooldowns (tenant_id, device_id, camera, label, last_push_at, event_id)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (tenant_id, device_id, camera, label) DO UPDATE SET last_push_at = excluded.last_push_at,
         event_id = excluded.event_id
         WHERE notify_cooldowns.last_push_at <= ? OR notify_cooldowns.event_id = excluded.event_id
         RETURNING event_id`,
        [key.tenantId, key.deviceId, key.camera, key.label, now, eventId, now - cooldownMs],
      );
      if (!got) return false;
      await this.upsertPush(x, eventId, key.tenantId, d, notification, now);
      return true;
    });
  }

  private async upsertPush(
    x: SqlExecutor,
    eventId: string,
    tenantId: string,
    d: Decision,
    notification: Notification,
    now: number,
  ): Promise<void> {
    await x.run(
      `INSERT INTO event_verifications (event_id, tenant_id, status, decision, decision_detail, push_state, push_at,
       push_json, updated_at)
       VALUES (?, ?, ?, ?, ?, 'sending', ?, ?, ?)
       ON CONFLICT (event_id) DO UPDATE SET status = excluded.status, decision = excluded.decision,
         decision_detail = excluded.decision_detail,
         push_state = 'sending', push_at = excluded.push_at, push_json = excluded.push_json,
         updated_at = excluded.updated_at`,
      [eventId, tenantId, d.verdict, d.reason, d.detail, now, JSON.stringify(notification), now],
    );
  }

  /** Target ids whose delivery for this event is settled (sent, invalid, failed); a resend skips them. */
  async settledTargets(eventId: string): Promise<Set<string>> {
    const rows = await this.db.all<{ target_id: string; status: string }>(
      'SELECT target_id, status FROM push_deliveries WHERE event_id = ?',
      [eventId],
    );
    return new Set(rows.filter((r) => SETTLED.has(r.status)).map((r) => r.target_id));
  }

  /**
   * Records the fan-out's per-token outcomes and, when `final`, the push as sent — in one transaction, so a push
   * is never recorded sent without its outcomes (nor outcomes without the state they belong to).
   */
  async recordDeliveries(eventId: string, results: readonly PushResult[], final: boolean, now: number): Promise<void> {
    await this.db.tx(async (x) => {
      for (const { target, outcome, attempts } of results) {
        if (target.id === undefined) continue;
        await x.run(
          `INSERT INTO push_deliveries (event_id, target_id, platform, status, http_status, reason, attempts,
           updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (event_id, target_id) DO UPDATE SET status = excluded.status,
             http_status = excluded.http_status, reason = excluded.reason,
             attempts = push_deliveries.attempts + excluded.attempts, updated_at = excluded.updated_at`,
          [
            eventId,
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
        await x.run(`UPDATE event_verifications SET push_state = 'sent', updated_at = ? WHERE event_id = ?`, [
          now,
          eventId,
        ]);
    });
  }

  async deliveries(eventId: string): Promise<DeliveryRecord[]> {
    const rows = await this.db.all<DeliveryRow>(
      'SELECT target_id, platform, status, http_status, reason, attempts, updated_at FROM push_deliveries' +
        ' WHERE event_id = ? ORDER BY target_id',
      [eventId],
    );
    return rows.map(toDelivery);
  }

  /** Tenant of an event (signed thumbnail links carry no tenant). */
  async tenantOfEvent(eventId: string): Promise<string | undefined> {
    const r = await this.db.get<{ tenant_id: string }>('SELECT tenant_id FROM events WHERE id = ?', [eventId]);
    return r?.tenant_id;
  }
}
