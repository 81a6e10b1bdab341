import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { availabilityTopic } from '../../firmware-protocol/topics.js';
import { validateHeartbeat } from '../../firmware-protocol/messages.js';
import { retryAfterMs, serverTimeFromHttp } from '../uplink/index.js';
import { startAedes } from './support-uplink/aedes-broker.js';
import { announce, eventLife, fakeJpeg, makeEvent, testDevice } from './support-uplink/events.js';
import { FakeCollector } from './support-uplink/fake-collector.js';
import { makeAgent, waitFor, type AgentUnderTest } from './support-uplink/harness.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function track(a: AgentUnderTest): AgentUnderTest {
  cleanups.push(a.stop);
  return a;
}

async function collector(device = testDevice()): Promise<{ c: FakeCollector; url: string }> {
  const c = new FakeCollector(device);
  const url = await c.listenHttp();
  cleanups.push(() => c.close());
  return { c, url };
}

async function mqttSetup(): Promise<{ c: FakeCollector; url: string }> {
  const broker = await startAedes();
  cleanups.push(broker.close);
  const c = new FakeCollector(testDevice());
  await c.connectMqtt(broker.url);
  cleanups.push(() => c.close());
  return { c, url: broker.url };
}

/** Enqueues `n` events' full lives, every new one with a thumbnail. Returns the event ids. */
function enqueueLives(a: AgentUnderTest, deviceId: string, n: number): string[] {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const [nw, up, end] = eventLife(deviceId);
    const jpg = fakeJpeg(2_000, i + 1);
    a.outbox.enqueue(announce(nw!, jpg), jpg);
    a.outbox.enqueue(announce(up!, jpg));
    a.outbox.enqueue(announce(end!, jpg));
    ids.push(nw!.id);
  }
  a.uplink.notify();
  return ids;
}

const settled = (a: AgentUnderTest) => () => a.outbox.stats().depth === 0;

describe('helpers', () => {
  it('parses Retry-After and collector time', () => {
    expect(retryAfterMs('3', 0)).toBe(3000);
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:10 GMT', Date.UTC(2026, 0, 1))).toBe(10_000);
    expect(retryAfterMs('soon', 0)).toBeUndefined();
    expect(serverTimeFromHttp(undefined, { server_time: 1_767_225_600 })).toBe(1_767_225_600_500);
    expect(serverTimeFromHttp('Thu, 01 Jan 2026 00:00:00 GMT', undefined)).toBe(Date.UTC(2026, 0, 1) + 500);
  });
});

describe('HTTPS uplink', () => {
  it('delivers every event record and thumbnail, batched, and empties the outbox on acks', async () => {
    const { c, url } = await collector();
    const a = track(makeAgent({ device: c.device, url }));
    const ids = enqueueLives(a, c.device.deviceId, 120);
    await a.uplink.start();
    await waitFor('outbox drained', settled(a));
    expect(c.received.events.size).toBe(360);
    expect(c.received.thumbnails.size).toBe(120);
    for (const id of ids) expect(c.received.events.has(`${id}#2`)).toBe(true);
    expect(a.uplink.metrics.eventMessages).toBeLessThan(360); // batched
    expect(a.outbox.stats().total.acked).toBe(480);
  });

  it('backs off through 500s and honours Retry-After on 429, losing nothing', async () => {
    const { c, url } = await collector();
    c.faults.failNext = 3;
    c.faults.failStatus = 500;
    const a = track(makeAgent({ device: c.device, url, uplink: { batchMaxEvents: 5 } }));
    const ids = enqueueLives(a, c.device.deviceId, 10);
    await a.uplink.start();
    await waitFor('outbox drained after 500s', settled(a));
    expect(a.uplink.metrics.failures).toBeGreaterThanOrEqual(3);
    c.faults.failNext = 1;
    c.faults.failStatus = 429;
    c.faults.retryAfterS = 1;
    const e = makeEvent({ deviceId: c.device.deviceId });
    a.outbox.enqueue(e);
    a.uplink.notify();
    await waitFor('429 answered', () => c.faults.failNext === 0);
    await waitFor('retried after Retry-After', settled(a));
    expect(c.received.events.has(`${e.id}#0`)).toBe(true);
    for (const id of ids) expect(c.received.events.has(`${id}#0`)).toBe(true);
  });

  it('marks a 4xx-rejected event dead with its code, keeps it, and delivers it after retry', async () => {
    const { c, url } = await collector();
    const a = track(makeAgent({ device: c.device, url }));
    c.faults.rejectCode = 'invalid_message';
    const e = makeEvent({ deviceId: c.device.deviceId });
    a.outbox.enqueue(e);
    await a.uplink.start();
    await waitFor('dead letter', () => a.outbox.stats().total.dead === 1);
    const [dead] = a.outbox.list({ states: ['dead'] });
    expect(dead).toMatchObject({ eventId: e.id, lastErrorCode: 'invalid_message' });
    c.faults.rejectCode = undefined;
    expect(a.outbox.retryNow()).toBe(1);
    a.uplink.notify();
    await waitFor('delivered after retry', settled(a));
    expect(c.received.events.has(`${e.id}#0`)).toBe(true);
  });

  it('corrects a clock an hour slow from the 401 skew answer and delivers', async () => {
    const { c, url } = await collector();
    const a = track(makeAgent({ device: c.device, url, clockOffsetMs: -3_600_000 }));
    const ids = enqueueLives(a, c.device.deviceId, 3);
    await a.uplink.start();
    await waitFor('drained after clock fix', settled(a));
    expect(Math.abs(a.clock.now() - Date.now())).toBeLessThan(2_000);
    expect(a.uplink.metrics.clockAdjustments).toBeGreaterThanOrEqual(1);
    for (const id of ids) expect(c.received.events.has(`${id}#2`)).toBe(true);
  });

  it('sends heartbeats that validate against the protocol schema', async () => {
    const { c, url } = await collector();
    const a = track(
      makeAgent({
        device: c.device,
        url,
        uplink: {
          cameras: () => [{ name: 'front', state: 'running', fps: 5, last_frame_age_s: 0.1, restarts: 0 }],
          version: '9.9.9',
        },
      }),
    );
    a.outbox.enqueue(makeEvent({ deviceId: c.device.deviceId }));
    await a.uplink.start();
    await waitFor('drained', settled(a));
    await a.uplink.heartbeatNow();
    const hb = c.received.heartbeats.at(-1)!;
    expect(validateHeartbeat.issues(hb)).toEqual([]);
    expect(hb).toMatchObject({
      device_id: c.device.deviceId,
      version: '9.9.9',
      outbox: { depth: 0, in_flight: 0, dropped: 0 },
    });
    expect((hb.cameras as unknown[]).length).toBe(1);
    expect(hb.last_ack_at).not.toBeNull();
  });
});

describe('MQTT uplink', () => {
  it('delivers events and thumbnails and settles them only on the collector ack', async () => {
    const { c, url } = await mqttSetup();
    const a = track(makeAgent({ device: c.device, url }));
    const ids = enqueueLives(a, c.device.deviceId, 60);
    await a.uplink.start();
    await waitFor('drained', settled(a));
    expect(c.received.events.size).toBe(180);
    expect(c.received.thumbnails.size).toBe(60);
    for (const id of ids) expect(c.received.thumbnails.has(id)).toBe(true);
  });

  it('refuses forged acks: the items stay in flight and are re-sent', async () => {
    const { c, url } = await mqttSetup();
    c.faults.forgeAcks = true;
    const a = track(makeAgent({ device: c.device, url, uplink: { ackTimeoutMs: 500 } }));
    const e = makeEvent({ deviceId: c.device.deviceId });
    a.outbox.enqueue(e);
    await a.uplink.start();
    await waitFor('delivered once', () => c.received.deliveries >= 1);
    await waitFor('re-sent after the lease', () => c.received.deliveries >= 2);
    expect(a.outbox.get({ kind: 'event', eventId: e.id, rev: 0 })!.state).not.toBe('acked');
    c.faults.forgeAcks = false;
    await waitFor('settled by a genuine ack', settled(a));
    expect(a.outbox.get({ kind: 'event', eventId: e.id, rev: 0 })!.attempts).toBeGreaterThanOrEqual(2);
  });

  it('re-sends when an ack never comes; the duplicate answer settles it', async () => {
    const { c, url } = await mqttSetup();
    c.faults.dropAcks = 1;
    const a = track(makeAgent({ device: c.device, url, uplink: { ackTimeoutMs: 500 } }));
    const e = makeEvent({ deviceId: c.device.deviceId });
    a.outbox.enqueue(e);
    await a.uplink.start();
    await waitFor('settled', settled(a));
    expect(c.received.deliveries).toBe(2);
    expect(c.received.events.size).toBe(1);
  });

  it(
    'without an HTTPS clock sync, corrects its clock from the signed server_time of an ack outside ' + 'the window',
    async () => {
      const { c, url } = await mqttSetup();
      const a = track(makeAgent({ device: c.device, url, clockOffsetMs: 2 * 3_600_000 }));
      const ids = enqueueLives(a, c.device.deviceId, 2);
      await a.uplink.start();
      await waitFor('drained', settled(a));
      expect(Math.abs(a.clock.now() - Date.now())).toBeLessThan(2_000);
      for (const id of ids) expect(c.received.events.has(`${id}#0`)).toBe(true);
    },
  );

  it('re-syncs its clock over HTTPS when acks fail only the timestamp check, then delivers', async () => {
    const { c, url } = await mqttSetup();
    const httpUrl = await c.listenHttp();
    const a = track(makeAgent({ device: c.device, url, clockSyncUrl: httpUrl, clockOffsetMs: -3 * 3_600_000 }));
    const ids = enqueueLives(a, c.device.deviceId, 2);
    await a.uplink.start();
    await waitFor('drained', settled(a));
    expect(Math.abs(a.clock.now() - Date.now())).toBeLessThan(2_000);
    // The sync heartbeat reached the collector over HTTPS.
    expect(c.received.heartbeats.length).toBeGreaterThanOrEqual(1);
    for (const id of ids) expect(c.received.events.has(`${id}#2`)).toBe(true);
  });

  it('publishes retained availability: online on connect, the offline will when the connection dies', async () => {
    const { c, url } = await mqttSetup();
    const a = makeAgent({ device: c.device, url });
    await a.uplink.start();
    await waitFor('connected', () => a.transport.isReady());
    const seen: string[] = [];
    const watcher = mqtt.connect(url, { clientId: `watch-${Date.now()}` });
    cleanups.push(() => new Promise((r) => watcher.end(true, {}, () => r())));
    watcher.on('message', (_t, p) => seen.push((JSON.parse(p.toString()) as { state: string }).state));
    await new Promise<void>((r) => watcher.subscribe(availabilityTopic(c.device.deviceId), { qos: 1 }, () => r()));
    await waitFor('retained online', () => seen.includes('online'));
    // Kill the socket without DISCONNECT: the broker publishes the will.
    (a.transport as unknown as { client: { stream: { destroy: () => void } } }).client.stream.destroy();
    await waitFor('offline will', () => seen.includes('offline'));
    await a.stop();
  });
});

describe('message rate limit', () => {
  it('delivers everything one event per message through a 20/s limit with a burst of 2', async () => {
    const { c, url } = await collector();
    const a = track(
      makeAgent({ device: c.device, url, uplink: { messagesPerSecond: 20, messageBurst: 2, batchMaxEvents: 1 } }),
    );
    for (let i = 0; i < 12; i++) a.outbox.enqueue(makeEvent({ deviceId: c.device.deviceId }));
    await a.uplink.start();
    await waitFor('drained', settled(a));
    expect(c.received.events.size).toBe(12);
    expect(a.uplink.metrics.eventMessages).toBe(12);
  });
});

describe('createStoreAndForward (daemon wiring from config)', () => {
  it('refuses a config without a collector URL, and wires a working outbox + uplink from defaults', async () => {
    const { createStoreAndForward } = await import('../daemon/store-and-forward.js');
    const { outboxConfig } = await import('../outbox/index.js');
    const { uplinkConfig } = await import('../uplink/index.js');
    const { silentLogger } = await import('../../shared/log/index.js');
    const { tempDir } = await import('./support-uplink/harness.js');
    const { rmSync } = await import('node:fs');
    const { c, url } = await collector();
    const dataDir = tempDir();
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const base = { dataDir, outbox: outboxConfig(), identity: c.device, logger: silentLogger(), version: '0.1.0' };
    expect(() => createStoreAndForward({ ...base, uplink: uplinkConfig() })).toThrow(/https_url is not set/);
    expect(() => createStoreAndForward({ ...base, uplink: uplinkConfig({ transport: 'mqtt' }) })).toThrow(
      /mqtt_url is not set/,
    );
    const { outbox, uplink } = createStoreAndForward({
      ...base,
      uplink: uplinkConfig({ https_url: url, heartbeat_interval: '0' }),
    });
    cleanups.push(async () => {
      await uplink.stop();
      outbox.close();
    });
    expect(outbox.budgetBytes).toBe(256 * 1024 * 1024);
    const e = makeEvent({ deviceId: c.device.deviceId });
    outbox.enqueue(e);
    expect(() => outbox.enqueue(makeEvent({ deviceId: c.device.deviceId, score: 7 }))).toThrow(/\/score/);
    await uplink.start();
    await waitFor('drained', () => outbox.stats().depth === 0);
    expect(c.received.events.has(`${e.id}#0`)).toBe(true);
  });
});
