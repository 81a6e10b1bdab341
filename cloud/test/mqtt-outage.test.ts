import { afterEach, describe, expect, it } from 'vitest';
import { IngestMetrics } from '../ingest/metrics.js';
import { mqttConfig } from '../ingest/config.js';
import { startMqttIngest } from '../ingest/mqtt.js';
import { MemorySink } from './support-ingest/memory-sink.js';
import { TestMqttDevice } from './support-ingest/mqtt-device.js';
import { PrivateBroker } from './support-ingest/broker.js';
import { wireEvent } from './support-ingest/wire.js';
import { execFileSync } from 'node:child_process';

/**
 * The broker goes away mid-stream (killed, then back on the same port): the collector reconnects and subscribes
 * again, the device resends whatever was not acked (fresh signature each time, as a box does), and in the end every
 * event is acked and stored exactly once.
 */
let haveMosquitto = true;
try {
  execFileSync('mosquitto', ['-h'], { stdio: 'ignore' });
} catch (err) {
  // `mosquitto -h` exits 3 after printing its help: only a missing binary (ENOENT) counts.
  haveMosquitto = (err as NodeJS.ErrnoException).code !== 'ENOENT';
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

describe.skipIf(!haveMosquitto)('MQTT ingest across a broker outage', () => {
  it.each(['SIGKILL', 'SIGTERM'] as const)(
    'broker %s mid-stream: every event is acked and stored once',
    async (signal) => {
      const broker = await PrivateBroker.start();
      cleanup.push(() => broker.close());
      const sink = new MemorySink();
      const metrics = new IngestMetrics();
      const ingest = startMqttIngest({
        sink,
        metrics,
        mqtt: mqttConfig({ url: broker.url, client_id: 'collector-outage', reconnect_ms: 100, session_expiry_s: 60 }),
      });
      cleanup.push(() => ingest.close());
      await ingest.ready;
      const dev = await TestMqttDevice.connect(broker.url, sink.addDevice());
      cleanup.push(() => dev.close());

      const events = Array.from({ length: 30 }, () => wireEvent(dev.creds.deviceId));
      const acked = new Set<string>();
      dev.onAck = (a) => {
        for (const i of a.acks) if (i.status !== 'rejected') acked.add(i.id);
      };
      const publish = (e: (typeof events)[number]): void => void dev.publishEvents(e).catch(() => undefined);

      for (const [i, e] of events.entries()) {
        publish(e);
        if (i === 14) {
          await dev.ackOf(events[0]!.id as string);
          await broker.stop(signal);
          await new Promise((r) => setTimeout(r, 300));
          await broker.run();
        }
      }
      // The box's resend loop: anything without an ack is sent again with a fresh signature.
      const deadline = Date.now() + 30_000;
      while (acked.size < events.length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 1000));
        for (const e of events) if (!acked.has(e.id as string)) publish(e);
      }
      expect(acked.size).toBe(events.length);
      expect(sink.storedFor(dev.creds.deviceId).events).toBe(events.length);
      expect(ingest.connected()).toBe(true);
      expect(dev.forgedAcks).toBe(0);
    },
  );
});
