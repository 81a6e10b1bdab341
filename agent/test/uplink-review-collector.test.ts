import { afterEach, describe, expect, it } from 'vitest';
import { MOSQUITTO_URL, serviceAvailable } from '../../shared/testing/index.js';
import type { OutboxEvent } from '../outbox/index.js';
import { startCollector, type CollectorUnderTest } from './support-uplink/collector.js';
import { eventLife, makeReview } from './support-uplink/events.js';
import { makeAgent, waitFor, type AgentUnderTest } from './support-uplink/harness.js';
import { clearMqttSession } from './support-uplink/mosquitto.js';

/**
 * Review records against the REAL collector (createCloud), which knows review items: each one stored with its
 * current state by rev, acked kind `review`, the outbox drained — over HTTPS, and over MQTT through the shared
 * Mosquitto at 127.0.0.1:1883 when it runs (as uplink-collector.test.ts).
 */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(transport: 'https' | 'mqtt'): Promise<{ c: CollectorUnderTest; a: AgentUnderTest } | undefined> {
  if (transport === 'mqtt' && !(await serviceAvailable('mosquitto', '127.0.0.1', 1883))) return undefined;
  const c = await startCollector(transport === 'mqtt' ? { mqttUrl: MOSQUITTO_URL } : {});
  cleanups.push(() => c.close());
  if (transport === 'mqtt') cleanups.push(() => clearMqttSession(MOSQUITTO_URL, c.device.deviceId));
  const a = makeAgent({
    device: c.device,
    url: transport === 'mqtt' ? MOSQUITTO_URL : c.httpUrl,
    ...(transport === 'mqtt' ? { clockSyncUrl: c.httpUrl } : {}),
  });
  cleanups.push(a.stop);
  return { c, a };
}

for (const transport of ['https', 'mqtt'] as const) {
  describe(`review records → real collector over ${transport}`, () => {
    it('stores each review item at its last rev next to its events; the outbox drains, nothing dropped', async () => {
      const s = await setup(transport);
      if (!s) return;
      const { c, a } = s;
      const deviceId = c.device.deviceId;
      const lives = [eventLife(deviceId), eventLife(deviceId)];
      const [first, second] = lives.map((l) => l[0]!.id) as [string, string];
      const id = makeReview().id;
      const review = (over: Partial<OutboxEvent>): OutboxEvent => makeReview({ id, deviceId, ...over });
      const records: OutboxEvent[] = [
        review({ objects: [first], labels: ['person'], thumbnail_event: first }),
        review({ type: 'update', rev: 1, objects: [first, second], zones: ['porch'], thumbnail_event: first }),
        review({ type: 'end', rev: 2, objects: [first, second], zones: ['porch'], thumbnail_event: first }),
      ];
      for (const e of lives[0]!) a.outbox.enqueue(e);
      a.outbox.enqueue(records[0]!);
      for (const e of lives[1]!) a.outbox.enqueue(e);
      a.outbox.enqueue(records[1]!);
      a.outbox.enqueue(records[2]!);
      await a.uplink.start();
      await waitFor('drained', () => a.outbox.stats().depth === 0, 60_000);
      const stored = await c.review(id);
      expect(stored).toMatchObject({
        deviceId,
        camera: 'front',
        severity: 'alert',
        status: 'ended',
        lastRev: 2,
        objects: [first, second],
        zones: ['porch'],
        thumbnailEvent: first,
      });
      expect(await c.eventIds()).toEqual(new Set([first, second]));
      const st = a.outbox.stats();
      expect(st.byKind.review.acked).toBe(3);
      expect(a.uplink.reviews.acked).toBe(3);
      expect(st.counters['reviews.unsupported']).toBeUndefined();
      expect(st.total.dead).toBe(0);
    });
  });
}
