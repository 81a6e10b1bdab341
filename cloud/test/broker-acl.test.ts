import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signHttpRequest, type DeviceCredentials } from '../../shared/signing/index.js';
import { brokerCredentialsPath } from '../../firmware-protocol/http.js';
import {
  validateBrokerCredentials,
  validatePairingResponse,
  type MqttCredentials,
} from '../../firmware-protocol/messages.js';
import { acksTopic, commandsTopic, eventsTopic, resultsTopic } from '../../firmware-protocol/topics.js';
import { sqliteBackend } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { DynsecBroker, dynsecAvailable, freePort } from './support-broker/dynsec-broker.js';
import { TestMqttDevice } from './support-ingest/mqtt-device.js';
import { wireEvent } from './support-ingest/wire.js';

/**
 * Issue 10 finding 4 — "the broker protects nothing" — against the SHIPPED broker config (scripts/mosquitto) on a
 * private Mosquitto with the dynamic-security plugin, the collector provisioning it (mqtt.provisioner
 * mosquitto-dynsec): anonymous clients are refused; a box reads and writes only its own topics and cannot join the
 * collectors' group; revocation disconnects it within 5 s; key rotation changes its broker password; two collectors
 * have distinct client ids; pair → MQTT event → ack works through the ACLs; a box paired before gets a login over
 * signed HTTPS.
 */
const available = dynsecAvailable();
if (!available)
  process.stderr.write(
    '\n!!! SKIPPING broker ACL tests: mosquitto, mosquitto_ctrl or the dynamic-security plugin is missing\n\n',
  );

let broker: DynsecBroker;
let t: TestCloud;
const open: Array<{ close(): Promise<void> } | MqttClient> = [];

function closeLater<T extends { close(): Promise<void> } | MqttClient>(x: T): T {
  open.push(x);
  return x;
}

afterEach(async () => {
  for (const o of open.splice(0).reverse()) {
    if ('endAsync' in o) await o.endAsync(true).catch(() => undefined);
    else await o.close().catch(() => undefined);
  }
});

function dynsecOverrides(b: DynsecBroker, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    mqtt: {
      url: b.url,
      provisioner: 'mosquitto-dynsec',
      admin_username: b.admin.username,
      admin_password: b.admin.password,
      reconnect_ms: 200,
      session_expiry_s: 60,
      ...extra,
    },
    pairing: { attempts_burst: 1000, mqtt_url: b.url },
  };
}

interface PairedBox {
  creds: DeviceCredentials;
  login: MqttCredentials;
}

async function pairBox(cloud: TestCloud, name = 'box'): Promise<PairedBox> {
  const created = await cloud.api('/v1/pairing-codes', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  const { code } = (await created.json()) as { code: string };
  const res = await fetch(cloud.url + '/v1/pair', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ v: 1, code }),
  });
  expect(res.status).toBe(200);
  const body = validatePairingResponse.parse(await res.json());
  expect(body.mqtt_credentials, 'pairing hands out a broker login').toBeDefined();
  return {
    creds: { deviceId: body.device_id, keyId: body.key_id, secret: Buffer.from(body.secret_b64, 'base64') },
    login: body.mqtt_credentials!,
  };
}

function refusal(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'connected',
    (err: Error) => err.message,
  );
}

/** Messages the observer sees on `filter` within `ms`. */
async function seen(observer: MqttClient, filter: string, act: () => Promise<unknown>, ms = 600): Promise<string[]> {
  const got: string[] = [];
  const onMessage = (topic: string): void => void got.push(topic);
  await observer.subscribeAsync(filter, { qos: 1 });
  observer.on('message', onMessage);
  await act();
  await new Promise((r) => setTimeout(r, ms));
  observer.off('message', onMessage);
  await observer.unsubscribeAsync(filter);
  return got;
}

describe.skipIf(!available)('broker access control (shipped Mosquitto config + dynamic security)', () => {
  beforeAll(async () => {
    broker = await DynsecBroker.start();
    t = await startTestCloud(sqliteBackend, { overrides: dynsecOverrides(broker) });
    await t.cloud.mqtt!.ready;
  }, 30_000);

  afterAll(async () => {
    await t?.close();
    await broker?.close();
  });

  it('refuses anonymous clients, wrong passwords, and a box login under another client id', async () => {
    const a = await pairBox(t);
    expect(await refusal(broker.connect({ clientId: `anon-${randomBytes(3).toString('hex')}` }))).toMatch(
      /Not authorized/,
    );
    expect(await refusal(broker.connect({ protocolVersion: 4, clientId: 'anon-v4' }))).toMatch(
      /Not authorized|Connection refused/,
    );
    expect(
      await refusal(
        broker.connect({ clientId: a.creds.deviceId, username: a.login.username, password: 'wrong-password-123456' }),
      ),
    ).toMatch(/Not authorized/);
    // The client id is bound to the device id: a box cannot take a collector's id (and kick it off) or another box's.
    expect(
      await refusal(
        broker.connect({
          clientId: t.cloud.broker.details().client_id!,
          username: a.login.username,
          password: a.login.password,
        }),
      ),
    ).toMatch(/Not authorized/);
    const ok = closeLater(
      await broker.connect({ clientId: a.creds.deviceId, username: a.login.username, password: a.login.password }),
    );
    expect(ok.connected).toBe(true);
    expect(t.cloud.mqtt!.connected(), 'the collector is still connected').toBe(true);
  });

  it('pair → MQTT event → stored → signed ack, through the ACLs', async () => {
    const a = await pairBox(t, 'e2e');
    const dev = closeLater(
      await TestMqttDevice.connect(broker.url, a.creds, { username: a.login.username, password: a.login.password }),
    );
    const event = wireEvent(a.creds.deviceId);
    await dev.publishEvents(event);
    const ack = await dev.ackOf(String(event.id), 0);
    expect(ack.acks[0]).toMatchObject({ id: event.id, status: 'accepted' });
    expect(dev.forgedAcks).toBe(0);
    const stored = await t.api(`/v1/events/${String(event.id)}`);
    expect(stored.status).toBe(200);
  });

  it("box A cannot read box B's acks, write B's topics, its own acks, or join the collectors' group", async () => {
    const a = await pairBox(t, 'a');
    const b = await pairBox(t, 'b');
    const group = t.cloud.broker.details().group!;
    const client = closeLater(
      await broker.connect({ clientId: a.creds.deviceId, username: a.login.username, password: a.login.password }),
    );
    const received: string[] = [];
    client.on('message', (topic) => received.push(topic));

    // Subscriptions: only its own acks and commands topics are granted.
    const own = await client.subscribeAsync([acksTopic(a.creds.deviceId), commandsTopic(a.creds.deviceId)], { qos: 1 });
    expect(own.map((g) => g.qos)).toEqual([1, 1]);
    for (const filter of [
      acksTopic(b.creds.deviceId),
      commandsTopic(b.creds.deviceId),
      'vigil/v1/+/commands',
      'vigil/v1/+/results',
      `$share/${group}/vigil/v1/+/results`,
      'vigil/v1/#',
      'vigil/v1/+/acks',
      `vigil/v1/${b.creds.deviceId}/#`,
      '#',
      `$share/${group}/vigil/v1/+/events`,
      `$share/x/vigil/v1/+/events`,
    ]) {
      await expect(client.subscribeAsync(filter, { qos: 1 }), filter).rejects.toThrow(/Not authorized/);
    }

    // B's acks published by the collector never reach A.
    const bDev = closeLater(
      await TestMqttDevice.connect(broker.url, b.creds, { username: b.login.username, password: b.login.password }),
    );
    const bEvent = wireEvent(b.creds.deviceId);
    await bDev.publishEvents(bEvent);
    await bDev.ackOf(String(bEvent.id), 0);

    // Publishing under B (events) or to its own acks topic is refused and never delivered.
    const observer = closeLater(await broker.observer());
    const forged = await seen(observer, 'vigil/v1/#', async () => {
      await expect(client.publishAsync(eventsTopic(b.creds.deviceId), Buffer.from('{}'), { qos: 1 })).rejects.toThrow(
        /Not authorized/,
      );
      await expect(client.publishAsync(acksTopic(a.creds.deviceId), Buffer.from('{}'), { qos: 1 })).rejects.toThrow(
        /Not authorized/,
      );
      // Commands come only from collectors; results only under its own id.
      for (const topic of [commandsTopic(a.creds.deviceId), resultsTopic(b.creds.deviceId)])
        await expect(client.publishAsync(topic, Buffer.from('{}'), { qos: 1 }), topic).rejects.toThrow(
          /Not authorized/,
        );
      await expect(
        client.publishAsync('$CONTROL/dynamic-security/v1', Buffer.from('{"commands":[]}'), { qos: 1 }),
      ).rejects.toThrow(/Not authorized/);
      // Its own events topic is allowed (the control case: the observer does see it).
      await client.publishAsync(eventsTopic(a.creds.deviceId), Buffer.from('not an envelope'), { qos: 1 });
    });
    expect(forged).toEqual([eventsTopic(a.creds.deviceId)]);
    expect(received).toEqual([]);

    // MQTT 3.1.1 has no PUBACK reason codes: the broker drops the publish silently; still never delivered.
    const v4 = closeLater(
      await broker.connect({
        protocolVersion: 4,
        clientId: a.creds.deviceId,
        username: a.login.username,
        password: a.login.password,
      }),
    );
    const silent = await seen(observer, `vigil/v1/${b.creds.deviceId}/#`, () =>
      v4.publishAsync(eventsTopic(b.creds.deviceId), Buffer.from('{}'), { qos: 1 }),
    );
    expect(silent).toEqual([]);
  });

  it('revoking a box disables its broker login and disconnects it within 5 s', async () => {
    const a = await pairBox(t, 'revoked');
    const client = closeLater(
      await broker.connect({ clientId: a.creds.deviceId, username: a.login.username, password: a.login.password }),
    );
    const closed = new Promise<number>((resolve) => client.once('close', () => resolve(Date.now())));
    const started = Date.now();
    const res = await t.api(`/v1/devices/${a.creds.deviceId}`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    const at = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 5_000))]);
    expect(at, 'disconnected within 5 s').toBeGreaterThan(0);
    expect(at - started).toBeLessThan(5_000);
    expect(
      await refusal(
        broker.connect({ clientId: a.creds.deviceId, username: a.login.username, password: a.login.password }),
      ),
    ).toMatch(/Not authorized/);
    // A revoked box cannot get a new login either.
    const path = brokerCredentialsPath(a.creds.deviceId);
    const again = await fetch(t.url + path, {
      method: 'POST',
      headers: signHttpRequest(a.creds, 'POST', path, Buffer.alloc(0)),
    });
    expect([401, 403]).toContain(again.status);
  });

  it('key rotation rotates the broker password: the old one is refused, the new one works', async () => {
    const a = await pairBox(t, 'rotated');
    const client = closeLater(
      await broker.connect({ clientId: a.creds.deviceId, username: a.login.username, password: a.login.password }),
    );
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const res = await t.api(`/v1/devices/${a.creds.deviceId}/keys`, { method: 'POST' });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { key_id: string; mqtt_credentials?: MqttCredentials };
    expect(body.mqtt_credentials?.username).toBe(a.creds.deviceId);
    expect(body.mqtt_credentials?.password).not.toBe(a.login.password);
    await closed; // the connection made with the old password is closed by the broker
    expect(
      await refusal(
        broker.connect({ clientId: a.creds.deviceId, username: a.login.username, password: a.login.password }),
      ),
    ).toMatch(/Not authorized/);
    const fresh = closeLater(
      await broker.connect({
        clientId: a.creds.deviceId,
        username: a.creds.deviceId,
        password: body.mqtt_credentials!.password,
      }),
    );
    expect(fresh.connected).toBe(true);
  });

  it('a box without a login (paired before) gets one by signed request; each call replaces the password', async () => {
    const a = await pairBox(t, 'asks');
    const path = brokerCredentialsPath(a.creds.deviceId);
    const ask = (): Promise<Response> =>
      fetch(t.url + path, { method: 'POST', headers: signHttpRequest(a.creds, 'POST', path, Buffer.alloc(0)) });
    const res = await ask();
    expect(res.status).toBe(200);
    const body = validateBrokerCredentials.parse(await res.json());
    expect(body.device_id).toBe(a.creds.deviceId);
    expect(body.mqtt_credentials.password).not.toBe(a.login.password);
    expect(
      await refusal(
        broker.connect({ clientId: a.creds.deviceId, username: a.login.username, password: a.login.password }),
      ),
    ).toMatch(/Not authorized/);
    const dev = closeLater(await TestMqttDevice.connect(broker.url, a.creds, body.mqtt_credentials));
    const event = wireEvent(a.creds.deviceId);
    await dev.publishEvents(event);
    expect((await dev.ackOf(String(event.id), 0)).acks[0]?.status).toBe('accepted');
    // Unsigned, or signed by another device for this path: refused.
    expect((await fetch(t.url + path, { method: 'POST' })).status).toBe(401);
    const other = await pairBox(t, 'other');
    const forged = await fetch(t.url + path, {
      method: 'POST',
      headers: signHttpRequest(other.creds, 'POST', path, Buffer.alloc(0)),
    });
    expect(forged.status).toBe(403);
  });

  it('two collectors of one deployment have distinct client ids, share the group and stay connected', async () => {
    const second = closeLater(await startTestCloud(sqliteBackend, { db: t.db, overrides: dynsecOverrides(broker) }));
    await second.cloud.mqtt!.ready;
    const [d1, d2] = [t.cloud.broker.details(), second.cloud.broker.details()];
    expect(d1.deployment_id).toBe(d2.deployment_id);
    expect(d1.group).toBe(d2.group);
    expect(d1.client_id).not.toBe(d2.client_id);
    expect(d1.client_id).toMatch(new RegExp(`^vc-${d1.deployment_id}-`));
    await new Promise((r) => setTimeout(r, 500));
    expect(t.cloud.mqtt!.connected()).toBe(true);
    expect(second.cloud.mqtt!.connected()).toBe(true);
    // The collectors' login cannot read outside its group either.
    const readyz = (await (await fetch(t.url + '/readyz')).json()) as {
      details: { mqtt: { provisioner: { ok: boolean } } };
    };
    expect(readyz.details.mqtt.provisioner.ok).toBe(true);
  });
});

describe.skipIf(!available)('a collector started while the broker is down', () => {
  it('sets up its broker role and login once the broker is there, then ingests', async () => {
    const port = await freePort();
    const url = `mqtt://127.0.0.1:${port}`;
    // The admin login is only known once the broker's bootstrap exists: make it first, start the broker later.
    const admin = { username: 'vigil-admin', password: randomBytes(12).toString('base64url') };
    const late = closeLater(
      await startTestCloud(sqliteBackend, {
        overrides: {
          mqtt: {
            url,
            provisioner: 'mosquitto-dynsec',
            admin_username: admin.username,
            admin_password: admin.password,
            admin_timeout: '500ms',
            reconnect_ms: 200,
          },
        },
      }),
    );
    expect(late.cloud.broker.details().provisioner.ok).toBe(false);
    const b = await DynsecBroker.start(port, admin);
    open.push({ close: () => b.close() });
    await late.cloud.mqtt!.ready; // the login was created by the retry, and ingest got in
    expect(late.cloud.mqtt!.connected()).toBe(true);
    expect(late.cloud.broker.details().provisioner.ok).toBe(true);
  }, 30_000);
});
