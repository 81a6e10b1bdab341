import type { DeviceKeyRecord, DeviceRecord, DeviceStatusRecord, Store } from '../store/store.js';

/**
 * Device status as apps see it: online while verified messages (heartbeats every 30 s by default, or any upload)
 * keep arriving; offline once none came for `offline_after` (default 90 s, three missed heartbeats). Revoked
 * devices are never online. Clock skew is the box clock minus the collector clock at the last heartbeat/contact.
 *
 * From the latest heartbeat's outbox: `disk_full` (the box's outbox volume is full now), `refused` (event messages
 * its outbox refused, by cause, cumulative on the box) and `thumbnails_skipped`; null when the box does not report
 * them. `boot_id`/`booted_at`: the box's current run (a new id at every agent start) and when it started.
 * `model`: the object detector the latest heartbeat reported (`id` null for the config's own model file); null in
 * motion-only mode or from a box that does not report it. Rollout status per model: cloud/models.
 */
export interface DeviceView {
  id: string;
  name: string | null;
  state: 'online' | 'offline' | 'never_seen' | 'revoked';
  online: boolean;
  created_at: string;
  revoked_at: string | null;
  last_seen_at: string | null;
  last_heartbeat_at: string | null;
  clock_skew_ms: number | null;
  version: string | null;
  outbox_depth: number | null;
  dropped: number | null;
  disk_full: boolean | null;
  refused: { disk_full: number; outbox_full: number } | null;
  thumbnails_skipped: number | null;
  model: { id: string | null; sha256: string } | null;
  boot_id: string | null;
  booted_at: string | null;
  cameras: unknown[];
  keys?: Array<{ key_id: string; status: string; created_at: string; retired_at: string | null }>;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const count = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : null);

/** The outbox fields of the latest heartbeat the view shows (firmware-protocol OutboxStatus; optional ones null). */
function outboxReport(heartbeat: unknown): Pick<DeviceView, 'disk_full' | 'refused' | 'thumbnails_skipped'> {
  const hb = typeof heartbeat === 'object' && heartbeat !== null ? (heartbeat as { outbox?: unknown }) : {};
  const o = typeof hb.outbox === 'object' && hb.outbox !== null ? (hb.outbox as Record<string, unknown>) : {};
  const r = typeof o.refused === 'object' && o.refused !== null ? (o.refused as Record<string, unknown>) : undefined;
  const diskFull = r ? count(r.disk_full) : null;
  const outboxFull = r ? count(r.outbox_full) : null;
  return {
    disk_full: typeof o.disk_full === 'boolean' ? o.disk_full : null,
    refused: diskFull !== null && outboxFull !== null ? { disk_full: diskFull, outbox_full: outboxFull } : null,
    thumbnails_skipped: count(o.thumbnails_skipped),
  };
}

/** The heartbeat's `model` (firmware-protocol Heartbeat), null when absent or not of that shape. */
function modelReport(heartbeat: unknown): DeviceView['model'] {
  const m = typeof heartbeat === 'object' && heartbeat !== null ? (heartbeat as { model?: unknown }).model : null;
  if (typeof m !== 'object' || m === null) return null;
  const { id, sha256 } = m as { id?: unknown; sha256?: unknown };
  if (typeof sha256 !== 'string' || (id !== null && typeof id !== 'string')) return null;
  return { id, sha256 };
}

export function deviceState(
  device: DeviceRecord,
  status: DeviceStatusRecord | undefined,
  now: number,
  offlineAfterMs: number,
): DeviceView['state'] {
  if (device.revokedAt !== null) return 'revoked';
  const seen = status?.lastSeenAt ?? null;
  if (seen === null) return 'never_seen';
  return now - seen <= offlineAfterMs ? 'online' : 'offline';
}

export function deviceView(
  device: DeviceRecord,
  status: DeviceStatusRecord | undefined,
  now: number,
  offlineAfterMs: number,
  keys?: DeviceKeyRecord[],
): DeviceView {
  const state = deviceState(device, status, now, offlineAfterMs);
  return {
    id: device.id,
    name: device.name,
    state,
    online: state === 'online',
    created_at: new Date(device.createdAt).toISOString(),
    revoked_at: iso(device.revokedAt),
    last_seen_at: iso(status?.lastSeenAt ?? null),
    last_heartbeat_at: iso(status?.lastHeartbeatAt ?? null),
    clock_skew_ms: status?.clockSkewMs ?? null,
    version: status?.version ?? null,
    outbox_depth: status?.outboxDepth ?? null,
    dropped: status?.dropped ?? null,
    ...outboxReport(status?.heartbeat),
    model: modelReport(status?.heartbeat),
    boot_id: status?.bootId ?? null,
    booted_at: iso(status?.bootStartedAt ?? null),
    cameras: Array.isArray(status?.cameras) ? (status.cameras as unknown[]) : [],
    ...(keys
      ? {
          keys: keys.map((k) => ({
            key_id: k.keyId,
            status: k.status,
            created_at: new Date(k.createdAt).toISOString(),
            retired_at: iso(k.retiredAt),
          })),
        }
      : {}),
  };
}

/** Every device of a tenant with its status. */
export async function listDeviceViews(
  store: Store,
  tenantId: string,
  now: number,
  offlineAfterMs: number,
): Promise<DeviceView[]> {
  const [devices, statuses] = await Promise.all([store.listDevices(tenantId), store.listDeviceStatus(tenantId)]);
  const byId = new Map(statuses.map((s) => [s.deviceId, s]));
  return devices.map((d) => deviceView(d, byId.get(d.id), now, offlineAfterMs));
}

/** One device with its status and keys; undefined when not in this tenant. */
export async function getDeviceView(
  store: Store,
  tenantId: string,
  deviceId: string,
  now: number,
  offlineAfterMs: number,
): Promise<DeviceView | undefined> {
  const device = await store.getDevice(tenantId, deviceId);
  if (!device) return undefined;
  const [status, keys] = await Promise.all([store.getDeviceStatus(deviceId), store.listDeviceKeys(tenantId, deviceId)]);
  return deviceView(device, status, now, offlineAfterMs, keys);
}
