import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OffsetClock } from '../../../shared/clock/index.js';
import type { DeviceCredentials } from '../../../shared/signing/index.js';
import { Outbox, type OutboxOptions } from '../../outbox/index.js';
import { HttpsTransport, MqttTransport, Uplink, type Transport, type UplinkOptions } from '../../uplink/index.js';
import { validateRecord } from '../../wire/index.js';

/** Builds an outbox + uplink pair in a temp dir, for tests and the bench. */
export interface AgentUnderTest {
  dir: string;
  outbox: Outbox;
  uplink: Uplink;
  clock: OffsetClock;
  transport: Transport;
  stop: () => Promise<void>;
}

export function tempDir(prefix = 'vigil-uplink-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface AgentSpec {
  device: DeviceCredentials;
  /** `mqtt://…` uses MQTT; `http://…` / `https://…` uses HTTPS. */
  url: string;
  dir?: string;
  outbox?: Partial<OutboxOptions>;
  uplink?: Partial<UplinkOptions>;
  clockOffsetMs?: number;
  /** For MQTT agents: an HTTPS base URL used for clock sync. */
  clockSyncUrl?: string;
  /** HTTPS request timeout (default 5 s). */
  httpTimeoutMs?: number;
}

export function makeAgent(spec: AgentSpec): AgentUnderTest {
  const dir = spec.dir ?? tempDir();
  const clock = new OffsetClock();
  clock.offsetMs = spec.clockOffsetMs ?? 0;
  const outbox = Outbox.open({
    path: join(dir, 'outbox.db'),
    validateEvent: validateRecord,
    ...spec.outbox,
  });
  const transport: Transport = spec.url.startsWith('mqtt')
    ? new MqttTransport({
        url: spec.url,
        identity: spec.device,
        clock,
        pubackTimeoutMs: 5_000,
        reconnect: { baseMs: 100, maxMs: 1_000 },
      })
    : new HttpsTransport({ baseUrl: spec.url, identity: spec.device, clock, timeoutMs: spec.httpTimeoutMs ?? 5_000 });
  const uplink = new Uplink({
    outbox,
    transport,
    deviceId: spec.device.deviceId,
    clock,
    heartbeatIntervalMs: 0,
    ackTimeoutMs: 3_000,
    idlePollMs: 100,
    transportBackoff: { baseMs: 100, maxMs: 1_000 },
    messagesPerSecond: 0,
    ...(spec.clockSyncUrl
      ? {
          clockSync: new HttpsTransport({ baseUrl: spec.clockSyncUrl, identity: spec.device, clock, timeoutMs: 5_000 }),
        }
      : {}),
    ...spec.uplink,
  });
  return {
    dir,
    outbox,
    uplink,
    clock,
    transport,
    stop: async () => {
      await uplink.stop();
      outbox.close();
      if (!spec.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `fn` until it returns true or `timeoutMs` passes (then throws with `what`). */
export async function waitFor(what: string, fn: () => boolean, timeoutMs = 30_000, stepMs = 25): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
