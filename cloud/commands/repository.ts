import type { CommandResult } from '../../firmware-protocol/messages.js';
import type { SqlDatabase, SqlValue } from '../db/index.js';
import type { CommandRecord, CommandState } from './types.js';

/**
 * The `device_commands` table (migration 11, cloud/db/migration-commands.ts), the same SQL on SQLite and PostgreSQL.
 * State changes are conditional updates (`… WHERE state IN ('queued', 'delivered')`), so when several collectors
 * share the database exactly one of them ends a command (with a result, or expired) and calls its listeners.
 */

/** Where a snapshot result's JPEG went (the blob store). */
export interface SnapshotBlob {
  key: string;
  sha256: string;
  size: number;
}

/** A command as the table holds it: the record of cloud/commands/types.ts and the delivery bookkeeping. */
export interface StoredCommand extends CommandRecord {
  issuedBy: string | null;
  /** Transport of the last hand-out (`mqtt`, `http`), null before the first. */
  deliveredVia: 'mqtt' | 'http' | null;
  /** How many times it was handed out (publishes and long-poll answers). */
  deliveries: number;
  snapshot: SnapshotBlob | null;
}

/** How a command ends: from the box's result, or expired. */
export interface CommandEnd {
  state: Extract<CommandState, 'done' | 'failed' | 'expired'>;
  result: CommandResult | null;
  code: string | null;
  message: string | null;
  snapshot?: SnapshotBlob | undefined;
}

interface Row {
  id: string;
  tenant_id: string;
  device_id: string;
  kind: string;
  args_json: string;
  state: CommandState;
  issued_by: string | null;
  created_at: number | string;
  expires_at: number | string;
  delivered_at: number | string | null;
  delivered_via: string | null;
  deliveries: number | string;
  finished_at: number | string | null;
  result_json: string | null;
  code: string | null;
  message: string | null;
  snapshot_key: string | null;
  snapshot_sha256: string | null;
  snapshot_size: number | string | null;
}

const COLUMNS =
  'id, tenant_id, device_id, kind, args_json, state, issued_by, created_at, expires_at, delivered_at, ' +
  'delivered_via, deliveries, finished_at, result_json, code, message, snapshot_key, snapshot_sha256, snapshot_size';

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

function toRecord(r: Row): StoredCommand {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    deviceId: r.device_id,
    kind: r.kind,
    args: JSON.parse(r.args_json) as Record<string, unknown>,
    state: r.state,
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    deliveredAt: num(r.delivered_at),
    finishedAt: num(r.finished_at),
    result: r.result_json === null ? null : (JSON.parse(r.result_json) as CommandResult),
    code: r.code,
    message: r.message,
    issuedBy: r.issued_by,
    deliveredVia: r.delivered_via === 'mqtt' || r.delivered_via === 'http' ? r.delivered_via : null,
    deliveries: Number(r.deliveries),
    snapshot:
      r.snapshot_key === null
        ? null
        : { key: r.snapshot_key, sha256: r.snapshot_sha256 ?? '', size: Number(r.snapshot_size ?? 0) },
  };
}

const OPEN = `state IN ('queued', 'delivered')`;

export class SqlCommandRepository {
  constructor(private readonly db: SqlDatabase) {}

  async insert(c: {
    id: string;
    tenantId: string;
    deviceId: string;
    kind: string;
    args: Record<string, unknown>;
    createdAt: number;
    expiresAt: number;
    issuedBy: string | null;
  }): Promise<StoredCommand> {
    const row = await this.db.get<Row>(
      `INSERT INTO device_commands (id, tenant_id, device_id, kind, args_json, state, issued_by, created_at,
         expires_at, deliveries)
       VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, 0)
       RETURNING ${COLUMNS}`,
      [c.id, c.tenantId, c.deviceId, c.kind, JSON.stringify(c.args), c.issuedBy, c.createdAt, c.expiresAt],
    );
    if (!row) throw new Error(`device_commands: insert of ${c.id} returned nothing`);
    return toRecord(row);
  }

  /** One command of a tenant's device (API reads). */
  async get(tenantId: string, deviceId: string, id: string): Promise<StoredCommand | undefined> {
    const row = await this.db.get<Row>(
      `SELECT ${COLUMNS} FROM device_commands WHERE tenant_id = ? AND device_id = ? AND id = ?`,
      [tenantId, deviceId, id],
    );
    return row && toRecord(row);
  }

  /** One command of a device, whatever its tenant (a result names its command by id; the signer is the device). */
  async find(deviceId: string, id: string): Promise<StoredCommand | undefined> {
    const row = await this.db.get<Row>(`SELECT ${COLUMNS} FROM device_commands WHERE device_id = ? AND id = ?`, [
      deviceId,
      id,
    ]);
    return row && toRecord(row);
  }

  /**
   * Commands waiting for a device, oldest first: queued or delivered, not expired. With `redeliverBefore`, the
   * long-poll's view: a command the long-poll handed out after that instant is left out (it waits for its result,
   * or for redeliver_after to pass); one published over MQTT is handed out (the box asking is not on MQTT).
   */
  async pending(deviceId: string, now: number, limit: number, redeliverBefore?: number): Promise<StoredCommand[]> {
    const params: SqlValue[] = [deviceId, now];
    let poll = '';
    if (redeliverBefore !== undefined) {
      poll = ` AND NOT (COALESCE(delivered_via, '') = 'http' AND delivered_at > ?)`;
      params.push(redeliverBefore);
    }
    params.push(limit);
    const rows = await this.db.all<Row>(
      `SELECT ${COLUMNS} FROM device_commands
        WHERE device_id = ? AND ${OPEN} AND expires_at > ?${poll}
        ORDER BY created_at, id LIMIT ?`,
      params,
    );
    return rows.map(toRecord);
  }

  /** Records a hand-out: `delivered` (a command still open), when and over which transport. */
  async markDelivered(ids: readonly string[], via: 'mqtt' | 'http', now: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db.run(
      `UPDATE device_commands SET state = 'delivered', delivered_at = ?, delivered_via = ?, deliveries = deliveries + 1
        WHERE id IN (${ids.map(() => '?').join(', ')}) AND ${OPEN}`,
      [now, via, ...ids],
    );
  }

  /**
   * Ends an open command of the device; undefined when it was not open (unknown, another device's, or already
   * ended — by this collector or another).
   */
  async finish(deviceId: string, id: string, end: CommandEnd, now: number): Promise<StoredCommand | undefined> {
    const row = await this.db.get<Row>(
      `UPDATE device_commands SET state = ?, finished_at = ?, result_json = ?, code = ?, message = ?,
         snapshot_key = ?, snapshot_sha256 = ?, snapshot_size = ?
        WHERE device_id = ? AND id = ? AND ${OPEN}
        RETURNING ${COLUMNS}`,
      [
        end.state,
        now,
        end.result === null ? null : JSON.stringify(end.result),
        end.code,
        end.message,
        end.snapshot?.key ?? null,
        end.snapshot?.sha256 ?? null,
        end.snapshot?.size ?? null,
        deviceId,
        id,
      ],
    );
    return row && toRecord(row);
  }

  /** Open commands whose expiry passed (oldest expiry first), for the sweeper. */
  async due(now: number, limit: number): Promise<Array<{ id: string; deviceId: string }>> {
    const rows = await this.db.all<{ id: string; device_id: string }>(
      `SELECT id, device_id FROM device_commands WHERE ${OPEN} AND expires_at <= ? ORDER BY expires_at LIMIT ?`,
      [now, limit],
    );
    return rows.map((r) => ({ id: r.id, deviceId: r.device_id }));
  }

  /** Devices with open commands (re-publish after the collector's MQTT connection came up). */
  async devicesWithPending(now: number, limit: number): Promise<string[]> {
    const rows = await this.db.all<{ device_id: string }>(
      `SELECT DISTINCT device_id FROM device_commands WHERE ${OPEN} AND expires_at > ? LIMIT ?`,
      [now, limit],
    );
    return rows.map((r) => r.device_id);
  }
}
