import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, silentLogger, type Logger } from '../../shared/log/index.js';
import { validatePairingResponse } from '../../firmware-protocol/messages.js';
import type { DeviceCredentials } from '../../shared/signing/index.js';
import { ForeignTrafficWatch } from '../broker/foreign-traffic.js';
import { testBackends, sqliteBackend } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { PrivateBroker } from './support-ingest/broker.js';
import { TestMqttDevice } from './support-ingest/mqtt-device.js';
import { wireEvent } from './support-ingest/wire.js';

/**
 * Issue 11 item 4 — "two deployments on one broker silently steal each other's messages": a deployment id is made
 * once per database; the shared group and client ids derive from it, so two deployments (two databases) on one
 * broker with the default config each get every message of their own boxes; forced onto one group, each collector
 * says so once (log, /readyz, /metrics).
 */
let haveMosquitto = true;
try {
  execFileSync('mosquitto', ['-h'], { stdio: 'ignore' });
} catch (err) {
  haveMosquitto = (err as NodeJS.ErrnoException).code !== 'ENOENT';
}
const backends = await testBackends();

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close().catch(() => undefined);
});
function later<T extends { close(): Promise<void> }>(x: T): T {
  open.push(x);
  return x;
}

/** A logger whose JSON lines are kept for the test. */
function capturingLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger({ component: 'cloud', level: 'info', destination }), lines };
}

async function pairOnMqtt(t: TestCloud, name: string): Promise<DeviceCredentials> {
  const created = await t.api('/v1/pairing-codes', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  const { code } = (await created.json()) as { code: string };
  const res = await fetch(t.url + '/v1/pair', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ v: 1, code }),
  });
  const body = validatePairingResponse.parse(await res.json());
  expect(body.endpoints.mqtt).toBeDefined();
  return { deviceId: body.device_id, keyId: body.key_id, secret: Buffer.from(body.secret_b64, 'base64') };
}

/** Each box sends `n` events; returns how many of them were acked within the time limit. */
async function sendAndCountAcks(
  url: string,
  boxes: DeviceCredentials[],
  n: number,
  timeoutMs = 4_000,
): Promise<number> {
  let acked = 0;
  await Promise.all(
    boxes.map(async (creds) => {
      const dev = later(await TestMqttDevice.connect(url, creds));
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const e = wireEvent(creds.deviceId);
        ids.push(String(e.id));
        await dev.publishEvents(e);
      }
      const results = await Promise.allSettled(ids.map((id) => dev.ackOf(id, 0, timeoutMs)));
      acked += results.filter((r) => r.status === 'fulfilled').length;
      // The next round connects under the same client id: a session left open would be taken over mid-publish
      // (the broker drops the older connection, whose client then reconnects and drops the newer one).
      await dev.close();
    }),
  );
  return acked;
}

describe.each(backends)('deployment id on $name', (backend) => {
  it('is made once per database, kept across restarts and shared by every collector of that database', async () => {
    const first = await startTestCloud(backend);
    const id = first.cloud.broker.deploymentId;
    expect(id).toMatch(/^d[a-z2-7]{16}$/);
    const second = later(await startTestCloud(backend, { db: first.db }));
    expect(second.cloud.broker.deploymentId).toBe(id);
    await second.close();
    open.pop();
    await first.cloud.close();
    const again = later(await startTestCloud(backend, { db: first.db }));
    expect(again.cloud.broker.deploymentId).toBe(id);
    const other = later(await startTestCloud(backend));
    expect(other.cloud.broker.deploymentId).not.toBe(id);
    await first.db.cleanup();
  });
});

describe.skipIf(!haveMosquitto)('two deployments on one broker (default MQTT config)', () => {
  const mqttOverrides = (url: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    mqtt: { url, reconnect_ms: 200, session_expiry_s: 60, ...extra },
    pairing: { attempts_burst: 1000, mqtt_url: url },
  });

  it('no longer split traffic: each collector gets every message of its own boxes', async () => {
    const broker = later(await PrivateBroker.start());
    const a = later(await startTestCloud(sqliteBackend, { overrides: mqttOverrides(broker.url) }));
    const b = later(await startTestCloud(sqliteBackend, { overrides: mqttOverrides(broker.url) }));
    await Promise.all([a.cloud.mqtt!.ready, b.cloud.mqtt!.ready]);
    const [da, db] = [a.cloud.broker.details(), b.cloud.broker.details()];
    expect(da.group).not.toBe(db.group);
    expect(da.group).toBe(`vigil-${da.deployment_id}`);
    expect(da.client_id).not.toBe(db.client_id);
    expect(da.client_id).not.toBe('vigil-cloud-1');

    const boxesA = [await pairOnMqtt(a, 'a1'), await pairOnMqtt(a, 'a2')];
    const boxesB = [await pairOnMqtt(b, 'b1'), await pairOnMqtt(b, 'b2')];
    const perBox = 10;
    const [ackedA, ackedB] = await Promise.all([
      sendAndCountAcks(broker.url, boxesA, perBox),
      sendAndCountAcks(broker.url, boxesB, perBox),
    ]);
    expect(ackedA).toBe(boxesA.length * perBox);
    expect(ackedB).toBe(boxesB.length * perBox);
    for (const [t, n] of [
      [a, boxesA.length * perBox],
      [b, boxesB.length * perBox],
    ] as const) {
      const page = (await (await t.api('/v1/events?limit=100')).json()) as { events: unknown[] };
      expect(page.events).toHaveLength(n);
    }
    expect(a.cloud.mqtt!.connected() && b.cloud.mqtt!.connected()).toBe(true);
  }, 30_000);

  it('forced onto one group: each collector warns once, and /readyz and /metrics say so', async () => {
    const broker = later(await PrivateBroker.start());
    const group = `forced-${Date.now()}`;
    const extra = { shared_group: group, foreign_traffic: { window: '2s', min_messages: 4 } };
    const capA = capturingLogger();
    const a = later(
      await startTestCloud(sqliteBackend, { overrides: mqttOverrides(broker.url, extra), logger: capA.log }),
    );
    const b = later(
      await startTestCloud(sqliteBackend, { overrides: mqttOverrides(broker.url, extra), logger: silentLogger() }),
    );
    await Promise.all([a.cloud.mqtt!.ready, b.cloud.mqtt!.ready]);
    const boxesB = [await pairOnMqtt(b, 'b1'), await pairOnMqtt(b, 'b2')];
    // B's boxes keep sending for ~2 s; the group hands part of it to A, which does not know them.
    for (let round = 0; round < 5; round++) {
      await sendAndCountAcks(broker.url, boxesB, 3, 300);
    }

    const warnings = capA.lines.filter((l) => l.level === 'warn' && /another deployment/.test(String(l.msg)));
    expect(warnings, JSON.stringify(capA.lines.filter((l) => l.component === 'broker'))).toHaveLength(1);
    expect(String(warnings[0]!.msg)).toContain(group);
    const readyz = (await (await fetch(a.url + '/readyz')).json()) as {
      details: { mqtt: { foreign_traffic: Record<string, unknown> } };
    };
    const ft = readyz.details.mqtt.foreign_traffic;
    expect(ft.suspected).toBe(true);
    expect(ft.total_messages as number).toBeGreaterThan(0);
    expect(ft.other_deployment_id).toBe(b.cloud.broker.deploymentId);
    expect(String(ft.likely_cause)).toMatch(/another deployment/);
    const metrics = await (await fetch(a.url + '/metrics')).text();
    expect(metrics).toMatch(/^vigil_mqtt_foreign_traffic_suspected 1$/m);
    expect(metrics).toMatch(/^vigil_mqtt_unknown_device_messages_total [1-9]\d*$/m);
  }, 30_000);
});

describe('unknown-device watch (the rate signal alone)', () => {
  function watch(): { w: ForeignTrafficWatch; warnings: string[]; clock: { t: number } } {
    const clock = { t: 1_000_000 };
    const warnings: string[] = [];
    const log = { warn: (_o: unknown, msg: string) => warnings.push(msg), info: () => undefined } as unknown as Logger;
    const w = new ForeignTrafficWatch({
      group: 'g',
      deploymentId: 'dabc',
      windowMs: 10_000,
      minMessages: 10,
      log,
      now: () => clock.t,
    });
    open.push({ close: async () => w.close() });
    return { w, warnings, clock };
  }

  it('a burst is not sustained; a steady stream warns once, and the episode ends after a quiet window', () => {
    const { w, warnings, clock } = watch();
    for (let i = 0; i < 50; i++) w.note(`dev_${i}`); // all within one instant
    expect(w.state().suspected).toBe(false);
    clock.t += 20_000; // quiet: the burst leaves the window
    for (let i = 0; i < 12; i++) {
      clock.t += 500;
      w.note('dev_x');
    }
    expect(w.state().suspected).toBe(true);
    for (let i = 0; i < 40; i++) {
      clock.t += 500;
      w.note('dev_y');
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/another deployment/);
    expect(w.state().recent_devices).toBe(1); // dev_x left the window
    clock.t += 11_000; // a whole quiet window: the episode ends
    expect(w.state()).toMatchObject({ suspected: false, recent_messages: 0, total_messages: 102 });
  });
});
