import type { SqlDatabase, SqlExecutor } from '../db/sql.js';
import type { ModelFormat } from '../../firmware-protocol/messages/command.js';

/**
 * SQL of the model registry (tables of migration 12, cloud/db/migration-models.ts), the same for SQLite and
 * PostgreSQL: models, rollouts, the boxes each rollout chose, and the model each box reports in its heartbeats.
 */
export type ModelState = 'pending_upload' | 'uploaded' | 'ready' | 'invalid';

export interface ModelRecord {
  id: string;
  tenantId: string;
  name: string;
  format: ModelFormat;
  labels: string[] | null;
  size: number;
  sha256: string;
  state: ModelState;
  blobKey: string | null;
  /** What finalize found: input and outputs (./onnx-check.ts ModelSignature), as stored. */
  signature: unknown;
  errorCode: string | null;
  errorMessage: string | null;
  createdBy: string | null;
  createdAt: number;
  uploadedAt: number | null;
  finalizedAt: number | null;
}

export interface RolloutTarget {
  devices?: string[];
  all?: boolean;
  percent: number;
}

export interface RolloutRecord {
  id: string;
  tenantId: string;
  modelId: string;
  target: RolloutTarget;
  createdBy: string | null;
  createdAt: number;
}

/** issuing: chosen, command not issued yet; issued: command out; done/failed/expired: how the command ended. */
export type RolloutDeviceState = 'issuing' | 'issued' | 'done' | 'failed' | 'expired';

export interface RolloutDeviceRecord {
  rolloutId: string;
  deviceId: string;
  modelId: string;
  commandId: string | null;
  state: RolloutDeviceState;
  code: string | null;
  message: string | null;
  issuedAt: number;
  finishedAt: number | null;
  /** The result's finished_at on the box clock (ms), to compare with heartbeats' sent_at. */
  boxFinishedAt: number | null;
}

export interface DeviceModelReport {
  deviceId: string;
  /** False in motion-only mode (heartbeat `model: null`). */
  running: boolean;
  modelId: string | null;
  sha256: string | null;
  /** Collector time of the first heartbeat reporting this model. */
  since: number;
  /** sent_at (box clock, ms) of the latest heartbeat. */
  sentAt: number;
  reportedAt: number;
}

interface ModelRow {
  id: string;
  tenant_id: string;
  name: string;
  format: string;
  labels_json: string | null;
  size: number | string;
  sha256: string;
  state: string;
  blob_key: string | null;
  signature_json: string | null;
  error_code: string | null;
  error_message: string | null;
  created_by: string | null;
  created_at: number | string;
  uploaded_at: number | string | null;
  finalized_at: number | string | null;
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));
const parse = (v: string | null): unknown => (v === null ? null : JSON.parse(v));

const modelOf = (r: ModelRow): ModelRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  format: r.format as ModelFormat,
  labels: parse(r.labels_json) as string[] | null,
  size: Number(r.size),
  sha256: r.sha256,
  state: r.state as ModelState,
  blobKey: r.blob_key,
  signature: parse(r.signature_json),
  errorCode: r.error_code,
  errorMessage: r.error_message,
  createdBy: r.created_by,
  createdAt: Number(r.created_at),
  uploadedAt: num(r.uploaded_at),
  finalizedAt: num(r.finalized_at),
});

interface RolloutDeviceRow {
  rollout_id: string;
  device_id: string;
  model_id: string;
  command_id: string | null;
  state: string;
  code: string | null;
  message: string | null;
  issued_at: number | string;
  finished_at: number | string | null;
  box_finished_at: number | string | null;
}

const rolloutDeviceOf = (r: RolloutDeviceRow): RolloutDeviceRecord => ({
  rolloutId: r.rollout_id,
  deviceId: r.device_id,
  modelId: r.model_id,
  commandId: r.command_id,
  state: r.state as RolloutDeviceState,
  code: r.code,
  message: r.message,
  issuedAt: Number(r.issued_at),
  finishedAt: num(r.finished_at),
  boxFinishedAt: num(r.box_finished_at),
});

export class ModelRepository {
  constructor(private readonly db: SqlDatabase) {}

  async insertModel(m: ModelRecord): Promise<void> {
    await this.db.run(
      `INSERT INTO models (id, tenant_id, name, format, labels_json, size, sha256, state, created_by, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        m.id,
        m.tenantId,
        m.name,
        m.format,
        m.labels === null ? null : JSON.stringify(m.labels),
        m.size,
        m.sha256,
        m.state,
        m.createdBy,
        m.createdAt,
      ],
    );
  }

  /** A model by id; with `tenantId`, only that tenant's. */
  async getModel(id: string, tenantId?: string): Promise<ModelRecord | undefined> {
    const row =
      tenantId === undefined
        ? await this.db.get<ModelRow>('SELECT * FROM models WHERE id = ?', [id])
        : await this.db.get<ModelRow>('SELECT * FROM models WHERE id = ? AND tenant_id = ?', [id, tenantId]);
    return row ? modelOf(row) : undefined;
  }

  async listModels(tenantId: string): Promise<ModelRecord[]> {
    const rows = await this.db.all<ModelRow>('SELECT * FROM models WHERE tenant_id = ? ORDER BY created_at DESC, id', [
      tenantId,
    ]);
    return rows.map(modelOf);
  }

  /** Records the uploaded bytes (state uploaded), unless the model was finalized meanwhile; true when recorded. */
  async markUploaded(id: string, blobKey: string, at: number): Promise<boolean> {
    const r = await this.db.run(
      `UPDATE models SET state = 'uploaded', blob_key = ?, uploaded_at = ?, error_code = NULL, error_message = NULL
        WHERE id = ? AND state <> 'ready'`,
      [blobKey, at, id],
    );
    return r.changes > 0;
  }

  async markFinalized(
    id: string,
    outcome: { state: 'ready'; signature: unknown } | { state: 'invalid'; code: string; message: string },
    at: number,
  ): Promise<void> {
    if (outcome.state === 'ready')
      await this.db.run(
        `UPDATE models SET state = 'ready', signature_json = ?, error_code = NULL, error_message = NULL,
                finalized_at = ? WHERE id = ?`,
        [JSON.stringify(outcome.signature), at, id],
      );
    else
      await this.db.run(
        `UPDATE models SET state = 'invalid', error_code = ?, error_message = ?, finalized_at = ? WHERE id = ?`,
        [outcome.code, outcome.message.slice(0, 1000), at, id],
      );
  }

  // --- rollouts ---

  async insertRollout(r: RolloutRecord, devices: string[]): Promise<void> {
    await this.db.tx(async (x: SqlExecutor) => {
      await x.run(
        `INSERT INTO model_rollouts (id, tenant_id, model_id, target_json, percent, created_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [r.id, r.tenantId, r.modelId, JSON.stringify(r.target), r.target.percent, r.createdBy, r.createdAt],
      );
      for (const d of devices)
        await x.run(
          `INSERT INTO model_rollout_devices (rollout_id, device_id, model_id, state, issued_at)
           VALUES (?, ?, ?, 'issuing', ?)`,
          [r.id, d, r.modelId, r.createdAt],
        );
    });
  }

  async listRollouts(modelId: string): Promise<RolloutRecord[]> {
    const rows = await this.db.all<{
      id: string;
      tenant_id: string;
      model_id: string;
      target_json: string;
      created_by: string | null;
      created_at: number | string;
    }>('SELECT * FROM model_rollouts WHERE model_id = ? ORDER BY created_at, id', [modelId]);
    return rows.map((r) => ({
      id: r.id,
      tenantId: r.tenant_id,
      modelId: r.model_id,
      target: JSON.parse(r.target_json) as RolloutTarget,
      createdBy: r.created_by,
      createdAt: Number(r.created_at),
    }));
  }

  async setCommand(rolloutId: string, deviceId: string, commandId: string): Promise<void> {
    await this.db.run(
      `UPDATE model_rollout_devices SET command_id = ?, state = 'issued'
        WHERE rollout_id = ? AND device_id = ? AND state = 'issuing'`,
      [commandId, rolloutId, deviceId],
    );
  }

  /**
   * Ends a box's row (issuing/issued only: an end is recorded once), by rollout+device or by its command id.
   */
  async finish(
    where: { rolloutId: string; deviceId: string } | { commandId: string },
    end: { state: 'done' | 'failed' | 'expired'; code: string | null; message: string | null },
    at: number,
    boxFinishedAt: number | null,
  ): Promise<boolean> {
    const set = `SET state = ?, code = ?, message = ?, finished_at = ?, box_finished_at = ?`;
    const params = [end.state, end.code, end.message?.slice(0, 512) ?? null, at, boxFinishedAt];
    const r =
      'commandId' in where
        ? await this.db.run(
            `UPDATE model_rollout_devices ${set} WHERE command_id = ? AND state IN ('issuing', 'issued')`,
            [...params, where.commandId],
          )
        : await this.db.run(
            `UPDATE model_rollout_devices ${set}
              WHERE rollout_id = ? AND device_id = ? AND state IN ('issuing', 'issued')`,
            [...params, where.rolloutId, where.deviceId],
          );
    return r.changes > 0;
  }

  /** Rows of a model's rollouts, oldest first (a box chosen by several rollouts appears once per rollout). */
  async rolloutDevices(modelId: string): Promise<RolloutDeviceRecord[]> {
    const rows = await this.db.all<RolloutDeviceRow>(
      'SELECT * FROM model_rollout_devices WHERE model_id = ? ORDER BY issued_at, rollout_id, device_id',
      [modelId],
    );
    return rows.map(rolloutDeviceOf);
  }

  // --- what boxes report ---

  /**
   * Records the `model` of a verified heartbeat; an older heartbeat (sent before the one recorded) changes nothing.
   * `since` moves only when the model changes.
   */
  async recordReport(
    deviceId: string,
    model: { id: string | null; sha256: string } | null,
    sentAt: number,
    at: number,
  ): Promise<void> {
    const running = model === null ? 0 : 1;
    const id = model?.id ?? null;
    const sha = model?.sha256 ?? null;
    const same = `device_models.running = excluded.running
                  AND COALESCE(device_models.model_id, '') = COALESCE(excluded.model_id, '')
                  AND COALESCE(device_models.sha256, '') = COALESCE(excluded.sha256, '')`;
    await this.db.run(
      `INSERT INTO device_models (device_id, running, model_id, sha256, since, sent_at, reported_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (device_id) DO UPDATE SET
         since = CASE WHEN ${same} THEN device_models.since ELSE excluded.since END,
         running = excluded.running, model_id = excluded.model_id, sha256 = excluded.sha256,
         sent_at = excluded.sent_at, reported_at = excluded.reported_at
       WHERE device_models.sent_at <= excluded.sent_at`,
      [deviceId, running, id, sha, at, sentAt, at],
    );
  }

  async reports(deviceIds: readonly string[]): Promise<Map<string, DeviceModelReport>> {
    const out = new Map<string, DeviceModelReport>();
    if (deviceIds.length === 0) return out;
    const rows = await this.db.all<{
      device_id: string;
      running: number | string;
      model_id: string | null;
      sha256: string | null;
      since: number | string;
      sent_at: number | string;
      reported_at: number | string;
    }>(`SELECT * FROM device_models WHERE device_id IN (${deviceIds.map(() => '?').join(', ')})`, [...deviceIds]);
    for (const r of rows)
      out.set(r.device_id, {
        deviceId: r.device_id,
        running: Number(r.running) === 1,
        modelId: r.model_id,
        sha256: r.sha256,
        since: Number(r.since),
        sentAt: Number(r.sent_at),
        reportedAt: Number(r.reported_at),
      });
    return out;
  }
}
