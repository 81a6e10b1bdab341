import { ulid } from '../../shared/ids/index.js';
import type { SqlDatabase, SqlValue } from '../db/sql.js';

/**
 * Phone push registrations (`push_tokens`): one row per (tenant, platform, token) where the token is the APNs
 * device token, the FCM registration token or the Web Push endpoint (with the subscription's p256dh/auth keys).
 * Re-registering the same token updates the row. The push caller records each delivery outcome on the row and
 * prunes tokens the provider called invalid. Each registration keeps what its owner wants to be notified of
 * (`preferences`, set by the app; the notify stage honours them). SQL for SQLite and PostgreSQL alike; the Store
 * delegates here.
 */
export type PushPlatform = 'apns' | 'fcm' | 'webpush';

/** What one phone or browser is notified of; null fields mean "no restriction". */
export interface PushPreferences {
  /** Only events / review items with one of these labels; null = every label. */
  labels: string[] | null;
  /** Only these cameras, each `<device id>/<camera>`; null = every camera. */
  cameras: string[] | null;
  /** No pushes in this daily window, local time of `timeZone` (an IANA zone); null = none. */
  quietHours: { start: string; end: string; timeZone: string } | null;
}

/** A registration nobody restricted: everything. */
export const ALL_PUSHES: PushPreferences = Object.freeze({ labels: null, cameras: null, quietHours: null });

export interface PushTokenRecord {
  id: string;
  tenantId: string;
  platform: PushPlatform;
  /** APNs/FCM token, or the Web Push endpoint URL. */
  token: string;
  /** Web Push subscription keys (base64url); null for APNs/FCM. */
  p256dh: string | null;
  auth: string | null;
  appId: string | null;
  deviceLabel: string | null;
  /** The API token that registered it. */
  apiTokenId: string | null;
  createdAt: number;
  updatedAt: number;
  /** Outcome of the last delivery: sent | retry | failed (invalid tokens are pruned). */
  lastStatus: string | null;
  lastHttpStatus: number | null;
  lastReason: string | null;
  lastAttemptAt: number | null;
  lastSentAt: number | null;
  /** Deliveries in a row that did not succeed. */
  failures: number;
  /** What it is notified of (ALL_PUSHES when never restricted). */
  preferences: PushPreferences;
}

export interface PushTokenInput {
  tenantId: string;
  platform: PushPlatform;
  token: string;
  p256dh?: string | null;
  auth?: string | null;
  appId?: string | null;
  deviceLabel?: string | null;
  apiTokenId?: string | null;
  now: number;
}

export interface PushOutcomeInput {
  status: 'sent' | 'invalid_token' | 'retry' | 'failed';
  httpStatus: number | null;
  reason?: string | undefined;
}

export interface PushTokenStore {
  /** Creates or refreshes a registration; `created` false when (tenant, platform, token) existed. */
  upsertPushToken(input: PushTokenInput): Promise<{ record: PushTokenRecord; created: boolean }>;
  listPushTokens(tenantId: string, platform?: PushPlatform): Promise<PushTokenRecord[]>;
  getPushToken(tenantId: string, id: string): Promise<PushTokenRecord | undefined>;
  /** Removes a registration of this tenant (the app unregistered); false when there is none. */
  deletePushToken(tenantId: string, id: string): Promise<boolean>;
  /** Removes a registration the provider called invalid (any tenant: the push caller holds the id). */
  pruneToken(id: string): Promise<boolean>;
  /** Notes a delivery outcome on the registration; false when it is gone. */
  recordOutcome(id: string, outcome: PushOutcomeInput, now: number): Promise<boolean>;
  /**
   * Replaces what a registration of this tenant is notified of (kept when the same token registers again);
   * undefined when the tenant has no such registration.
   */
  setPushPreferences(tenantId: string, id: string, preferences: PushPreferences): Promise<PushTokenRecord | undefined>;
}

interface Row {
  id: string;
  tenant_id: string;
  platform: PushPlatform;
  token: string;
  p256dh: string | null;
  auth: string | null;
  app_id: string | null;
  device_label: string | null;
  api_token_id: string | null;
  created_at: number | string;
  updated_at: number | string;
  last_status: string | null;
  last_http_status: number | string | null;
  last_reason: string | null;
  last_attempt_at: number | string | null;
  last_sent_at: number | string | null;
  failures: number | string;
  preferences_json: string | null;
}

const COLUMNS =
  'id, tenant_id, platform, token, p256dh, auth, app_id, device_label, api_token_id, created_at, updated_at, ' +
  'last_status, last_http_status, last_reason, last_attempt_at, last_sent_at, failures, preferences_json';

/** Stored as `{labels, cameras, quiet_hours: {start, end, time_zone}}`; NULL when nothing is restricted. */
function preferencesOf(text: string | null): PushPreferences {
  if (text === null) return ALL_PUSHES;
  const p = JSON.parse(text) as {
    labels?: string[] | null;
    cameras?: string[] | null;
    quiet_hours?: { start: string; end: string; time_zone: string } | null;
  };
  const q = p.quiet_hours ?? null;
  return {
    labels: p.labels ?? null,
    cameras: p.cameras ?? null,
    quietHours: q ? { start: q.start, end: q.end, timeZone: q.time_zone } : null,
  };
}

function preferencesJson(p: PushPreferences): string | null {
  if (p.labels === null && p.cameras === null && p.quietHours === null) return null;
  const q = p.quietHours;
  return JSON.stringify({
    labels: p.labels,
    cameras: p.cameras,
    quiet_hours: q ? { start: q.start, end: q.end, time_zone: q.timeZone } : null,
  });
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

function record(r: Row): PushTokenRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    platform: r.platform,
    token: r.token,
    p256dh: r.p256dh,
    auth: r.auth,
    appId: r.app_id,
    deviceLabel: r.device_label,
    apiTokenId: r.api_token_id,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    lastStatus: r.last_status,
    lastHttpStatus: num(r.last_http_status),
    lastReason: r.last_reason,
    lastAttemptAt: num(r.last_attempt_at),
    lastSentAt: num(r.last_sent_at),
    failures: Number(r.failures),
    preferences: preferencesOf(r.preferences_json),
  };
}

/** The push-token half of the store, over either SQL dialect. */
export class SqlPushTokens implements PushTokenStore {
  constructor(private readonly db: SqlDatabase) {}

  async upsertPushToken(input: PushTokenInput): Promise<{ record: PushTokenRecord; created: boolean }> {
    const id = `pt_${ulid(input.now)}`;
    const values: SqlValue[] = [
      id,
      input.tenantId,
      input.platform,
      input.token,
      input.p256dh ?? null,
      input.auth ?? null,
      input.appId ?? null,
      input.deviceLabel ?? null,
      input.apiTokenId ?? null,
      input.now,
      input.now,
    ];
    // A re-registration means the app is alive and the token current: new keys, a clean failure count; labels
    // change only when given.
    const row = await this.db.tx((x) =>
      x.get<Row>(
        `INSERT INTO push_tokens (id, tenant_id, platform, token, p256dh, auth, app_id, device_label, api_token_id,
         created_at, updated_at, failures)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
         ON CONFLICT (tenant_id, platform, token) DO UPDATE SET
           p256dh = excluded.p256dh,
           auth = excluded.auth,
           app_id = COALESCE(excluded.app_id, push_tokens.app_id),
           device_label = COALESCE(excluded.device_label, push_tokens.device_label),
           api_token_id = COALESCE(excluded.api_token_id, push_tokens.api_token_id),
           updated_at = excluded.updated_at,
           failures = 0
         RETURNING ${COLUMNS}`,
        values,
      ),
    );
    if (!row) throw new Error('push token upsert returned no row');
    return { record: record(row), created: row.id === id };
  }

  async listPushTokens(tenantId: string, platform?: PushPlatform): Promise<PushTokenRecord[]> {
    const rows = platform
      ? await this.db.all<Row>(
          `SELECT ${COLUMNS} FROM push_tokens WHERE tenant_id = ? AND platform = ? ORDER BY created_at, id`,
          [tenantId, platform],
        )
      : await this.db.all<Row>(`SELECT ${COLUMNS} FROM push_tokens WHERE tenant_id = ? ORDER BY created_at, id`, [
          tenantId,
        ]);
    return rows.map(record);
  }

  async getPushToken(tenantId: string, id: string): Promise<PushTokenRecord | undefined> {
    const r = await this.db.get<Row>(`SELECT ${COLUMNS} FROM push_tokens WHERE tenant_id = ? AND id = ?`, [
      tenantId,
      id,
    ]);
    return r && record(r);
  }

  async deletePushToken(tenantId: string, id: string): Promise<boolean> {
    return (await this.db.run('DELETE FROM push_tokens WHERE tenant_id = ? AND id = ?', [tenantId, id])).changes > 0;
  }

  async pruneToken(id: string): Promise<boolean> {
    return (await this.db.run('DELETE FROM push_tokens WHERE id = ?', [id])).changes > 0;
  }

  async setPushPreferences(
    tenantId: string,
    id: string,
    preferences: PushPreferences,
  ): Promise<PushTokenRecord | undefined> {
    const r = await this.db.tx((x) =>
      x.get<Row>(`UPDATE push_tokens SET preferences_json = ? WHERE tenant_id = ? AND id = ? RETURNING ${COLUMNS}`, [
        preferencesJson(preferences),
        tenantId,
        id,
      ]),
    );
    return r && record(r);
  }

  async recordOutcome(id: string, outcome: PushOutcomeInput, now: number): Promise<boolean> {
    const sent = outcome.status === 'sent';
    const r = await this.db.run(
      `UPDATE push_tokens SET
         last_status = ?, last_http_status = ?, last_reason = ?, last_attempt_at = ?,
         last_sent_at = CASE WHEN ? = 1 THEN ? ELSE last_sent_at END,
         failures = CASE WHEN ? = 1 THEN 0 ELSE failures + 1 END
       WHERE id = ?`,
      [
        outcome.status,
        outcome.httpStatus,
        outcome.reason?.slice(0, 200) ?? null,
        now,
        sent ? 1 : 0,
        now,
        sent ? 1 : 0,
        id,
      ],
    );
    return r.changes > 0;
  }
}
