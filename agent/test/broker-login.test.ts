import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OffsetClock } from '../../shared/clock/index.js';
import { silentLogger } from '../../shared/log/index.js';
import type { Ack } from '../../firmware-protocol/messages.js';
import {
  CredentialsBrokerLogin,
  identityOf,
  loadCredentials,
  requestPairing,
  storedFromResponse,
  writeCredentials,
} from '../credentials/index.js';
import { createStoreAndForward } from '../daemon/store-and-forward.js';
import { outboxConfig } from '../outbox/index.js';
import { uplinkConfig } from '../uplink/index.js';
import { MqttTransport } from '../uplink/mqtt-transport.js';
import { sqliteBackend } from '../../cloud/test/support/backends.js';
import { startTestCloud, type TestCloud } from '../../cloud/test/support/cloud.js';
import { DynsecBroker, dynsecAvailable } from '../../cloud/test/support-broker/dynsec-broker.js';
import { dynsecMqttSection } from '../../cloud/test/support-broker/mqtt-section.js';
import { makeEvent } from './support-uplink/events.js';
import { tempDir } from './support-uplink/harness.js';

/**
 * The box's broker login end to end, with the shipped Mosquitto config (dynamic security) and a collector that
 * provisions it: pairing stores the login with the credentials (0600); a box paired before (no login in its file)
 * asks the collector over signed HTTPS, stores it and sends over MQTT; after a key rotation the broker refuses the
 * old password and the box gets a new login by itself.
 */
const available = dynsecAvailable();
if (!available)
  process.stderr.write(
    '\n!!! SKIPPING agent broker-login tests: mosquitto, mosquitto_ctrl or the dynamic-security plugin is missing\n\n',
  );

let broker: DynsecBroker;
let t: TestCloud;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function pairedBox(name: string): Promise<{ file: string; dataDir: string }> {
  const created = await t.api('/v1/pairing-codes', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  const { code } = (await created.json()) as { code: string };
  const res = await requestPairing({ cloud: t.url, code, agentVersion: 'test' });
  const dataDir = tempDir('vigil-broker-login-');
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const file = join(dataDir, 'credentials.json');
  writeCredentials(file, storedFromResponse(t.url, res));
  return { file, dataDir };
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!available)('box broker login (dynamic security)', () => {
  beforeAll(async () => {
    broker = await DynsecBroker.start();
    t = await startTestCloud(sqliteBackend, {
      overrides: {
        mqtt: dynsecMqttSection(broker),
        pairing: { attempts_burst: 1000, mqtt_url: broker.url },
      },
    });
    await t.cloud.mqtt!.ready;
  }, 30_000);
  afterAll(async () => {
    await t?.close();
    await broker?.close();
  });

  it('pairing stores the login with the secret, owner-only', async () => {
    const { file } = await pairedBox('stored');
    const json = JSON.parse(readFileSync(file, 'utf8')) as {
      device_id: string;
      mqtt_credentials?: { username: string; password: string };
    };
    expect(json.mqtt_credentials?.username).toBe(json.device_id);
    expect(json.mqtt_credentials?.password.length).toBeGreaterThanOrEqual(16);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('a box paired before broker logins asks for one over signed HTTPS, stores it and sends over MQTT', async () => {
    const { file, dataDir } = await pairedBox('old');
    // As a file written before broker logins existed.
    const { mqtt_credentials: _dropped, ...old } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, JSON.stringify(old), { mode: 0o600 });
    const creds = loadCredentials(dataDir, { file });
    expect(creds.stored.mqtt_credentials).toBeUndefined();

    const saf = createStoreAndForward({
      dataDir,
      outbox: outboxConfig(),
      uplink: uplinkConfig({ https_url: t.url, mqtt_url: broker.url, heartbeat_interval: '0' }),
      identity: creds.identity,
      brokerLogin: (collector) =>
        new CredentialsBrokerLogin(creds.file, creds.stored, { ...collector, identity: creds.identity }),
      logger: silentLogger(),
      version: 'test',
    });
    cleanups.push(async () => {
      await saf.uplink.stop();
      saf.outbox.close();
    });
    const e = makeEvent({ deviceId: creds.identity.deviceId });
    saf.outbox.enqueue(e);
    await saf.uplink.start();
    await waitFor('the event acked over MQTT', () => saf.outbox.stats().depth === 0, 15_000);
    expect(saf.uplink.status().transport).toBe('mqtt');
    const stored = loadCredentials(dataDir, { file, insecure: 'fail' }).stored;
    expect(stored.mqtt_credentials?.username).toBe(creds.identity.deviceId);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((await t.api(`/v1/events/${e.id}`)).status).toBe(200);
  });

  it('after a key rotation the broker refuses the old password; the box gets a new login and goes on', async () => {
    const { file, dataDir } = await pairedBox('rotating');
    const creds = loadCredentials(dataDir, { file });
    const clock = new OffsetClock();
    const login = new CredentialsBrokerLogin(file, creds.stored, {
      baseUrl: t.url,
      identity: identityOf(creds.stored),
      clock,
    });
    const transport = new MqttTransport({
      url: broker.url,
      identity: creds.identity,
      clock,
      login,
      loginRenewMs: 200,
      reconnect: { baseMs: 100, maxMs: 500 },
      logger: silentLogger(),
    });
    cleanups.push(() => transport.close());
    const acks: Ack[] = [];
    await transport.start(
      (ack) => acks.push(ack),
      () => undefined,
    );
    await waitFor('connected', () => transport.isReady());
    expect(transport.metrics.loginRenewals).toBe(0); // the stored login was used as is

    const rotated = await t.api(`/v1/devices/${creds.identity.deviceId}/keys`, { method: 'POST' });
    expect(rotated.status).toBe(201);
    // Dropped by the broker (password changed), refused on reconnect, renewed over HTTPS (old key still active).
    await waitFor(
      'a renewed login and a new connection',
      () => transport.metrics.loginRenewals === 1 && transport.isReady(),
      15_000,
    );
    expect(transport.metrics.loginRefused).toBeGreaterThanOrEqual(1);
    const renewed = loadCredentials(dataDir, { file }).stored.mqtt_credentials;
    expect(renewed?.password).not.toBe(creds.stored.mqtt_credentials?.password);

    const e = makeEvent({ deviceId: creds.identity.deviceId });
    await transport.sendEvents(Buffer.from(JSON.stringify(e)));
    await waitFor('the ack', () => acks.some((a) => a.acks.some((i) => i.id === e.id && i.status === 'accepted')));
  });
});
