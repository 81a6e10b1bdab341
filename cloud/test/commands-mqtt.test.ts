import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  MemoryNonceCache,
  parseMqttEnvelope,
  signMqttMessage,
  verifySignedMessage,
  type DeviceCredentials,
} from '../../shared/signing/index.js';
import {
  validateAck,
  validateCommand,
  validatePairingResponse,
  type Ack,
  type Command,
  type MqttCredentials,
} from '../../firmware-protocol/messages.js';
import { acksTopic, availabilityTopic, commandsTopic, resultsTopic } from '../../firmware-protocol/topics.js';
import { silentLogger } from '../../shared/log/index.js';
import { DynsecClient } from '../broker/dynsec-client.js';
import type { MosquittoDynsecProvisioner } from '../broker/mosquitto-dynsec.js';
import { sqliteBackend } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { commandResult } from './support/commands.js';
import { DynsecBroker, dynsecAvailable } from './support-broker/dynsec-broker.js';

/**
 * The command channel over MQTT, on a private Mosquitto with the shipped config and dynamic security (the broker
 * ACL of issue 8, provisioned by the collector): a box subscribes to its own commands topic only (not another box's,
 * not a wildcard) and cannot publish commands; a command is published to it signed with its key; its result on the
 * results topic is acked on its acks topic with kind `result` (accepted, then duplicate) and ends the command done;
 * a command issued while the box is offline reaches it when its availability turns online; the role of a box paired
 * before the commands topic existed gets the rule when a collector starts.
 */
if (!dynsecAvailable()) throw new Error('mosquitto with the dynamic-security plugin is needed for these tests');

let broker: DynsecBroker;
let t: TestCloud;
const open: MqttClient[] = [];

afterEach(async () => {
  for (const c of open.splice(0)) await c.endAsync(true).catch(() => undefined);
});

interface Box {
  creds: DeviceCredentials;
  login: MqttCredentials;
}

async function pairBox(name: string): Promise<Box> {
  const created = await t.api('/v1/pairing-codes', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  const { code } = (await created.json()) as { code: string };
  const res = await fetch(`${t.url}/v1/pair`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ v: 1, code }),
  });
  const body = validatePairingResponse.parse(await res.json());
  return {
    creds: { deviceId: body.device_id, keyId: body.key_id, secret: Buffer.from(body.secret_b64, 'base64') },
    login: body.mqtt_credentials!,
  };
}

/** A box's MQTT client: its acks and commands, each verified as the box verifies them. */
class BoxClient {
  readonly commands: Command[] = [];
  readonly acks: Ack[] = [];
  private readonly nonces = new MemoryNonceCache();

  private constructor(
    readonly box: Box,
    readonly client: MqttClient,
  ) {
    client.on('message', (topic, payload) => void this.receive(topic, payload));
  }

  static async connect(box: Box, subscribe = true): Promise<BoxClient> {
    const client = await broker.connect({
      clientId: box.creds.deviceId,
      username: box.login.username,
      password: box.login.password,
    });
    open.push(client);
    const b = new BoxClient(box, client);
    if (subscribe) {
      const granted = await client.subscribeAsync([acksTopic(box.creds.deviceId), commandsTopic(box.creds.deviceId)], {
        qos: 1,
      });
      expect(granted.map((g) => g.qos)).toEqual([1, 1]);
    }
    return b;
  }

  private async receive(topic: string, payload: Buffer): Promise<void> {
    const { message, body } = parseMqttEnvelope(payload, topic);
    await verifySignedMessage(message, { keys: () => [this.box.creds], nonces: this.nonces });
    const value: unknown = JSON.parse(body.toString('utf8'));
    if (topic === commandsTopic(this.box.creds.deviceId)) this.commands.push(validateCommand.parse(value));
    else this.acks.push(validateAck.parse(value));
  }

  async until<T>(find: () => T | undefined, ms = 5_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const got = find();
      if (got !== undefined) return got;
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async result(c: Command, result: Record<string, unknown>): Promise<void> {
    const topic = resultsTopic(this.box.creds.deviceId);
    const body = commandResult(c, { result });
    const env = signMqttMessage(this.box.creds, topic, Buffer.from(JSON.stringify(body)));
    await this.client.publishAsync(topic, JSON.stringify(env), { qos: 1 });
  }
}

async function issue(deviceId: string, kind = 'status'): Promise<string> {
  const res = await t.api(`/v1/devices/${deviceId}/commands`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ kind }),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

async function state(deviceId: string, id: string): Promise<Record<string, unknown>> {
  return (await (await t.api(`/v1/devices/${deviceId}/commands/${id}`)).json()) as Record<string, unknown>;
}

describe('commands over MQTT through the broker ACL (Mosquitto + dynamic security)', () => {
  beforeAll(async () => {
    broker = await DynsecBroker.start();
    t = await startTestCloud(sqliteBackend, {
      overrides: {
        mqtt: {
          url: broker.url,
          provisioner: 'mosquitto-dynsec',
          admin_username: broker.admin.username,
          admin_password: broker.admin.password,
          reconnect_ms: 200,
          session_expiry_s: 60,
        },
        pairing: { attempts_burst: 1000, mqtt_url: broker.url },
      },
    });
    await t.cloud.mqtt!.ready;
  }, 30_000);
  afterAll(async () => {
    await t?.close();
    await broker?.close();
  });

  it("a box subscribes to its own commands topic only, and cannot publish commands or read another's", async () => {
    const a = await pairBox('a');
    const b = await pairBox('b');
    const client = await BoxClient.connect(a);
    for (const filter of [commandsTopic(b.creds.deviceId), 'vigil/v1/+/commands', `vigil/v1/${b.creds.deviceId}/#`]) {
      await expect(client.client.subscribeAsync(filter, { qos: 1 }), filter).rejects.toThrow(/Not authorized/);
    }
    await expect(
      client.client.publishAsync(commandsTopic(a.creds.deviceId), Buffer.from('{}'), { qos: 1 }),
    ).rejects.toThrow(/Not authorized/);
    await expect(
      client.client.publishAsync(resultsTopic(b.creds.deviceId), Buffer.from('{}'), { qos: 1 }),
    ).rejects.toThrow(/Not authorized/);
    // B's command never reaches A.
    const bClient = await BoxClient.connect(b);
    const id = await issue(b.creds.deviceId);
    await bClient.until(() => bClient.commands.find((c) => c.id === id));
    await new Promise((r) => setTimeout(r, 200));
    expect(client.commands).toEqual([]);
  });

  it('command published signed → result on the results topic → signed ack kind result → done', async () => {
    const a = await pairBox('mqtt-box');
    const box = await BoxClient.connect(a);
    const id = await issue(a.creds.deviceId, 'status');
    const cmd = await box.until(() => box.commands.find((c) => c.id === id));
    expect(cmd).toMatchObject({ device_id: a.creds.deviceId, kind: 'status', args: {} });
    expect(await state(a.creds.deviceId, id)).toMatchObject({ state: 'delivered' });

    await box.result(cmd, { version: '9.9.9' });
    const ack = await box.until(() => box.acks.find((k) => k.acks.some((i) => i.id === id)));
    expect(ack.acks).toEqual([{ id, rev: 0, kind: 'result', status: 'accepted' }]);
    expect(await state(a.creds.deviceId, id)).toMatchObject({
      state: 'done',
      result: { result: { version: '9.9.9' } },
    });

    await box.result(cmd, { version: '9.9.9' });
    const again = await box.until(() =>
      box.acks.find((k) => k.acks.some((i) => i.id === id && i.status === 'duplicate')),
    );
    expect(again.acks[0]).toMatchObject({ kind: 'result', status: 'duplicate' });
  });

  it('a command issued while the box is offline reaches it when its availability turns online', async () => {
    const a = await pairBox('late');
    const id = await issue(a.creds.deviceId, 'reload_config');
    await new Promise((r) => setTimeout(r, 200));
    // Not subscribed yet (a clean session): the first publish went nowhere.
    const box = await BoxClient.connect(a);
    await new Promise((r) => setTimeout(r, 300));
    expect(box.commands).toEqual([]);
    await box.client.publishAsync(
      availabilityTopic(a.creds.deviceId),
      JSON.stringify({ v: 1, state: 'online', at: new Date().toISOString() }),
      { qos: 1, retain: true },
    );
    const cmd = await box.until(() => box.commands.find((c) => c.id === id));
    expect(cmd.kind).toBe('reload_config');
  });

  it('a box role made before the commands rules gets them when a collector starts', async () => {
    const a = await pairBox('old-role');
    const admin = new DynsecClient({
      url: broker.url,
      username: broker.admin.username,
      password: broker.admin.password,
      clientId: 'test-admin',
      timeoutMs: 5_000,
      reconnectMs: 200,
      log: silentLogger(),
    });
    try {
      await admin.firstConnect;
      const rolename = `vigil-device-${a.creds.deviceId}`;
      const removed = await admin.request([
        { command: 'removeRoleACL', rolename, acltype: 'subscribeLiteral', topic: commandsTopic(a.creds.deviceId) },
        { command: 'removeRoleACL', rolename, acltype: 'publishClientSend', topic: resultsTopic(a.creds.deviceId) },
      ]);
      expect(removed.map((r) => r.error)).toEqual([undefined, undefined]);
      const old = await BoxClient.connect(a, false);
      await expect(old.client.subscribeAsync(commandsTopic(a.creds.deviceId), { qos: 1 })).rejects.toThrow(
        /Not authorized/,
      );
      // A second collector of the deployment starts: it brings every box role up to date.
      const second = await startTestCloud(sqliteBackend, {
        db: t.db,
        overrides: {
          mqtt: {
            url: broker.url,
            provisioner: 'mosquitto-dynsec',
            admin_username: broker.admin.username,
            admin_password: broker.admin.password,
            reconnect_ms: 200,
          },
        },
      });
      try {
        await second.cloud.mqtt!.ready;
        const deadline = Date.now() + 5_000;
        let granted = false;
        while (!granted && Date.now() < deadline) {
          granted = await old.client.subscribeAsync(commandsTopic(a.creds.deviceId), { qos: 1 }).then(
            () => true,
            async () => {
              await new Promise((r) => setTimeout(r, 200));
              return false;
            },
          );
        }
        expect(granted, 'the commands topic is granted after the upgrade').toBe(true);
        // Every role is up to date now: a second pass finds nothing missing (the listed ACLs are read correctly).
        const provisioner = second.cloud.broker.provisioner as MosquittoDynsecProvisioner;
        expect(await provisioner.upgradeDeviceRoles()).toBe(0);
      } finally {
        await second.close();
      }
    } finally {
      await admin.close();
    }
  });
});
