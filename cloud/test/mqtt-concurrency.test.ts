import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { MOSQUITTO_URL, serviceAvailable } from '../../shared/testing/index.js';
import { IngestMetrics } from '../ingest/metrics.js';
import { mqttConfig } from '../ingest/config.js';
import { startMqttIngest } from '../ingest/mqtt.js';
import type { IngestEventMessage, StoreEventResult } from '../ingest/sink.js';
import { MemorySink } from './support-ingest/memory-sink.js';
import { TestMqttDevice } from './support-ingest/mqtt-device.js';
import { fakeJpeg, thumbnailInfo, wireEvent } from './support-ingest/wire.js';

/**
 * MQTT ingest with several messages of one connection in progress at once (real Mosquitto at 127.0.0.1:1883):
 * stores overlap, every message is acked, acks of one device are batched, a thumbnail waits for its event.
 */
const url = new URL(MOSQUITTO_URL);
const haveBroker = await serviceAvailable('mosquitto', url.hostname, Number(url.port || 1883));
const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close().catch(() => undefined);
});
const tag = (): string => randomBytes(4).toString('hex');

/** A sink whose event stores wait until `gate` of them are in progress together (or `fallbackMs` passed). */
class GatedSink extends MemorySink {
  running = 0;
  maxRunning = 0;
  private waiters: (() => void)[] = [];
  constructor(
    private readonly gate: number,
    private readonly delayMs = 0,
    private readonly fallbackMs = 3000,
  ) {
    super();
  }
  override async storeEventMessages(
    deviceId: string,
    events: readonly IngestEventMessage[],
    receivedAtMs: number,
  ): Promise<StoreEventResult[]> {
    this.maxRunning = Math.max(this.maxRunning, ++this.running);
    if (this.running >= this.gate) {
      for (const w of this.waiters.splice(0)) w();
    } else {
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, this.fallbackMs);
      });
    }
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    this.running--;
    return super.storeEventMessages(deviceId, events, receivedAtMs);
  }
}

async function start(sink: MemorySink, maxInFlight: number, metrics = new IngestMetrics()) {
  const ingest = startMqttIngest({
    sink,
    metrics,
    mqtt: mqttConfig({
      url: MOSQUITTO_URL,
      client_id: `vigil-test-${tag()}`,
      shared_group: `g${tag()}`,
      session_expiry_s: 30,
      reconnect_ms: 200,
      max_in_flight: maxInFlight,
    }),
  });
  open.push(ingest);
  await ingest.ready;
  const dev = await TestMqttDevice.connect(MOSQUITTO_URL, sink.addDevice());
  open.push(dev);
  return { ingest, dev, metrics };
}

describe.skipIf(!haveBroker)('MQTT ingest concurrency (Mosquitto)', () => {
  it('stores several messages of one connection at once, acks every event, batching acks per device', async () => {
    const sink = new GatedSink(8);
    const { dev, metrics } = await start(sink, 32);
    const events = Array.from({ length: 8 }, () => wireEvent(dev.creds.deviceId));
    for (const e of events) await dev.publishEvents(e);
    for (const e of events)
      expect((await dev.ackOf(e.id as string)).acks.find((i) => i.id === e.id)?.status).toBe('accepted');
    expect(sink.maxRunning).toBe(8); // all eight were in the store together
    expect(sink.storedFor(dev.creds.deviceId).events).toBe(8);
    // The eight finished together: fewer signed acks than messages, and every item acked exactly once.
    expect(metrics.counts.acks_published).toBeLessThan(8);
    expect(dev.acks.flatMap((a) => a.acks.map((i) => i.id)).sort()).toEqual(events.map((e) => e.id).sort());
  });

  it('fills a window wider than the 20 unacked messages Mosquitto sends by default (Receive Maximum)', async () => {
    // Released once 40 stores are in progress together (or after 8 s, which a loaded machine never needs for this).
    const sink = new GatedSink(40, 0, 8000);
    const { dev } = await start(sink, 40);
    const events = Array.from({ length: 40 }, () => wireEvent(dev.creds.deviceId));
    for (const e of events) await dev.publishEvents(e);
    for (const e of events) await dev.ackOf(e.id as string);
    // Mosquitto sends a client at most max_inflight_messages (20) unacked QoS 1 messages unless it asks for more.
    expect(sink.maxRunning).toBe(40);
  });

  it('max_in_flight 1 keeps one message at a time', async () => {
    const sink = new GatedSink(2, 0, 300); // would release at two in progress; one at a time, each waits out 300 ms
    const { dev } = await start(sink, 1);
    const events = Array.from({ length: 2 }, () => wireEvent(dev.creds.deviceId));
    for (const e of events) await dev.publishEvents(e);
    for (const e of events) await dev.ackOf(e.id as string, 0, 15_000);
    expect(sink.maxRunning).toBe(1);
  });

  it('a thumbnail sent right after its event waits for the event to be stored, and is accepted', async () => {
    const sink = new GatedSink(1, 200); // every event store takes 200 ms
    const { dev } = await start(sink, 32);
    const jpeg = fakeJpeg(5_000);
    const e = wireEvent(dev.creds.deviceId, { thumbnail: thumbnailInfo(jpeg) });
    await dev.publishEvents(e);
    await dev.publishThumbnail(e.id as string, jpeg);
    const ack = await dev.waitForAck((a) => a.acks.some((i) => i.kind === 'thumbnail' && i.id === e.id));
    expect(ack.acks.find((i) => i.kind === 'thumbnail')?.status).toBe('accepted');
  });
});
