import { createServer, type AddressInfo, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installPubackWindow } from '../ingest/mqtt-window.js';

/**
 * The PUBACK window of one broker connection (embedded broker): messages handled concurrently, PUBACKed only once
 * handled successfully and in arrival order, bounded, and never PUBACKed on a later connection.
 */
describe('MQTT PUBACK window', () => {
  let broker: Aedes;
  let server: Server;
  let url: string;
  const clients: MqttClient[] = [];
  /** Payloads of the messages the broker got a PUBACK for, in order. */
  let acked: string[];

  beforeEach(async () => {
    broker = await Aedes.createBroker();
    server = createServer(broker.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
    acked = [];
    broker.on('ack', (packet) => {
      if (packet && 'payload' in packet && packet.topic === 'w/t') acked.push(String(packet.payload));
    });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.endAsync(true).catch(() => undefined);
    await new Promise<void>((r) => broker.close(() => server.close(() => r())));
  });

  /** A consumer whose handling of each message finishes when the test says so. */
  async function consumer(limit: number, clientId = `c${Math.random().toString(36).slice(2)}`) {
    const client = await mqtt.connectAsync(url, { clientId, clean: false, protocolVersion: 4, reconnectPeriod: 50 });
    clients.push(client);
    const started: string[] = [];
    const finish = new Map<string, { ok: () => void; fail: () => void }>();
    let running = 0;
    let maxRunning = 0;
    const window = installPubackWindow(client, {
      limit,
      handle: (packet: IPublishPacket) =>
        new Promise<void>((resolve, reject) => {
          const body = String(packet.payload);
          started.push(body);
          maxRunning = Math.max(maxRunning, ++running);
          finish.set(body, {
            ok: () => {
              running--;
              resolve();
            },
            fail: () => {
              running--;
              reject(new Error(`failed ${body}`));
            },
          });
        }),
      onError: () => undefined,
    });
    await client.subscribeAsync('w/t', { qos: 1 });
    return { client, window, started, finish, max: () => maxRunning };
  }
  async function publish(bodies: string[]): Promise<void> {
    const p = await mqtt.connectAsync(url, { clientId: `p${Math.random().toString(36).slice(2)}` });
    clients.push(p);
    for (const b of bodies) await p.publishAsync('w/t', b, { qos: 1 });
  }
  const until = async (cond: () => boolean): Promise<void> => {
    for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(cond()).toBe(true);
  };

  it('handles messages concurrently and PUBACKs them in arrival order, only when handled', async () => {
    const c = await consumer(32);
    await publish(['m1', 'm2', 'm3', 'm4', 'm5']);
    await until(() => c.started.length === 5); // all five in progress at once
    c.finish.get('m3')!.ok();
    c.finish.get('m5')!.ok();
    await new Promise((r) => setTimeout(r, 50));
    expect(acked).toEqual([]); // m1 is still in progress: nothing may be PUBACKed past it
    c.finish.get('m1')!.ok();
    await until(() => acked.length === 1);
    c.finish.get('m2')!.ok();
    await until(() => acked.length === 3);
    expect(acked).toEqual(['m1', 'm2', 'm3']);
    c.finish.get('m4')!.fail(); // never PUBACKed; m5 (done before) goes out after it settled
    await until(() => acked.length === 4);
    expect(acked).toEqual(['m1', 'm2', 'm3', 'm5']);
    await c.window.idle();
  });

  it('never has more than `limit` messages in progress, and handles them all', async () => {
    const c = await consumer(2);
    const bodies = Array.from({ length: 8 }, (_, i) => `n${i}`);
    await publish(bodies);
    // Finish the oldest running message whenever two are in progress.
    let next = 0;
    while (next < bodies.length) {
      await until(() => c.started.length > next);
      await until(() => c.started.length >= Math.min(next + 2, bodies.length));
      c.finish.get(c.started[next]!)!.ok();
      next++;
    }
    await until(() => acked.length === 8);
    expect(c.max()).toBe(2);
    expect(c.started).toEqual(bodies);
    expect(acked).toEqual(bodies);
  });

  it('a connection that drops discards its held PUBACKs; the broker redelivers those messages', async () => {
    const clientId = `drop${Math.random().toString(36).slice(2)}`;
    const c = await consumer(32, clientId);
    await publish(['d1', 'd2']);
    await until(() => c.started.length === 2);
    c.finish.get('d2')!.ok(); // held behind d1
    c.client.stream.destroy(); // connection lost; mqtt.js reconnects with the same session
    c.finish.get('d1')!.ok();
    await until(() => c.started.length === 4); // both redelivered on the new connection
    expect(acked).toEqual([]);
    expect(c.started.slice(2)).toEqual(['d1', 'd2']);
    c.finish.get('d1')!.ok();
    c.finish.get('d2')!.ok();
    await until(() => acked.length === 2);
    expect(acked).toEqual(['d1', 'd2']);
  });
});
