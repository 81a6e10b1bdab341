import type { SqlDatabase } from '../db/sql.js';
import type { CameraSnoozeInput, CameraSnoozeRecord, ReviewStore } from './reviews.js';

/**
 * Camera snoozes (table camera_snoozes): per tenant + device + camera, no push until a time. One row per camera;
 * setting it again moves the time, clearing deletes it. A snooze whose time has passed simply no longer holds.
 */
interface SnoozeRow {
  tenant_id: string;
  device_id: string;
  camera: string;
  snoozed_until: number;
  created_by: string | null;
  created_at: number;
}

const snooze = (r: SnoozeRow): CameraSnoozeRecord => ({
  tenantId: r.tenant_id,
  deviceId: r.device_id,
  camera: r.camera,
  until: Number(r.snoozed_until),
  createdBy: r.created_by,
  createdAt: Number(r.created_at),
});

type SnoozeMethods = 'snoozeCamera' | 'unsnoozeCamera' | 'getCameraSnooze';

export class SqlSnoozes implements Pick<ReviewStore, SnoozeMethods> {
  constructor(private readonly db: SqlDatabase) {}

  async snoozeCamera(input: CameraSnoozeInput): Promise<CameraSnoozeRecord | undefined> {
    const device = await this.db.get('SELECT 1 AS hit FROM devices WHERE id = ? AND tenant_id = ?', [
      input.deviceId,
      input.tenantId,
    ]);
    if (!device) return undefined;
    const r = await this.db.get<SnoozeRow>(
      `INSERT INTO camera_snoozes (tenant_id, device_id, camera, snoozed_until, created_by, created_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, device_id, camera) DO UPDATE SET snoozed_until = excluded.snoozed_until,
         created_by = excluded.created_by, created_at = excluded.created_at
       RETURNING tenant_id, device_id, camera, snoozed_until, created_by, created_at`,
      [input.tenantId, input.deviceId, input.camera, input.until, input.createdBy, input.now],
    );
    return r && snooze(r);
  }

  async unsnoozeCamera(tenantId: string, deviceId: string, camera: string): Promise<boolean> {
    const r = await this.db.run('DELETE FROM camera_snoozes WHERE tenant_id = ? AND device_id = ? AND camera = ?', [
      tenantId,
      deviceId,
      camera,
    ]);
    return r.changes > 0;
  }

  async getCameraSnooze(tenantId: string, deviceId: string, camera: string): Promise<CameraSnoozeRecord | undefined> {
    const r = await this.db.get<SnoozeRow>(
      'SELECT * FROM camera_snoozes WHERE tenant_id = ? AND device_id = ? AND camera = ?',
      [tenantId, deviceId, camera],
    );
    return r && snooze(r);
  }
}
