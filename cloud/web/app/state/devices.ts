import { api } from '../api/http.js';
import type { DeviceJson } from '../api/types.js';
import { onLive } from './live.js';
import { createStore } from './store.js';

/**
 * The tenant's boxes, loaded once per session and kept current by the live feed's device.status messages: the
 * Devices screen shows them, the events screen names boxes and offers their cameras as filters.
 */
export interface DevicesState {
  devices: DeviceJson[] | null;
  error: unknown;
  loading: boolean;
}

export const devices = createStore<DevicesState>({ devices: null, error: null, loading: false });

export async function loadDevices(): Promise<void> {
  devices.set((d) => ({ ...d, loading: true }));
  try {
    const r = await api.get<{ devices: DeviceJson[] }>('/v1/devices');
    devices.set({ devices: r.devices, error: null, loading: false });
  } catch (error) {
    devices.set((d) => ({ ...d, error, loading: false }));
  }
}

export function replaceDevice(device: DeviceJson): void {
  devices.set((d) => {
    if (!d.devices) return d;
    const i = d.devices.findIndex((x) => x.id === device.id);
    const list = [...d.devices];
    if (i === -1) list.push(device);
    else list[i] = { ...list[i], ...device };
    return { ...d, devices: list };
  });
}

onLive((m) => {
  if (m.type === 'device.status') replaceDevice(m.device);
  else if (m.type === 'resync' && devices.get().devices) void loadDevices();
});

export function deviceName(list: readonly DeviceJson[] | null, id: string): string {
  return list?.find((d) => d.id === id)?.name ?? id;
}

/** Every camera name the boxes report, sorted. */
export function cameraNames(list: readonly DeviceJson[] | null): string[] {
  const names = new Set<string>();
  for (const d of list ?? []) for (const c of d.cameras ?? []) if (c && typeof c.name === 'string') names.add(c.name);
  return [...names].sort();
}
