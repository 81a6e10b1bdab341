import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { MOSQUITTO_URL, serviceAvailable } from '../../shared/testing/index.js';
import { newEventId } from '../../shared/ids/index.js';
import { eventsTopic, heartbeatTopic } from '../../firmware-protocol/topics.js';
import { IngestMetrics } from '../ingest/metrics.js';
import { mqttConfig, ingestConfig } from '../ingest/config.js';
import { startMqttIngest, type MqttIngest } from '../ingest/mqtt.js';
import type { IngestSink } from '../ingest/sink.js';
import { MemorySink } from './support-ingest/memory-sink.js';
import { TestMqttDevice } from './support-ingest/mqtt-device.js';
import { fakeJpeg, thumbnailInfo, wireEvent, wireHeartbeat } from './support-ingest/wire.js';

/**
 * MQTT ingest through the real Mosquitto at 127.0.0.1:1883. Every test uses its own shared-subscription group,
 * client ids and device ids, so parallel runs (and other collectors on the broker) never take its messages.
 */
const url = new URL(MOSQUITTO_URL);
const haveBroker = await serviceAvailable('mosquitto', url.hostname, Number(url.port || 1883));

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close().catch(() => undefined);
});

const tag = (): string => randomBytes(4).toString('hex');

async function collector(
  sink: IngestSink,
  group: string,
  o: { metrics?: IngestMetrics; protocolVersion?: 4 | 5; clientId?: string; config?: unknown } = {},
): Promise<MqttIngest> {
  const ingest = startMqttIngest({
    sink,
    ...(o.metrics ? { metrics: o.metrics } : {}),
    ...(o.config ? { config: ingestConfig(o.config) } : {}),
    mqtt: mqttConfig({
      url: MOSQUITTO_URL,
      client_id: o.clientId ?? `vigil-test-${tag()}`,
      shared_group: group,
      session_expiry_s: 30,
      reconnect_ms: 200,
      protocol_version: o.protocolVersion ?? 5,
    }),
  });
  open.push(ingest);
  await ingest.ready;
  return ingest;
}

async function device(sink: MemorySink): Promise<TestMqttDevice> {
  const d = await TestMqttDevice.connect(MOSQUITTO_URL, sink.addDevice());
  open.push(d);
  return d;
}

describe.skipIf(!haveBroker)('MQTT ingest (Mosquitto)', () => {
  it('stores an event, then publishes an ack signed with the device key', async () => {
    const sink = new MemorySink();
    const metrics = new IngestMetrics();
    await collector(sink, `g${tag()}`, { metrics });
    const dev = await device(sink);
    let storedAtAck: number | undefined;
    dev.onAck = () => (storedAtAck = sink.storedFor(dev.creds.deviceId).events);
    const e = wireEvent(dev.creds.deviceId);
    await dev.publishEvents(e);
    const ack = await dev.ackOf(e.id as string);
    expect(ack.acks).toEqual([{ id: e.id, rev: 0, kind: 'event', status: 'accepted' }]);
    expect(storedAtAck).toBe(1); // stored before the ack left
    expect(dev.forgedAcks).toBe(0);
    expect(sink.contacts[0]?.contact.transport).toBe('mqtt');
    expect(metrics.counts.acks_published).toBe(1);
  });

  it('acks a batch per item; a resend is duplicate; same id+rev other content is rejected event_conflict', async () => {
    const sink = new MemorySink();
    await collector(sink, `g${tag()}`);
    const dev = await device(sink);
    const a = wireEvent(dev.creds.deviceId);
    const b = wireEvent(dev.creds.deviceId, { score: 7 });
    const c = wireEvent(dev.creds.deviceId);
    await dev.publishEvents({ v: 1, events: [a, b, c] });
    const first = await dev.ackOf(a.id as string);
    expect(first.acks.map((i) => [i.id, i.status, i.code])).toEqual([
      [a.id, 'accepted', undefined],
      [b.id, 'rejected', 'invalid_message'],
      [c.id, 'accepted', undefined],
    ]);
    dev.acks.length = 0;
    await dev.publishEvents(a);
    expect((await dev.ackOf(a.id as string)).acks[0]).toMatchObject({ status: 'duplicate' });
    dev.acks.length = 0;
    await dev.publishEvents({ ...a, label: 'cat' });
    expect((await dev.ackOf(a.id as string)).acks[0]).toMatchObject({ status: 'rejected', code: 'event_conflict' });
    expect(sink.storedFor(dev.creds.deviceId).events).toBe(2);
  });

  it('gives unsigned, forged and misaddressed traffic no ack and stores nothing', async () => {
    const sink = new MemorySink();
    const metrics = new IngestMetrics();
    await collector(sink, `g${tag()}`, { metrics });
    const dev = await device(sink);
    const victim = sink.addDevice();
    const topic = eventsTopic(dev.creds.deviceId);
    await dev.publishRaw(topic, JSON.stringify(wireEvent(dev.creds.deviceId))); // not enveloped
    await dev.publishRaw(topic, randomBytes(200)); // garbage
    const wrongKey = { ...dev.creds, secret: randomBytes(32) };
    await dev.publishEvents(wireEvent(dev.creds.deviceId), { creds: wrongKey });
    // Signed by dev, published under the victim's topic.
    await dev.publishRaw(
      eventsTopic(victim.deviceId),
      dev.envelope(eventsTopic(victim.deviceId), wireEvent(victim.deviceId)),
    );
    // Signed with an unknown device id.
    const ghost = { ...dev.creds, deviceId: `dev_${tag()}` };
    await dev.publishRaw(
      eventsTopic(ghost.deviceId),
      dev.envelope(eventsTopic(ghost.deviceId), wireEvent(ghost.deviceId), { creds: ghost }),
    );
    // Then a good one: the subscriber handles messages in order, so once it is acked the others were handled.
    const good = wireEvent(dev.creds.deviceId);
    await dev.publishEvents(good);
    await dev.ackOf(good.id as string);
    expect(dev.acks).toHaveLength(1);
    // At least: other tests' traffic on the shared broker reaches this group too (as unknown devices).
    expect(metrics.counts.mqtt_unauthenticated).toBeGreaterThanOrEqual(5);
    const r = Object.fromEntries(metrics.rejections);
    expect(r.signature_missing).toBeGreaterThanOrEqual(1);
    expect(r.signature_malformed).toBeGreaterThanOrEqual(1);
    expect(r.signature_mismatch).toBeGreaterThanOrEqual(1);
    expect(r.device_mismatch).toBeGreaterThanOrEqual(1);
    expect(r.unknown_device).toBeGreaterThanOrEqual(1);
    expect(sink.storedFor(dev.creds.deviceId).events).toBe(1);
    expect(sink.storedFor(victim.deviceId).events).toBe(0);
  });

  it('final errors get a signed rejected ack; a stale timestamp gets an empty ack with server_time', async () => {
    const sink = new MemorySink();
    await collector(sink, `g${tag()}`);
    const dev = await device(sink);
    const bad = wireEvent(dev.creds.deviceId, { box: [0.9, 0.1, 0.2, 0.3] });
    await dev.publishEvents(bad);
    const r = await dev.ackOf(bad.id as string);
    expect(r.acks[0]).toMatchObject({ status: 'rejected', code: 'invalid_message' });
    expect(r.acks[0]!.message).toContain('/box');

    const late = wireEvent(dev.creds.deviceId);
    await dev.publishEvents(late, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    const empty = await dev.waitForAck((a) => a.acks.length === 0);
    expect(Math.abs(Date.parse(empty.server_time) - Date.now())).toBeLessThan(10_000);
    expect(sink.storedFor(dev.creds.deviceId).events).toBe(0);
  });

  it('records heartbeats and thumbnails', async () => {
    const sink = new MemorySink();
    await collector(sink, `g${tag()}`);
    const dev = await device(sink);
    const hb = wireHeartbeat(dev.creds.deviceId);
    await dev.publishHeartbeat(hb);
    expect((await dev.waitForAck((a) => a.acks[0]?.kind === 'heartbeat')).acks[0]).toMatchObject({
      id: hb.sent_at,
      status: 'accepted',
    });
    expect(sink.heartbeats).toHaveLength(1);

    const jpeg = fakeJpeg(4000);
    const e = wireEvent(dev.creds.deviceId, { thumbnail: thumbnailInfo(jpeg) });
    await dev.publishEvents(e);
    await dev.ackOf(e.id as string);
    await dev.publishThumbnail(e.id as string, jpeg);
    const t = await dev.waitForAck((a) => a.acks[0]?.kind === 'thumbnail');
    expect(t.acks[0]).toMatchObject({ id: e.id, status: 'accepted' });
    expect(sink.thumbnails.get(`${dev.creds.deviceId}|${e.id}`)?.bytes.equals(jpeg)).toBe(true);
    // A thumbnail for an unknown event is transient (the event may still come): no ack, nothing kept.
    await dev.publishThumbnail(newEventId(), jpeg);
    const after = wireEvent(dev.creds.deviceId);
    await dev.publishEvents(after);
    await dev.ackOf(after.id as string);
    expect(dev.acks.filter((a) => a.acks[0]?.kind === 'thumbnail')).toHaveLength(1);
    expect(sink.thumbnails.size).toBe(1);
  });

  it('a redelivered (same nonce) event is deduplicated and acked again; a replayed heartbeat is dropped', async () => {
    const sink = new MemorySink();
    const metrics = new IngestMetrics();
    await collector(sink, `g${tag()}`, { metrics });
    const dev = await device(sink);
    const e = wireEvent(dev.creds.deviceId);
    const payload = await dev.publishEvents(e);
    await dev.ackOf(e.id as string);
    dev.acks.length = 0;
    await dev.publishRaw(eventsTopic(dev.creds.deviceId), payload);
    expect((await dev.ackOf(e.id as string)).acks[0]).toMatchObject({ status: 'duplicate' });
    expect(metrics.counts.mqtt_replays_reprocessed).toBe(1);

    const hb = await dev.publishHeartbeat(wireHeartbeat(dev.creds.deviceId));
    await dev.waitForAck((a) => a.acks[0]?.kind === 'heartbeat');
    await dev.publishRaw(heartbeatTopic(dev.creds.deviceId), hb);
    const probe = wireEvent(dev.creds.deviceId);
    await dev.publishEvents(probe);
    await dev.ackOf(probe.id as string);
    expect(sink.heartbeats).toHaveLength(1);
    expect(sink.storedFor(dev.creds.deviceId).events).toBe(2);
  });

  it('retries a failing store while holding the message, then acks it', async () => {
    const sink = new MemorySink();
    const metrics = new IngestMetrics();
    await collector(sink, `g${tag()}`, { metrics });
    const dev = await device(sink);
    sink.failStores = 2;
    const e = wireEvent(dev.creds.deviceId);
    await dev.publishEvents(e);
    expect((await dev.ackOf(e.id as string)).acks[0]!.status).toBe('accepted');
    expect(metrics.counts.mqtt_store_retries).toBe(2);
    expect(sink.storedFor(dev.creds.deviceId).events).toBe(1);
  });

  it.each([5, 4] as const)(
    'two collectors in one shared group (MQTT %s) split the events; each is stored once',
    async (protocolVersion) => {
      const sink = new MemorySink();
      const group = `g${tag()}`;
      const m1 = new IngestMetrics();
      const m2 = new IngestMetrics();
      await collector(sink, group, { metrics: m1, protocolVersion });
      await collector(sink, group, { metrics: m2, protocolVersion });
      const devs = [await device(sink), await device(sink)];
      const sent: { dev: TestMqttDevice; id: string }[] = [];
      for (let i = 0; i < 30; i++) {
        const dev = devs[i % 2]!;
        const e = wireEvent(dev.creds.deviceId);
        await dev.publishEvents(e);
        sent.push({ dev, id: e.id as string });
      }
      for (const s of sent) await s.dev.ackOf(s.id);
      expect(sink.messages.size).toBe(30);
      // (mqtt_messages would also count other tests' traffic on the shared broker: every group sees every device.)
      expect(m1.counts.events_stored + m2.counts.events_stored).toBe(30);
      expect(m1.counts.events_duplicate + m2.counts.events_duplicate).toBe(0);
      expect(m1.counts.events_stored).toBeGreaterThan(0);
      expect(m2.counts.events_stored).toBeGreaterThan(0);
      for (const d of devs)
        expect(d.acks.flatMap((a) => a.acks).filter((i) => i.status === 'accepted')).toHaveLength(15);
    },
  );
});
