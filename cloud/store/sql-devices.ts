import { VigilError } from '../errors.js';
import type { CommitBatch, SqlDatabase } from '../db/sql.js';
import { endLostEvents, type LostEventEnd } from './event-sweep.js';
import { DEVICE_COLUMNS, device, json, num, type DeviceRow } from './sql-rows.js';
import type {
  DeviceKeyRecord,
  DeviceRecord,
  DeviceStatusRecord,
  HeartbeatInput,
  NewDeviceKey,
  Store,
} from './store.js';

/** A device seen at `at` (ms): stored events move its `last_seen_at` on. */
export interface DeviceSeen {
  deviceId: string;
  at: number;
}

/**
 * `last_seen_at` of the devices whose messages a commit stores, written once per device per commit (SQLite group
 * commit merges many requests into one; queued with `atCommit`, cloud/db/sql.ts). Never moves backwards.
 */
export const LAST_SEEN: CommitBatch<DeviceSeen> = {
  async flush(x, items) {
    const latest = new Map<string, number>();
    for (const { deviceId, at } of items) latest.set(deviceId, Math.max(at, latest.get(deviceId) ?? at));
    for (const [deviceId, at] of latest) {
      await x.run(
        'UPDATE device_status SET last_seen_at = ? WHERE device_id = ? AND (last_seen_at IS NULL OR last_seen_at < ?)',
        [at, deviceId, at],
      );
    }
  },
};

/**
 * Devices, their signing keys (sealed secrets; at most two active) and their status from heartbeats, SQL for both
 * dialects; the lost-event sweep itself is ./event-sweep.ts.
 */
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

type DeviceMethods = 'getDevice' | 'findDevice' | 'listDevices' | 'revokeDevice';
type KeyMethods = 'activeDeviceKeys' | 'listDeviceKeys' | 'addDeviceKey' | 'retireDeviceKey';
type StatusMethods = 'recordHeartbeat' | 'touchDevice' | 'getDeviceStatus' | 'endLostEvents' | 'listDeviceStatus';

export class SqlDevices implements Pick<Store, DeviceMethods | KeyMethods | StatusMethods> {
  constructor(private readonly db: SqlDatabase) {}

  async getDevice(tenantId: string, deviceId: string): Promise<DeviceRecord | undefined> {
    const r = await this.db.get<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE tenant_id = ? AND id = ?`, [
      tenantId,
      deviceId,
    ]);
    return r && device(r);
  }

  async findDevice(deviceId: string): Promise<DeviceRecord | undefined> {
    const r = await this.db.get<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = ?`, [deviceId]);
    return r && device(r);
  }

  async listDevices(tenantId: string): Promise<DeviceRecord[]> {
    const rows = await this.db.all<DeviceRow>(
      `SELECT ${DEVICE_COLUMNS} FROM devices WHERE tenant_id = ? ORDER BY created_at, id`,
      [tenantId],
    );
    return rows.map(device);
  }

  async revokeDevice(tenantId: string, deviceId: string, now: number): Promise<boolean> {
    return this.db.tx(async (x) => {
      const r = await x.run('UPDATE devices SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL', [
        now,
        tenantId,
        deviceId,
      ]);
      if (r.changes === 0) return false;
      await x.run(
        "UPDATE device_keys SET status = 'retired', retired_at = ? WHERE device_id = ? AND status = 'active'",
        [now, deviceId],
      );
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
      'SELECT device_id, key_id, secret_sealed, status, created_at, retired_at FROM device_keys' +
        ' WHERE device_id = ? ORDER BY created_at, key_id',
      [deviceId],
    );
    return rows.map(key);
  }

  async addDeviceKey(
    tenantId: string,
    deviceId: string,
    k: NewDeviceKey,
    now: number,
  ): Promise<DeviceKeyRecord[] | undefined> {
    return this.db.tx(async (x) => {
      const d = await x.get<DeviceRow>(
        `SELECT ${DEVICE_COLUMNS} FROM devices WHERE tenant_id = ? AND id = ?${this.db.forUpdate}`,
        [tenantId, deviceId],
      );
      if (!d) return undefined;
      if (d.revoked_at !== null) throw new VigilError('device_revoked', `device ${deviceId} is revoked`);
      await x.run(
        "INSERT INTO device_keys (device_id, key_id, secret_sealed, status, created_at) VALUES (?, ?, ?, 'active', ?)",
        [deviceId, k.keyId, k.secretSealed, now],
      );
      const active = await x.all<KeyRow>(
        'SELECT device_id, key_id, secret_sealed, status, created_at, retired_at FROM device_keys' +
          " WHERE device_id = ? AND status = 'active' ORDER BY created_at DESC, key_id DESC",
        [deviceId],
      );
      // At most two active keys: the new one and the one boxes may still sign with.
      for (const old of active.slice(2)) {
        await x.run("UPDATE device_keys SET status = 'retired', retired_at = ? WHERE device_id = ? AND key_id = ?", [
          now,
          deviceId,
          old.key_id,
        ]);
      }
      const rows = await x.all<KeyRow>(
        'SELECT device_id, key_id, secret_sealed, status, created_at, retired_at FROM device_keys' +
          ' WHERE device_id = ? ORDER BY created_at, key_id',
        [deviceId],
      );
      return rows.map(key);
    });
  }

  async retireDeviceKey(tenantId: string, deviceId: string, keyId: string, now: number): Promise<boolean> {
    return this.db.tx(async (x) => {
      const d = await x.get<DeviceRow>(
        `SELECT ${DEVICE_COLUMNS} FROM devices WHERE tenant_id = ? AND id = ?${this.db.forUpdate}`,
        [tenantId, deviceId],
      );
      if (!d) return false;
      const active = await x.all<{ key_id: string }>(
        "SELECT key_id FROM device_keys WHERE device_id = ? AND status = 'active'",
        [deviceId],
      );
      if (!active.some((a) => a.key_id === keyId)) return false;
      if (active.length === 1 && d.revoked_at === null) {
        throw new VigilError(
          'last_active_key',
          `key ${keyId} is the only active key of ${deviceId}; add a new key first or revoke the device`,
        );
      }
      await x.run("UPDATE device_keys SET status = 'retired', retired_at = ? WHERE device_id = ? AND key_id = ?", [
        now,
        deviceId,
        keyId,
      ]);
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
      `UPDATE device_status SET last_seen_at = ?, last_heartbeat_at = ?, clock_skew_ms = ?, version = ?,
              outbox_depth = ?, dropped = ?,
              cameras_json = ?, heartbeat_json = ?,
              boot_started_at = CASE WHEN CAST(? AS TEXT) IS NULL OR boot_id = CAST(? AS TEXT) THEN boot_started_at
                ELSE CAST(? AS BIGINT) END,
              boot_seen_at = CASE WHEN CAST(? AS TEXT) IS NULL OR boot_id = CAST(? AS TEXT) THEN boot_seen_at
                ELSE CAST(? AS BIGINT) END,
              boot_id = COALESCE(CAST(? AS TEXT), boot_id)
        WHERE device_id = ? AND (last_heartbeat_at IS NULL OR last_heartbeat_at <= ?)`,
      [
        ...[
          receivedAt,
          receivedAt,
          hb.skewMs,
          hb.version,
          hb.outboxDepth,
          hb.dropped,
          JSON.stringify(hb.cameras ?? null),
          JSON.stringify(hb.message ?? null),
        ],
        ...[bootId, bootId, bootStartedAt, bootId, bootId, receivedAt, bootId],
        deviceId,
        receivedAt,
      ],
    );
    if (r.changes > 0) return;
    // An older heartbeat, overtaken.
    if (await this.db.get('SELECT device_id FROM device_status WHERE device_id = ?', [deviceId])) return;
    if (!(await this.findDevice(deviceId))) throw new VigilError('unknown_device', `unknown device ${deviceId}`);
    await this.db.run('INSERT INTO device_status (device_id) VALUES (?) ON CONFLICT (device_id) DO NOTHING', [
      deviceId,
    ]);
    await this.recordHeartbeat(deviceId, hb, receivedAt);
  }

  async touchDevice(deviceId: string, seenAt: number, skewMs?: number): Promise<void> {
    await this.db.run(
      'UPDATE device_status SET last_seen_at = ?, clock_skew_ms = COALESCE(?, clock_skew_ms) WHERE device_id = ?' +
        ' AND (last_seen_at IS NULL OR last_seen_at < ?)',
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
    const rows = await this.db.all<StatusRow>(
      'SELECT s.* FROM device_status s JOIN devices d ON d.id = s.device_id WHERE d.tenant_id = ?',
      [tenantId],
    );
    return rows.map(status);
  }
}
