/**
 * A small agent process for fault tests: runs the real outbox + uplink, takes commands on stdin, and reports on
 * stdout. `ok <event id>` is printed only after the enqueue committed (stdout on a pipe is synchronous on Linux),
 * so the test knows a lower bound of what the outbox accepted even when this process is killed with SIGKILL.
 *
 *   node --import tsx agent/test/support-uplink/agent-process.ts '<json config>'
 *   stdin:  enqueue <count> [thumbnail bytes]  |  stats  |  stop
 *   stdout: ready | ok <id> | refused <id> <code> | enqueued <n> | stats <json> | stopped
 */
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { OffsetClock } from '../../../shared/clock/index.js';
import { isVigilError } from '../../../shared/errors/index.js';
import { createLogger } from '../../../shared/log/index.js';
import { pino } from 'pino';
import { validateEvent } from '../../../firmware-protocol/messages.js';
import { Outbox } from '../../outbox/index.js';
import { HttpsTransport, MqttTransport, Uplink, type Transport } from '../../uplink/index.js';
import { announce, fakeJpeg, makeEvent } from './events.js';

interface Config {
  dataDir: string;
  url: string;
  clockSyncUrl?: string;
  device: { deviceId: string; keyId: string; secret_b64: string };
  ackTimeoutMs?: number;
  budgetBytes?: number;
  logFile?: string;
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as Config;
const device = {
  deviceId: cfg.device.deviceId,
  keyId: cfg.device.keyId,
  secret: Buffer.from(cfg.device.secret_b64, 'base64'),
};
const clock = new OffsetClock();
const logger = createLogger({
  component: 'test-agent',
  level: 'info',
  destination: pino.destination({ dest: cfg.logFile ?? '/dev/null', sync: true }),
});
const outbox = Outbox.open({
  path: join(cfg.dataDir, 'outbox.db'),
  logger,
  validateEvent: (e) => void validateEvent.parse(e, 'event'),
  ...(cfg.budgetBytes ? { budgetBytes: cfg.budgetBytes } : {}),
});
const transport: Transport = cfg.url.startsWith('mqtt')
  ? new MqttTransport({ url: cfg.url, identity: device, clock, logger, reconnect: { baseMs: 200, maxMs: 2_000 } })
  : new HttpsTransport({ baseUrl: cfg.url, identity: device, clock, logger, timeoutMs: 5_000 });
const uplink = new Uplink({
  outbox,
  transport,
  deviceId: device.deviceId,
  clock,
  logger,
  ackTimeoutMs: cfg.ackTimeoutMs ?? 5_000,
  heartbeatIntervalMs: 0,
  idlePollMs: 200,
  transportBackoff: { baseMs: 200, maxMs: 2_000 },
  messagesPerSecond: 0,
  ...(cfg.clockSyncUrl
    ? { clockSync: new HttpsTransport({ baseUrl: cfg.clockSyncUrl, identity: device, clock, logger }) }
    : {}),
});

const out = (line: string): void => void process.stdout.write(line + '\n');

await uplink.start();
out('ready');

let seed = process.pid;
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, a, b] = line.trim().split(/\s+/);
  if (cmd === 'enqueue') {
    const n = Number(a);
    const thumbBytes = Number(b ?? 0);
    let ok = 0;
    for (let i = 0; i < n; i++) {
      const jpg = thumbBytes > 0 ? fakeJpeg(thumbBytes, seed++) : undefined;
      const base = makeEvent({ deviceId: device.deviceId });
      const event = jpg ? announce(base, jpg) : base;
      try {
        outbox.enqueue(event, jpg);
        ok++;
        out(`ok ${event.id}`);
      } catch (err) {
        out(`refused ${event.id} ${isVigilError(err) ? err.code : 'error'}`);
      }
      if (i % 50 === 49) {
        uplink.notify();
        await new Promise((r) => setImmediate(r));
      }
    }
    uplink.notify();
    out(`enqueued ${ok}`);
  } else if (cmd === 'stats') {
    out(`stats ${JSON.stringify({ ...outbox.stats(), uplink: uplink.metrics })}`);
  } else if (cmd === 'stop') {
    await uplink.stop();
    outbox.close();
    out('stopped');
    process.exit(0);
  }
}
