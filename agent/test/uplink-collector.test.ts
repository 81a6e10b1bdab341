import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { MOSQUITTO_URL, serviceAvailable } from '../../shared/testing/index.js';
import { startCollector, type CollectorUnderTest } from './support-uplink/collector.js';
import { announce, eventLife, fakeJpeg } from './support-uplink/events.js';
import { makeAgent, waitFor, type AgentUnderTest } from './support-uplink/harness.js';
import { clearMqttSession } from './support-uplink/mosquitto.js';

/**
 * The uplink against the REAL collector (createCloud): whole event lives with a thumbnail replaced by an update,
 * heartbeats, and a box clock far off — over HTTPS and over MQTT through the shared Mosquitto at 127.0.0.1:1883.
 */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(
  transport: 'https' | 'mqtt',
  clockOffsetMs = 0,
): Promise<{ c: CollectorUnderTest; a: AgentUnderTest } | undefined> {
  if (transport === 'mqtt' && !(await serviceAvailable('mosquitto', '127.0.0.1', 1883))) return undefined;
  const c = await startCollector(transport === 'mqtt' ? { mqttUrl: MOSQUITTO_URL } : {});
  cleanups.push(() => c.close());
  if (transport === 'mqtt') cleanups.push(() => clearMqttSession(MOSQUITTO_URL, c.device.deviceId));
  const a = makeAgent({
    device: c.device,
    url: transport === 'mqtt' ? MOSQUITTO_URL : c.httpUrl,
    clockOffsetMs,
    ...(transport === 'mqtt' ? { clockSyncUrl: c.httpUrl } : {}),
    uplink: {
      version: '1.2.3',
      cameras: () => [{ name: 'front', state: 'running', fps: 5, last_frame_age_s: 0.2, restarts: 0 }],
    },
  });
  cleanups.push(a.stop);
  return { c, a };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

for (const transport of ['https', 'mqtt'] as const) {
  describe(`uplink → real collector over ${transport}`, () => {
    it('delivers whole event lives; an update that announces a new thumbnail replaces the first one', async () => {
      const s = await setup(transport);
      if (!s) return;
      const { c, a } = s;
      const lives = Array.from({ length: 25 }, () => eventLife(c.device.deviceId));
      const finalThumb = new Map<string, string>();
      lives.forEach((life, i) => {
        const [nw, up, end] = life as [(typeof life)[0], (typeof life)[0], (typeof life)[0]];
        const first = fakeJpeg(4_000, 2 * i + 1);
        const second = fakeJpeg(5_000, 2 * i + 2);
        a.outbox.enqueue(announce(nw, first), first);
        a.outbox.enqueue(announce(up, second), second);
        a.outbox.enqueue(announce(end, second));
        finalThumb.set(nw.id, sha(second));
      });
      await a.uplink.start();
      await waitFor('drained', () => a.outbox.stats().depth === 0, 60_000);
      for (const [id, thumbSha] of finalThumb) {
        const e = await c.event(id);
        expect(e).toMatchObject({ status: 'ended', lastRev: 2 });
        // Either the first thumbnail was never sent (superseded in the outbox) or the update's replaced it.
        expect(e!.thumbnail?.sha256).toBe(thumbSha);
      }
      await a.uplink.heartbeatNow();
      let status = await c.deviceStatus();
      for (let i = 0; i < 100 && status?.version !== '1.2.3'; i++) {
        await new Promise((r) => setTimeout(r, 50));
        status = await c.deviceStatus();
      }
      expect(status).toMatchObject({ version: '1.2.3', outboxDepth: 0, dropped: 0 });
    });

    it('recovers from a box clock two hours slow and delivers', async () => {
      const s = await setup(transport, -2 * 3_600_000);
      if (!s) return;
      const { c, a } = s;
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const [nw, , end] = eventLife(c.device.deviceId);
        const jpg = fakeJpeg(3_000, i + 1);
        a.outbox.enqueue(announce(nw!, jpg), jpg);
        a.outbox.enqueue({ ...end!, rev: 1 });
        ids.push(nw!.id);
      }
      await a.uplink.start();
      await waitFor('drained', () => a.outbox.stats().depth === 0, 60_000);
      expect(Math.abs(a.clock.now() - Date.now())).toBeLessThan(2_000);
      expect(await c.eventIds()).toEqual(new Set(ids));
      expect((await c.thumbnailIds()).size).toBe(5);
    });
  });
}
