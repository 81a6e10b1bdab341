import { VigilError } from '../../shared/errors/index.js';
import { ulid } from '../../shared/ids/index.js';
import { applyEventMessage, durationOf, eventFields, type EventState } from './event-apply.js';
import { endLostEvents, endReasonOf, type LostEventEnd } from './event-sweep.js';
import { eventMessageView } from './event-view.js';
import { schemaVersion } from '../db/migrate.js';
import { SqlPushTokens, type PushOutcomeInput, type PushPlatform, type PushTokenInput, type PushTokenRecord } from './push-tokens.js';
import type { SqlDatabase, SqlExecutor, SqlValue } from '../db/sql.js';
import type {
  ApiTokenRecord,
  DeviceKeyRecord,
  DeviceRecord,
  DeviceStatusRecord,
  EventCursor,
  EventFilter,
  EventMessageInput,
  StoreEventResult,
  StoreNonceClaim,
  EventPage,
  EventsStoredHook,
  EventRecord,
  HeartbeatInput,
  LabelDayCount,
  NewDeviceKey,
  PairingCodeRecord,
  Role,
  Store,
  TenantRecord,
  ThumbnailInput,
  ThumbnailRecord,
} from './store.js';

/** The Store over either SQL dialect, on a migrated database (cloud/db: openDatabase). */

interface TokenRow {
  id: string;
  tenant_id: string;
  name: string;
  role: Role;
  created_at: number;
  revoked_at: number | null;
}
interface CodeRow {
  id: string;
  tenant_id: string;
  name: string | null;
  hint: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  used_by_device: string | null;
  revoked_at: number | null;
}
interface DeviceRow {
  id: string;
  tenant_id: string;
  name: string | null;
  created_at: number;
  revoked_at: number | null;
}
interface KeyRow {
  device_id: string;
  key_id: string;
  secret_sealed: string;
  status: 'active' | 'retired';
  created_at: number;
  retired_at: number | null;
}
interface StatusRow {
  device_id: string;
  last_seen_at: number | null;
  last_heartbeat_at: number | null;
  clock_skew_ms: number | null;
  version: string | null;
  outbox_depth: number | null;
  dropped: number | null;
  cameras_json: string | null;
  heartbeat_json: string | null;
  boot_id: string | null;
  boot_started_at: number | null;
  boot_seen_at: number | null;
}
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
interface ThumbRow {
  event_id: string;
  tenant_id: string;
  device_id: string;
  blob_key: string;
  sha256: string;
  size: number;
  content_type: string;
  created_at: number;
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));
const json = (text: string | null): unknown => (text === null ? null : (JSON.parse(text) as unknown));

const token = (r: TokenRow): ApiTokenRecord => ({ id: r.id, tenantId: r.tenant_id, name: r.name, role: r.role, createdAt: Number(r.created_at), revokedAt: num(r.revoked_at) });
const code = (r: CodeRow): PairingCodeRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  hint: r.hint,
  createdAt: Number(r.created_at),
  expiresAt: Number(r.expires_at),
  usedAt: num(r.used_at),
  usedByDevice: r.used_by_device,
  revokedAt: num(r.revoked_at),
});
const device = (r: DeviceRow): DeviceRecord => ({ id: r.id, tenantId: r.tenant_id, name: r.name, createdAt: Number(r.created_at), revokedAt: num(r.revoked_at) });
const key = (r: KeyRow): DeviceKeyRecord => ({
  deviceId: r.device_id,
  keyId: r.key_id,
  secretSealed: r.secret_sealed,
  status: r.status,
  createdAt: Number(r.created_at),
  retiredAt: num(r.retired_at),
});
const status = (r: StatusRow): DeviceStatusRecord => ({
  deviceId: r.device_id,
  lastSeenAt: num(r.last_seen_at),
  lastHeartbeatAt: num(r.last_heartbeat_at),
  clockSkewMs: num(r.clock_skew_ms),
  version: r.version,
  outboxDepth: num(r.outbox_depth),
  dropped: num(r.dropped),
  cameras: json(r.cameras_json),
  heartbeat: json(r.heartbeat_json),
  bootId: r.boot_id ?? null,
  bootStartedAt: num(r.boot_started_at ?? null),
  bootSeenAt: num(r.boot_seen_at ?? null),
});
const thumb = (r: ThumbRow): ThumbnailRecord => ({
  tenantId: r.tenant_id,
  deviceId: r.device_id,
  eventId: r.event_id,
  blobKey: r.blob_key,
  sha256: r.sha256,
  size: Number(r.size),
  contentType: r.content_type,
  createdAt: Number(r.created_at),
});

const DEVICE_COLUMNS = 'id, tenant_id, name, created_at, revoked_at';
const TOKEN_COLUMNS = 'id, tenant_id, name, role, created_at, revoked_at';
const EVENT_COLUMNS = `e.id, e.tenant_id, e.device_id, e.camera, e.label, e.score, e.box_json, e.started_at, e.ended_at, e.duration_ms,
  e.status, e.last_rev, e.thumbnail_sha256, e.thumbnail_size, e.created_at, e.updated_at, e.message_json, e.end_reason`;
const THUMB_COLUMNS = 't.blob_key AS t_blob_key, t.sha256 AS t_sha256, t.size AS t_size, t.content_type AS t_content_type, t.created_at AS t_created_at';
type EventJoinRow = EventRow & { t_blob_key: string | null; t_sha256: string | null; t_size: number | null; t_content_type: string | null; t_created_at: number | null };

function event(r: EventJoinRow): EventRecord {
  const message = json(r.message_json);
  return {
    id: r.id,
    tenantId: r.tenant_id,
    deviceId: r.device_id,
    camera: r.camera,
    label: r.label,
    score: Number(r.score),
    box: json(r.box_json),
    startedAt: Number(r.started_at),
    endedAt: num(r.ended_at),
    durationMs: num(r.duration_ms),
    status: r.status,
    lastRev: Number(r.last_rev),
    endReason: endReasonOf(r.end_reason),
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
    message,
    ...eventMessageView(message, Number(r.score)),
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
  if (f.deviceId !== undefined) (clauses.push('e.device_id = ?'), params.push(f.deviceId));
  if (f.camera !== undefined) (clauses.push('e.camera = ?'), params.push(f.camera));
  if (f.label !== undefined) (clauses.push('e.label = ?'), params.push(f.label));
  if (f.status !== undefined) (clauses.push('e.status = ?'), params.push(f.status));
  if (f.since !== undefined) (clauses.push('e.started_at >= ?'), params.push(f.since));
  if (f.until !== undefined) (clauses.push('e.started_at < ?'), params.push(f.until));
  return { where: clauses.join(' AND '), params };
}

const DAY_MS = 86_400_000;

export class SqlStore implements Store {
  readonly kind: 'sqlite' | 'postgres';

  private readonly eventHooks: EventsStoredHook[] = [];

  constructor(private readonly db: SqlDatabase) {
    this.kind = db.dialect;
  }

  onEventsStored(hook: EventsStoredHook): void {
    this.eventHooks.push(hook);
  }

  async ping(): Promise<void> {
    await this.db.get('SELECT 1 AS ok');
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  schemaVersion(): Promise<number> {
    return schemaVersion(this.db);
  }

  async ensureTenant(id: string, name: string = id): Promise<TenantRecord> {
    await this.db.run('INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING', [id, name, Date.now()]);
    const r = await this.db.get<{ id: string; name: string; created_at: number }>('SELECT id, name, created_at FROM tenants WHERE id = ?', [id]);
    if (!r) throw new VigilError('internal_error', `tenant ${id} vanished`);
    return { id: r.id, name: r.name, createdAt: Number(r.created_at) };
  }

  // --- API tokens ---

  async createApiToken(input: { tenantId: string; name: string; role: Role; tokenSha256: string; now: number }): Promise<ApiTokenRecord> {
    await this.ensureTenant(input.tenantId);
    const id = `tok_${ulid(input.now)}`;
    await this.db.run('INSERT INTO api_tokens (id, tenant_id, name, role, token_sha256, created_at) VALUES (?, ?, ?, ?, ?, ?)', [
      id,
      input.tenantId,
      input.name,
      input.role,
      input.tokenSha256,
      input.now,
    ]);
    return { id, tenantId: input.tenantId, name: input.name, role: input.role, createdAt: input.now, revokedAt: null };
  }

  async findApiToken(tokenSha256: string): Promise<ApiTokenRecord | undefined> {
    const r = await this.db.get<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE token_sha256 = ?`, [tokenSha256]);
    return r && token(r);
  }

  async listApiTokens(tenantId: string): Promise<ApiTokenRecord[]> {
    const rows = await this.db.all<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE tenant_id = ? ORDER BY created_at, id`, [tenantId]);
    return rows.map(token);
  }

  async revokeApiToken(tenantId: string, id: string, now: number): Promise<boolean> {
    const r = await this.db.run('UPDATE api_tokens SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL', [now, tenantId, id]);
    return r.changes > 0;
  }

  // --- pairing codes ---

  async createPairingCode(input: { tenantId: string; name: string | null; codeSha256: string; hint: string; now: number; expiresAt: number }): Promise<PairingCodeRecord> {
    await this.ensureTenant(input.tenantId);
    const id = `pc_${ulid(input.now)}`;
    await this.db.run('INSERT INTO pairing_codes (id, tenant_id, name, code_sha256, hint, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      id,
      input.tenantId,
      input.name,
      input.codeSha256,
      input.hint,
      input.now,
      input.expiresAt,
    ]);
    return { id, tenantId: input.tenantId, name: input.name, hint: input.hint, createdAt: input.now, expiresAt: input.expiresAt, usedAt: null, usedByDevice: null, revokedAt: null };
  }

  async listPairingCodes(tenantId: string): Promise<PairingCodeRecord[]> {
    const rows = await this.db.all<CodeRow>(
      'SELECT id, tenant_id, name, hint, created_at, expires_at, used_at, used_by_device, revoked_at FROM pairing_codes WHERE tenant_id = ? ORDER BY created_at DESC, id DESC',
      [tenantId],
    );
    return rows.map(code);
  }

  async revokePairingCode(tenantId: string, idOrSha256: string, now: number): Promise<boolean> {
    const r = await this.db.run(
      'UPDATE pairing_codes SET revoked_at = ? WHERE tenant_id = ? AND (id = ? OR code_sha256 = ?) AND revoked_at IS NULL AND used_at IS NULL',
      [now, tenantId, idOrSha256, idOrSha256],
    );
    return r.changes > 0;
  }

  async consumePairingCode(input: { codeSha256: string; now: number; deviceId: string; deviceName: string | null; key: NewDeviceKey }): Promise<{ device: DeviceRecord; code: PairingCodeRecord }> {
    return this.db.tx(async (x) => {
      // The conditional UPDATE is the single-use guarantee: concurrent exchanges serialise on the row (PostgreSQL
      // re-checks the WHERE after the lock; SQLite write transactions are exclusive), and only one sees a change.
      const claimed = await x.get<CodeRow>(
        `UPDATE pairing_codes SET used_at = ?, used_by_device = ?
          WHERE code_sha256 = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?
          RETURNING id, tenant_id, name, hint, created_at, expires_at, used_at, used_by_device, revoked_at`,
        [input.now, input.deviceId, input.codeSha256, input.now],
      );
      if (!claimed) {
        const r = await x.get<CodeRow>('SELECT id, tenant_id, name, hint, created_at, expires_at, used_at, used_by_device, revoked_at FROM pairing_codes WHERE code_sha256 = ?', [
          input.codeSha256,
        ]);
        if (!r || r.revoked_at !== null) throw new VigilError('pairing_code_invalid', 'unknown or revoked pairing code', { status: 400 });
        if (r.used_at !== null) throw new VigilError('pairing_code_used', 'this pairing code has already been used; create a new one', { status: 409 });
        throw new VigilError('pairing_code_expired', `this pairing code expired at ${new Date(Number(r.expires_at)).toISOString()}; create a new one`, { status: 410 });
      }
      const name = input.deviceName ?? claimed.name;
      await x.run('INSERT INTO devices (id, tenant_id, name, created_at) VALUES (?, ?, ?, ?)', [input.deviceId, claimed.tenant_id, name, input.now]);
      await x.run("INSERT INTO device_keys (device_id, key_id, secret_sealed, status, created_at) VALUES (?, ?, ?, 'active', ?)", [
        input.deviceId,
        input.key.keyId,
        input.key.secretSealed,
        input.now,
      ]);
      await x.run('INSERT INTO device_status (device_id) VALUES (?)', [input.deviceId]);
      return { code: code(claimed), device: { id: input.deviceId, tenantId: claimed.tenant_id, name, createdAt: input.now, revokedAt: null } };
    });
  }

  // --- devices and keys ---

  async getDevice(tenantId: string, deviceId: string): Promise<DeviceRecord | undefined> {
    const r = await this.db.get<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE tenant_id = ? AND id = ?`, [tenantId, deviceId]);
    return r && device(r);
  }

  async findDevice(deviceId: string): Promise<DeviceRecord | undefined> {
    const r = await this.db.get<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = ?`, [deviceId]);
    return r && device(r);
  }

  async listDevices(tenantId: string): Promise<DeviceRecord[]> {
    const rows = await this.db.all<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE tenant_id = ? ORDER BY created_at, id`, [tenantId]);
    return rows.map(device);
  }

  async revokeDevice(tenantId: string, deviceId: string, now: number): Promise<boolean> {
    return this.db.tx(async (x) => {
      const r = await x.run('UPDATE devices SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL', [now, tenantId, deviceId]);
      if (r.changes === 0) return false;
      await x.run("UPDATE device_keys SET status = 'retired', retired_at = ? WHERE device_id = ? AND status = 'active'", [now, deviceId]);
      return true;
    });
  }

  async activeDeviceKeys(deviceId: string): Promise<DeviceKeyRecord[] | undefined> {
    const rows = await this.db.all<KeyRow & { revoked_at: number | null }>(
      `SELECT k.device_id, k.key_id, k.secret_sealed, k.status, k.created_at, k.retired_at, d.revoked_at
         FROM devices d JOIN device_keys k ON k.device_id = d.id
        WHERE d.id = ? AND d.revoked_at IS NULL AND k.status = 'active'
        ORDER BY k.created_at DESC, k.key_id DESC`,
      [deviceId],
    );
    return rows.length === 0 ? undefined : rows.map(key);
  }

  async listDeviceKeys(tenantId: string, deviceId: string): Promise<DeviceKeyRecord[] | undefined> {
    if (!(await this.getDevice(tenantId, deviceId))) return undefined;
    const rows = await this.db.all<KeyRow>(
      'SELECT device_id, key_id, secret_sealed, status, created_at, retired_at FROM device_keys WHERE device_id = ? ORDER BY created_at, key_id',
      [deviceId],
    );
    return rows.map(key);
  }

  async addDeviceKey(tenantId: string, deviceId: string, k: NewDeviceKey, now: number): Promise<DeviceKeyRecord[] | undefined> {
    return this.db.tx(async (x) => {
      const d = await x.get<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE tenant_id = ? AND id = ?${this.db.forUpdate}`, [tenantId, deviceId]);
      if (!d) return undefined;
      if (d.revoked_at !== null) throw new VigilError('device_revoked', `device ${deviceId} is revoked`, { status: 409 });
      await x.run("INSERT INTO device_keys (device_id, key_id, secret_sealed, status, created_at) VALUES (?, ?, ?, 'active', ?)", [deviceId, k.keyId, k.secretSealed, now]);
      const active = await x.all<KeyRow>(
        "SELECT device_id, key_id, secret_sealed, status, created_at, retired_at FROM device_keys WHERE device_id = ? AND status = 'active' ORDER BY created_at DESC, key_id DESC",
        [deviceId],
      );
      // At most two active keys: the new one and the one boxes may still sign with.
      for (const old of active.slice(2)) {
        await x.run("UPDATE device_keys SET status = 'retired', retired_at = ? WHERE device_id = ? AND key_id = ?", [now, deviceId, old.key_id]);
      }
      const rows = await x.all<KeyRow>('SELECT device_id, key_id, secret_sealed, status, created_at, retired_at FROM device_keys WHERE device_id = ? ORDER BY created_at, key_id', [deviceId]);
      return rows.map(key);
    });
  }

  async retireDeviceKey(tenantId: string, deviceId: string, keyId: string, now: number): Promise<boolean> {
    return this.db.tx(async (x) => {
      const d = await x.get<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE tenant_id = ? AND id = ?${this.db.forUpdate}`, [tenantId, deviceId]);
      if (!d) return false;
      const active = await x.all<{ key_id: string }>("SELECT key_id FROM device_keys WHERE device_id = ? AND status = 'active'", [deviceId]);
      if (!active.some((a) => a.key_id === keyId)) return false;
      if (active.length === 1 && d.revoked_at === null) {
        throw new VigilError('last_active_key', `key ${keyId} is the only active key of ${deviceId}; add a new key first or revoke the device`, { status: 409 });
      }
      await x.run("UPDATE device_keys SET status = 'retired', retired_at = ? WHERE device_id = ? AND key_id = ?", [now, deviceId, keyId]);
      return true;
    });
  }

  // --- device status ---

  async recordHeartbeat(deviceId: string, hb: HeartbeatInput, receivedAt: number): Promise<void> {
    // A boot id not seen before (a restart, or the first one): when it was seen, and when that run started
    // (collector time minus the box's uptime). The lost-event sweep counts its quiet time from it (./event-sweep.ts).
    const bootId = hb.bootId ?? null;
    const bootStartedAt = receivedAt - Math.round(Math.max(0, hb.uptimeS ?? 0) * 1000);
    const r = await this.db.run(
      `UPDATE device_status SET last_seen_at = ?, last_heartbeat_at = ?, clock_skew_ms = ?, version = ?, outbox_depth = ?, dropped = ?,
              cameras_json = ?, heartbeat_json = ?,
              boot_started_at = CASE WHEN CAST(? AS TEXT) IS NULL OR boot_id = CAST(? AS TEXT) THEN boot_started_at ELSE CAST(? AS BIGINT) END,
              boot_seen_at = CASE WHEN CAST(? AS TEXT) IS NULL OR boot_id = CAST(? AS TEXT) THEN boot_seen_at ELSE CAST(? AS BIGINT) END,
              boot_id = COALESCE(CAST(? AS TEXT), boot_id)
        WHERE device_id = ? AND (last_heartbeat_at IS NULL OR last_heartbeat_at <= ?)`,
      [
        ...[receivedAt, receivedAt, hb.skewMs, hb.version, hb.outboxDepth, hb.dropped, JSON.stringify(hb.cameras ?? null), JSON.stringify(hb.message ?? null)],
        ...[bootId, bootId, bootStartedAt, bootId, bootId, receivedAt, bootId],
        deviceId,
        receivedAt,
      ],
    );
    if (r.changes > 0) return;
    if (await this.db.get('SELECT device_id FROM device_status WHERE device_id = ?', [deviceId])) return; // an older heartbeat, overtaken
    if (!(await this.findDevice(deviceId))) throw new VigilError('unknown_device', `unknown device ${deviceId}`, { status: 401 });
    await this.db.run('INSERT INTO device_status (device_id) VALUES (?) ON CONFLICT (device_id) DO NOTHING', [deviceId]);
    await this.recordHeartbeat(deviceId, hb, receivedAt);
  }

  async touchDevice(deviceId: string, seenAt: number, skewMs?: number): Promise<void> {
    await this.db.run(
      'UPDATE device_status SET last_seen_at = ?, clock_skew_ms = COALESCE(?, clock_skew_ms) WHERE device_id = ? AND (last_seen_at IS NULL OR last_seen_at < ?)',
      [seenAt, skewMs === undefined ? null : Math.round(skewMs), deviceId, seenAt],
    );
  }

  endLostEvents(now: number, lostAfterMs: number, limit?: number): Promise<LostEventEnd[]> {
    return endLostEvents(this.db, { now, lostAfterMs, ...(limit === undefined ? {} : { limit }) });
  }

  async getDeviceStatus(deviceId: string): Promise<DeviceStatusRecord | undefined> {
    const r = await this.db.get<StatusRow>('SELECT * FROM device_status WHERE device_id = ?', [deviceId]);
    return r && status(r);
  }

  async listDeviceStatus(tenantId: string): Promise<DeviceStatusRecord[]> {
    const rows = await this.db.all<StatusRow>('SELECT s.* FROM device_status s JOIN devices d ON d.id = s.device_id WHERE d.tenant_id = ?', [tenantId]);
    return rows.map(status);
  }

  // --- events ---

  async storeEventMessages(deviceId: string, messages: readonly EventMessageInput[], receivedAt: number, nonce?: StoreNonceClaim): Promise<StoreEventResult[]> {
    // Parse before the transaction: a malformed message fails the request without holding the write lock.
    const parsed = messages.map((m) => ({ m, fields: eventFields(m.event) }));
    return this.db.tx(async (x) => {
      // The request's nonce commits with its events or not at all: a replay found here throws, rolling back.
      if (nonce && !(await this.claimNonce(x, deviceId, nonce.nonce, nonce.expiresAt, nonce.now)) && nonce.onReplay === 'reject') {
        throw new VigilError('nonce_replayed', 'nonce already used within the replay window', { status: 401 });
      }
      const d = await x.get<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = ?`, [deviceId]);
      if (!d) throw new VigilError('unknown_device', `unknown device ${deviceId}`, { status: 401 });
      if (d.revoked_at !== null) throw new VigilError('device_revoked', `device ${deviceId} is revoked`, { status: 403 });
      const results: StoreEventResult[] = [];
      for (const { m, fields } of parsed) results.push(await this.storeOne(x, d.tenant_id, deviceId, m, fields, receivedAt));
      const stored = results.filter((r) => r.status === 'stored').map((r) => r.id);
      if (stored.length > 0) for (const hook of this.eventHooks) await hook(x, { tenantId: d.tenant_id, deviceId, eventIds: stored });
      await x.run('UPDATE device_status SET last_seen_at = ? WHERE device_id = ? AND (last_seen_at IS NULL OR last_seen_at < ?)', [receivedAt, deviceId, receivedAt]);
      return results;
    });
  }

  private async storeOne(
    x: SqlExecutor,
    tenantId: string,
    deviceId: string,
    m: EventMessageInput,
    fields: ReturnType<typeof eventFields>,
    now: number,
  ): Promise<StoreEventResult> {
    const base = { id: m.id, rev: m.rev };
    if (fields.id !== m.id || fields.rev !== m.rev) {
      return { ...base, status: 'rejected', code: 'invalid_message', message: `id/rev (${m.id}, ${m.rev}) differ from the event body (${fields.id}, ${fields.rev})` };
    }
    if (this.db.dialect === 'postgres') return this.storeOneStatement(x, tenantId, deviceId, m, fields, now);
    // Ownership first: an id another device already uses is rejected before anything is written.
    const owner = await x.get<{ device_id: string }>('SELECT device_id FROM events WHERE id = ?', [m.id]);
    if (owner && owner.device_id !== deviceId) {
      return { ...base, status: 'rejected', code: 'event_conflict', message: `event id ${m.id} belongs to another device` };
    }
    const recorded = await x.get<{ event_id: string }>(
      `INSERT INTO event_messages (device_id, event_id, rev, content_sha256, received_at, message_json) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (device_id, event_id, rev) DO NOTHING RETURNING event_id`,
      [deviceId, m.id, m.rev, m.contentSha256, now, JSON.stringify(m.event)],
    );
    if (!recorded) {
      const seen = await x.get<{ content_sha256: string }>('SELECT content_sha256 FROM event_messages WHERE device_id = ? AND event_id = ? AND rev = ?', [deviceId, m.id, m.rev]);
      if (seen?.content_sha256 === m.contentSha256) return { ...base, status: 'duplicate' };
      return { ...base, status: 'conflict', code: 'event_conflict', message: `event ${m.id} rev ${m.rev} was already received with different content` };
    }
    // A thumbnail may have arrived before the event's first message.
    const early = await x.get<{ sha256: string; size: number }>('SELECT sha256, size FROM thumbnails WHERE event_id = ? AND device_id = ?', [m.id, deviceId]);
    // Insert-or-lock: a concurrent first message of the same event on another collector waits on the unique id.
    const inserted = await x.get<{ id: string }>(
      `INSERT INTO events (camera, label, score, box_json, started_at, ended_at, duration_ms, status, last_rev, message_json, end_reason,
                           id, tenant_id, device_id, thumbnail_sha256, thumbnail_size, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [...eventColumns(applyEventMessage(undefined, fields).next), m.id, tenantId, deviceId, early?.sha256 ?? null, early ? Number(early.size) : null, now, now],
    );
    if (inserted) return { ...base, status: 'stored' };
    return this.applyToEvent(x, undefined, deviceId, m, fields, now);
  }

  /**
   * A recorded message of an event that already exists: applies it to the (locked) event row. `row` when the
   * caller already holds it locked; else it is read here with FOR UPDATE.
   */
  private async applyToEvent(x: SqlExecutor, locked: EventRow | undefined, deviceId: string, m: EventMessageInput, fields: ReturnType<typeof eventFields>, now: number): Promise<StoreEventResult> {
    const base = { id: m.id, rev: m.rev };
    const row = locked ?? (await x.get<EventRow>(`SELECT * FROM events WHERE id = ?${this.db.forUpdate}`, [m.id]));
    if (!row) throw new VigilError('internal_error', `event ${m.id} neither inserted nor found`);
    if (row.device_id !== deviceId) {
      // Lost a race with another device's first message of the same id: undo this message's history row.
      await x.run('DELETE FROM event_messages WHERE device_id = ? AND event_id = ? AND rev = ?', [deviceId, m.id, m.rev]);
      return { ...base, status: 'rejected', code: 'event_conflict', message: `event id ${m.id} belongs to another device` };
    }
    const { next, changed } = applyEventMessage(stateOf(row), fields);
    if (changed) {
      await x.run(
        `UPDATE events SET camera = ?, label = ?, score = ?, box_json = ?, started_at = ?, ended_at = ?, duration_ms = ?, status = ?, last_rev = ?,
                message_json = ?, end_reason = ?, updated_at = ? WHERE id = ?`,
        [...eventColumns(next), now, m.id],
      );
    }
    return { ...base, status: 'stored' };
  }

  /**
   * PostgreSQL: storeOne's steps for one message in ONE statement (a round trip each costs more than the work):
   * lock the event row if it exists, record the message unless another device owns the id, and insert the event
   * when it is new — with its early thumbnail, if one came first. Sub-statements of a WITH see one snapshot, so the
   * RETURNING flags are what decide; every rarer outcome (duplicate, conflict, update, a race with another collector
   * inserting the same id) takes one more statement, with storeOne's own logic.
   */
  private async storeOneStatement(x: SqlExecutor, tenantId: string, deviceId: string, m: EventMessageInput, fields: ReturnType<typeof eventFields>, now: number): Promise<StoreEventResult> {
    const base = { id: m.id, rev: m.rev };
    const fresh = eventColumns(applyEventMessage(undefined, fields).next);
    const r = await x.get<Partial<EventRow> & { recorded: boolean; inserted: boolean }>(
      `WITH cur AS (SELECT * FROM events WHERE id = ? FOR UPDATE),
            msg AS (
              INSERT INTO event_messages (device_id, event_id, rev, content_sha256, received_at, message_json)
              SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT)
               WHERE NOT EXISTS (SELECT 1 FROM cur WHERE cur.device_id <> ?)
              ON CONFLICT (device_id, event_id, rev) DO NOTHING RETURNING event_id),
            early AS (SELECT sha256, size FROM thumbnails WHERE event_id = ? AND device_id = ?),
            ins AS (
              INSERT INTO events (camera, label, score, box_json, started_at, ended_at, duration_ms, status, last_rev, message_json, end_reason,
                                  id, tenant_id, device_id, thumbnail_sha256, thumbnail_size, created_at, updated_at)
              SELECT CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS DOUBLE PRECISION), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS BIGINT),
                     CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT),
                     CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), (SELECT sha256 FROM early), (SELECT size FROM early), CAST(? AS BIGINT), CAST(? AS BIGINT)
               WHERE EXISTS (SELECT 1 FROM msg) AND NOT EXISTS (SELECT 1 FROM cur)
              ON CONFLICT (id) DO NOTHING RETURNING id)
       SELECT cur.*, EXISTS (SELECT 1 FROM msg) AS recorded, EXISTS (SELECT 1 FROM ins) AS inserted
         FROM (SELECT 1) AS one LEFT JOIN cur ON TRUE`,
      [m.id, deviceId, m.id, m.rev, m.contentSha256, now, JSON.stringify(m.event), deviceId, m.id, deviceId, ...fresh, m.id, tenantId, deviceId, now, now],
    );
    if (!r) throw new VigilError('internal_error', `storing event ${m.id} returned no row`);
    const row = r.id === null || r.id === undefined ? undefined : (r as EventRow);
    if (row && row.device_id !== deviceId) {
      return { ...base, status: 'rejected', code: 'event_conflict', message: `event id ${m.id} belongs to another device` };
    }
    if (!r.recorded) {
      const seen = await x.get<{ content_sha256: string }>('SELECT content_sha256 FROM event_messages WHERE device_id = ? AND event_id = ? AND rev = ?', [deviceId, m.id, m.rev]);
      if (seen?.content_sha256 === m.contentSha256) return { ...base, status: 'duplicate' };
      return { ...base, status: 'conflict', code: 'event_conflict', message: `event ${m.id} rev ${m.rev} was already received with different content` };
    }
    if (r.inserted) return { ...base, status: 'stored' };
    // Recorded, not inserted: the event exists (locked above), or another collector inserted it meanwhile.
    return this.applyToEvent(x, row, deviceId, m, fields, now);
  }

  async findDeviceEvent(deviceId: string, eventId: string): Promise<EventRecord | undefined> {
    const r = await this.db.get<EventJoinRow>(
      `SELECT ${EVENT_COLUMNS}, ${THUMB_COLUMNS} FROM events e LEFT JOIN thumbnails t ON t.event_id = e.id AND t.device_id = e.device_id
        WHERE e.device_id = ? AND e.id = ?`,
      [deviceId, eventId],
    );
    return r && event(r);
  }

  async getEvent(tenantId: string, eventId: string): Promise<EventRecord | undefined> {
    const r = await this.db.get<EventJoinRow>(
      `SELECT ${EVENT_COLUMNS}, ${THUMB_COLUMNS} FROM events e LEFT JOIN thumbnails t ON t.event_id = e.id AND t.device_id = e.device_id
        WHERE e.tenant_id = ? AND e.id = ?`,
      [tenantId, eventId],
    );
    return r && event(r);
  }

  async listEvents(tenantId: string, filter: EventFilter, limit: number, after?: EventCursor): Promise<EventPage> {
    const { where, params } = filterSql(tenantId, filter);
    let cursorSql = '';
    if (after) {
      cursorSql = ' AND (e.started_at < ? OR (e.started_at = ? AND e.id < ?))';
      params.push(after.startedAt, after.startedAt, after.id);
    }
    const rows = await this.db.all<EventJoinRow>(
      `SELECT ${EVENT_COLUMNS}, ${THUMB_COLUMNS} FROM events e LEFT JOIN thumbnails t ON t.event_id = e.id AND t.device_id = e.device_id
        WHERE ${where}${cursorSql} ORDER BY e.started_at DESC, e.id DESC LIMIT ?`,
      [...params, limit + 1],
    );
    const events = rows.slice(0, limit).map(event);
    const last = events[events.length - 1];
    return { events, next: rows.length > limit && last ? { startedAt: last.startedAt, id: last.id } : null };
  }

  async countEventsByLabelDay(tenantId: string, filter: EventFilter): Promise<LabelDayCount[]> {
    const { where, params } = filterSql(tenantId, filter);
    // Integer division works the same in both dialects; the day is formatted here.
    const rows = await this.db.all<{ day: number; label: string; n: number }>(
      `SELECT e.started_at / ${DAY_MS} AS day, e.label AS label, COUNT(*) AS n FROM events e WHERE ${where} GROUP BY e.started_at / ${DAY_MS}, e.label ORDER BY day, label`,
      params,
    );
    return rows.map((r) => ({ day: new Date(Number(r.day) * DAY_MS).toISOString().slice(0, 10), label: r.label, count: Number(r.n) }));
  }

  // --- thumbnails ---

  async recordThumbnail(input: ThumbnailInput, receivedAt: number, options: { replace?: boolean } = {}): Promise<'stored' | 'duplicate' | 'conflict'> {
    return this.db.tx(async (x) => {
      const d = await x.get<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = ?`, [input.deviceId]);
      if (!d) throw new VigilError('unknown_device', `unknown device ${input.deviceId}`, { status: 401 });
      if (d.revoked_at !== null) throw new VigilError('device_revoked', `device ${input.deviceId} is revoked`, { status: 403 });
      const owner = await x.get<{ device_id: string }>('SELECT device_id FROM events WHERE id = ?', [input.eventId]);
      if (owner && owner.device_id !== input.deviceId) return 'conflict';
      const inserted = await x.get<{ event_id: string }>(
        `INSERT INTO thumbnails (event_id, tenant_id, device_id, blob_key, sha256, size, content_type, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
        [input.eventId, d.tenant_id, input.deviceId, input.blobKey, input.sha256, input.size, input.contentType, receivedAt],
      );
      if (!inserted) {
        const existing = await x.get<ThumbRow>(`SELECT * FROM thumbnails WHERE event_id = ?${this.db.forUpdate}`, [input.eventId]);
        if (!existing || existing.device_id !== input.deviceId) return 'conflict';
        if (existing.sha256 === input.sha256) return 'duplicate';
        if (!options.replace) return 'conflict';
        await x.run('UPDATE thumbnails SET blob_key = ?, sha256 = ?, size = ?, content_type = ?, created_at = ? WHERE event_id = ?', [
          input.blobKey,
          input.sha256,
          input.size,
          input.contentType,
          receivedAt,
          input.eventId,
        ]);
      }
      await x.run('UPDATE events SET thumbnail_sha256 = ?, thumbnail_size = ?, updated_at = ? WHERE id = ? AND device_id = ?', [
        input.sha256,
        input.size,
        receivedAt,
        input.eventId,
        input.deviceId,
      ]);
      return 'stored';
    });
  }

  async findDeviceThumbnail(deviceId: string, eventId: string): Promise<ThumbnailRecord | undefined> {
    const r = await this.db.get<ThumbRow>('SELECT * FROM thumbnails WHERE device_id = ? AND event_id = ?', [deviceId, eventId]);
    return r && thumb(r);
  }

  async getThumbnail(tenantId: string, eventId: string): Promise<ThumbnailRecord | undefined> {
    const r = await this.db.get<ThumbRow>('SELECT * FROM thumbnails WHERE tenant_id = ? AND event_id = ?', [tenantId, eventId]);
    return r && thumb(r);
  }

  // --- nonces ---

  async rememberNonce(deviceId: string, nonce: string, expiresAt: number, now: number): Promise<boolean> {
    return this.claimNonce(this.db, deviceId, nonce, expiresAt, now);
  }

  async nonceRecorded(deviceId: string, nonce: string, now: number): Promise<boolean> {
    return (await this.db.get('SELECT 1 AS hit FROM nonces WHERE device_id = ? AND nonce = ? AND expires_at > ?', [deviceId, nonce, now])) !== undefined;
  }

  private async claimNonce(x: SqlExecutor, deviceId: string, nonce: string, expiresAt: number, now: number): Promise<boolean> {
    // Inserted, or an expired record is taken over: either way exactly one caller sees a row come back.
    const r = await x.get<{ nonce: string }>(
      `INSERT INTO nonces (device_id, nonce, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (device_id, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE nonces.expires_at <= ?
       RETURNING nonce`,
      [deviceId, nonce, expiresAt, now],
    );
    return r !== undefined;
  }

  async purgeNonces(now: number): Promise<number> {
    return (await this.db.run('DELETE FROM nonces WHERE expires_at <= ?', [now])).changes;
  }

  // --- push registrations (./push-tokens.ts) ---

  private pushTokens?: SqlPushTokens;
  private get push(): SqlPushTokens {
    return (this.pushTokens ??= new SqlPushTokens(this.db));
  }

  upsertPushToken(input: PushTokenInput): Promise<{ record: PushTokenRecord; created: boolean }> {
    return this.push.upsertPushToken(input);
  }

  listPushTokens(tenantId: string, platform?: PushPlatform): Promise<PushTokenRecord[]> {
    return this.push.listPushTokens(tenantId, platform);
  }

  getPushToken(tenantId: string, id: string): Promise<PushTokenRecord | undefined> {
    return this.push.getPushToken(tenantId, id);
  }

  deletePushToken(tenantId: string, id: string): Promise<boolean> {
    return this.push.deletePushToken(tenantId, id);
  }

  pruneToken(id: string): Promise<boolean> {
    return this.push.pruneToken(id);
  }

  recordOutcome(id: string, outcome: PushOutcomeInput, now: number): Promise<boolean> {
    return this.push.recordOutcome(id, outcome, now);
  }
}
