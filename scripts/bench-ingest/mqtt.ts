import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { signMqttMessage } from '../../shared/signing/index.js';
import { tcpReachable } from '../../shared/testing/index.js';
import { acksTopic, eventsTopic } from '../../firmware-protocol/topics.js';
import { ask, startChild, stopChild } from './children.js';
import { CONNECTIONS, creds, event, load, MQTT_URL, pct, SECONDS, WARMUP_MS } from './common.js';

/**
 * MQTT ingest through the broker at MQTT_URL (SQLite FULL): each device keeps up to 16 unacked events in flight,
 * counted when the signed ack comes back (end to end: broker → collector → SQLite → ack → device). Besides the rate
 * and latency it prints the CPU the collector and this load generator spent per acked event in the measured window
 * (a figure that depends less on what else the machine runs than the rate does).
 */
export async function benchMqtt(): Promise<number | undefined> {
  const u = new URL(MQTT_URL);
  if (!(await tcpReachable(u.hostname, Number(u.port || 1883)))) {
    console.log(`MQTT ingest: skipped (no broker at ${MQTT_URL})`);
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  const group = `bench${randomBytes(4).toString('hex')}`;
  const col = await startChild(['--role', 'collector', dir, 'mqtt', group, 'full']);
  const WINDOW = 16;
  const clients: mqtt.MqttClient[] = [];
  try {
    const devices = col.ready.devices!.map(creds);
    let acked = 0;
    let ackedInWindow = 0;
    const latencies: number[] = [];
    const start = Date.now();
    const measureFrom = start + WARMUP_MS;
    const end = measureFrom + SECONDS * 1000;
    const cpu: { collector?: number; generator?: number } = {};
    const cpuAt = (at: number, sign: 1 | -1): NodeJS.Timeout =>
      setTimeout(() => {
        const own = process.cpuUsage();
        cpu.collector = (cpu.collector ?? 0) + sign * processCpuMs(col.child.pid);
        cpu.generator = (cpu.generator ?? 0) + (sign * (own.user + own.system)) / 1000;
      }, at - Date.now());
    const cpuTimers = [cpuAt(measureFrom, -1), cpuAt(end, 1)];
    await Promise.all(
      devices.map(async (d) => {
        const client = await mqtt.connectAsync(MQTT_URL, {
          clientId: `${d.deviceId}-bench`,
          clean: true,
          protocolVersion: 5,
        });
        clients.push(client);
        const topic = eventsTopic(d.deviceId);
        const inflight = new Map<string, number>();
        let done!: () => void;
        const finished = new Promise<void>((r) => (done = r));
        const sendOne = (): void => {
          if (Date.now() >= end) {
            if (inflight.size === 0) done();
            return;
          }
          const e = event(d.deviceId);
          inflight.set(e.id as string, performance.now());
          const env = signMqttMessage(d, topic, Buffer.from(JSON.stringify(e)));
          client.publish(topic, JSON.stringify(env), { qos: 1 });
        };
        client.on('message', (_t, payload) => {
          const env = JSON.parse(payload.toString()) as { body_b64: string };
          const ack = JSON.parse(Buffer.from(env.body_b64, 'base64').toString()) as {
            acks: { id: string; status: string }[];
          };
          const now = Date.now();
          for (const item of ack.acks) {
            const t0 = inflight.get(item.id);
            if (t0 === undefined || item.status === 'rejected') continue;
            inflight.delete(item.id);
            acked++;
            if (now >= measureFrom && now < end) {
              ackedInWindow++;
              latencies.push(performance.now() - t0);
            }
            sendOne();
          }
        });
        await client.subscribeAsync(acksTopic(d.deviceId), { qos: 1 });
        for (let i = 0; i < WINDOW; i++) sendOne();
        // Bounded: give up on stragglers 10 s after the window.
        await Promise.race([finished, new Promise((r) => setTimeout(r, end - Date.now() + 10_000))]);
      }),
    );
    for (const t of cpuTimers) clearTimeout(t);
    const rate = ackedInWindow / SECONDS;
    const perEvent = (ms: number | undefined): string => ((ms ?? Number.NaN) / Math.max(1, ackedInWindow)).toFixed(3);
    console.log(
      `${'MQTT ingest via Mosquitto, acked end to end'.padEnd(48)} ${rate.toFixed(0).padStart(8)} events/s   ` +
        `(${ackedInWindow} acks in ${SECONDS} s; ${CONNECTIONS} devices × ${WINDOW} in flight; latency p50 ` +
        `${pct(latencies, 50)} ms, p99 ${pct(latencies, 99)} ms; ${load()})`,
    );
    console.log(
      `  CPU per acked event: collector ${perEvent(cpu.collector)} ms, load generator ${perEvent(cpu.generator)} ms ` +
        `(collector busy ${(((cpu.collector ?? 0) / (SECONDS * 1000)) * 100).toFixed(0)}% of one core)`,
    );
    const { stored } = await ask<{ stored: number }>(col.child, 'count');
    console.log(`  stored rows ${stored} ≥ acked ${acked}: ${stored >= acked ? 'ok' : 'MISSING ROWS'}`);
    return rate;
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await stopChild(col.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU time (user + system, ms) a process has used so far; NaN where /proc is not there. */
function processCpuMs(pid: number | undefined): number {
  try {
    // /proc/<pid>/stat: fields after the parenthesised command name; utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** USER_HZ: 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;
