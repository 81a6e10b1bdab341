import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { cloudConfig } from '../../../cloud/config.js';
import { createPairingCode } from '../../../cloud/pairing/codes.js';
import { createCloud } from '../../../cloud/server/app.js';
import { getDeviceView, type DeviceView } from '../../../cloud/status/device-status.js';
import type { DeviceStatusRecord, EventCursor, EventRecord } from '../../../cloud/store/store.js';
import type { ReviewRecord } from '../../../cloud/store/reviews.js';
import { validatePairingResponse } from '../../../firmware-protocol/messages.js';
import { silentLogger } from '../../../shared/log/index.js';
import type { DeviceCredentials } from '../../../shared/signing/index.js';

/**
 * The REAL collector (`createCloud`, SQLite store, fs blobs) for integration and fault tests: a fresh data dir, a
 * device paired through the real `POST /v1/pair`, and read-back of what the store holds. With `mqttUrl` its MQTT
 * ingest runs too, with a unique client id and shared-subscription group so it never takes traffic meant for
 * another collector on the same broker.
 */
export interface CollectorUnderTest {
  httpUrl: string;
  device: DeviceCredentials;
  /** Event ids stored for the device. */
  eventIds(): Promise<Set<string>>;
  /** Event ids with a stored thumbnail. */
  thumbnailIds(): Promise<Set<string>>;
  event(id: string): Promise<EventRecord | undefined>;
  /** A review item as the collector stored it. */
  review(id: string): Promise<ReviewRecord | undefined>;
  deviceStatus(): Promise<DeviceStatusRecord | undefined>;
  /** The device as the app API shows it (GET /v1/devices/{id}: state, refusals, disk_full… from heartbeats). */
  deviceView(): Promise<DeviceView | undefined>;
  /** The broker URL the collector listens on, when MQTT ingest runs. */
  mqttUrl?: string;
  /** Stops the collector, waits `downMs`, and starts it again on the same data dir, port and MQTT session. */
  restart(downMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface CollectorSpec {
  /** Broker the collector's MQTT ingest subscribes to. */
  mqttUrl?: string;
  /** Ingest rate limit per device (messages/s, burst); the collector default is 20/s, burst 200. */
  rateLimit?: { per_second: number; burst: number };
}

export async function startCollector(spec: CollectorSpec = {}): Promise<CollectorUnderTest> {
  const dataDir = mkdtempSync(join(tmpdir(), 'vigil-collector-'));
  const tag = randomBytes(5).toString('hex');
  const config = (port: number) =>
    cloudConfig({
      data_dir: dataDir,
      server: { host: '127.0.0.1', port },
      log: { level: 'silent' },
      ingest: { rate_limit: spec.rateLimit ?? { per_second: 2_000, burst: 5_000 } },
      ...(spec.mqttUrl
        ? {
            mqtt: {
              url: spec.mqttUrl,
              client_id: `vigil-cloud-test-${tag}`,
              shared_group: `vigil-test-${tag}`,
              reconnect_ms: 250,
              session_expiry_s: 60,
            },
          }
        : {}),
    });
  let cloud = await createCloud(config(0), { logger: silentLogger() });
  const port = Number(new URL(cloud.url).port);
  try {
    if (cloud.mqtt) await cloud.mqtt.ready;
    const { code } = await createPairingCode(cloud.store, cloud.secrets, { tenantId: 'default', ttlMs: 60_000 });
    const res = await request(`${cloud.url}/v1/pair`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ v: 1, code, name: `agent-test-${tag}` }),
    });
    const pairing = validatePairingResponse.parse(await res.body.json(), 'pairing response');
    const device = {
      deviceId: pairing.device_id,
      keyId: pairing.key_id,
      secret: Buffer.from(pairing.secret_b64, 'base64'),
    };
    const events = async () => {
      const all = [];
      let after: EventCursor | undefined;
      for (;;) {
        const page = await cloud.store.listEvents('default', { deviceId: device.deviceId }, 1_000, after);
        all.push(...page.events);
        if (!page.next) break;
        after = page.next;
      }
      return all;
    };
    return {
      httpUrl: cloud.url,
      device,
      eventIds: async () => new Set((await events()).map((e) => e.id)),
      thumbnailIds: async () => new Set((await events()).filter((e) => e.thumbnail !== null).map((e) => e.id)),
      event: (id) => cloud.store.getEvent('default', id),
      review: (id) => cloud.store.getReview('default', id),
      deviceStatus: () => cloud.store.getDeviceStatus(device.deviceId),
      deviceView: () => getDeviceView(cloud.store, 'default', device.deviceId, Date.now(), 60_000),
      ...(spec.mqttUrl ? { mqttUrl: spec.mqttUrl } : {}),
      restart: async (downMs) => {
        await cloud.close();
        await new Promise((r) => setTimeout(r, downMs));
        cloud = await createCloud(config(port), { logger: silentLogger() });
        if (cloud.mqtt) await cloud.mqtt.ready;
      },
      close: async () => {
        await cloud.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await cloud.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}
