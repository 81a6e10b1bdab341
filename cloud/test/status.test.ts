import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock/index.js';
import { deviceState, deviceView } from '../status/device-status.js';
import type { DeviceRecord, DeviceStatusRecord } from '../store/store.js';
import { sqliteBackend } from './support/backends.js';
import { pairTestBox, readSse, type TestBox } from './support/box.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';

const T0 = Date.UTC(2026, 0, 1);
const device: DeviceRecord = { id: 'dev_A', tenantId: 'default', name: 'garage', createdAt: T0, revokedAt: null };
const status = (lastSeenAt: number | null): DeviceStatusRecord => ({
  deviceId: 'dev_A',
  lastSeenAt,
  lastHeartbeatAt: lastSeenAt,
  clockSkewMs: -250,
  version: '0.1.0',
  outboxDepth: 4,
  dropped: 1,
  cameras: [{ name: 'front', state: 'running' }],
  heartbeat: {},
});

describe('device state', () => {
  it('is online until offline_after has passed since the last verified message', () => {
    expect(deviceState(device, undefined, T0, 90_000)).toBe('never_seen');
    expect(deviceState(device, status(T0), T0 + 90_000, 90_000)).toBe('online');
    expect(deviceState(device, status(T0), T0 + 90_001, 90_000)).toBe('offline');
    expect(deviceState({ ...device, revokedAt: T0 }, status(T0), T0, 90_000)).toBe('revoked');
    expect(deviceView(device, status(T0), T0 + 1000, 90_000)).toMatchObject({
      online: true,
      last_seen_at: new Date(T0).toISOString(),
      clock_skew_ms: -250,
      outbox_depth: 4,
      dropped: 1,
      cameras: [{ name: 'front', state: 'running' }],
    });
  });
});

describe('device status from heartbeats', () => {
  let t: TestCloud;
  let box: TestBox;
  const clock = new ManualClock(Date.now());

  beforeAll(async () => {
    t = await startTestCloud(sqliteBackend, { clock, overrides: { status: { offline_after: '60s' } } });
    box = await pairTestBox(t, 'garage');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('shows a paired box as never seen, then online with what its heartbeat reported, then offline', async () => {
    const before = (await (await t.api(`/v1/devices/${box.deviceId}`)).json()) as { state: string };
    expect(before.state).toBe('never_seen');

    const stream = await t.api('/v1/events/stream');
    const live = readSse(stream, (e) => e.event === 'device.status');
    // The box clock runs 4.5 s ahead of the collector.
    expect(await box.heartbeat({ outboxDepth: 7, dropped: 2, sentAt: clock.now() + 4500 })).toBe(200);
    const pushed = JSON.parse((await live).data) as { id: string; outbox_depth: number };
    expect(pushed).toMatchObject({ id: box.deviceId, outbox_depth: 7 });

    const list = (await (await t.api('/v1/devices')).json()) as { devices: Array<Record<string, unknown>> };
    expect(list.devices).toHaveLength(1);
    expect(list.devices[0]).toMatchObject({
      id: box.deviceId,
      name: 'garage',
      state: 'online',
      online: true,
      version: '0.1.0',
      outbox_depth: 7,
      dropped: 2,
      clock_skew_ms: 4500,
      last_heartbeat_at: new Date(clock.now()).toISOString(),
      cameras: [expect.objectContaining({ name: 'front', state: 'running', fps: 5 })],
    });

    clock.advance(59_000);
    expect(((await (await t.api(`/v1/devices/${box.deviceId}`)).json()) as { online: boolean }).online).toBe(true);
    clock.advance(2_000);
    const after = (await (await t.api(`/v1/devices/${box.deviceId}`)).json()) as {
      state: string;
      online: boolean;
      last_seen_at: string;
    };
    expect(after).toMatchObject({ state: 'offline', online: false });
  });
});
