import type { DeviceRecord } from './store.js';

/** What every SQL part of the store shares: number/JSON column readers and the device row. */

export const num = (v: number | string | null): number | null => (v === null ? null : Number(v));
export const json = (text: string | null): unknown => (text === null ? null : (JSON.parse(text) as unknown));

export interface DeviceRow {
  id: string;
  tenant_id: string;
  name: string | null;
  created_at: number;
  revoked_at: number | null;
}

export const DEVICE_COLUMNS = 'id, tenant_id, name, created_at, revoked_at';

export const device = (r: DeviceRow): DeviceRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  createdAt: Number(r.created_at),
  revokedAt: num(r.revoked_at),
});
