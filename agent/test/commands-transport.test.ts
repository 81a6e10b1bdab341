import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log/index.js';
import { statusHandler, type CommandHandlers } from '../commands/index.js';
import { CommandChannel } from '../daemon/command-channel.js';
import type { DaemonStatus } from '../status/schema.js';
import { startAedes } from './support-uplink/aedes-broker.js';
import { makeAgent, waitFor, type AgentUnderTest } from './support-uplink/harness.js';
import { CommandCollector } from './support-commands/collector.js';
import { logLines, testDevice } from './support-commands/commands.js';

/**
 * The command channel over both transports, as the daemon wires it (daemon/command-channel.ts): MQTT hands the
 * commands topic's messages to the executor (the box subscribes to it next to its acks), an HTTPS-only box
 * long-polls; the result goes through the outbox, is signed and sent (MQTT results topic / POST results), and the
 * collector's ack of kind `result` settles it.
 */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Box {
  a: AgentUnderTest;
  channel: CommandChannel;
  runs: string[];
  logs: string[];
}

const statusDoc = { v: 1, device_id: 'box', cameras: [] } as unknown as DaemonStatus;

function box(c: CommandCollector, url: string, https: boolean): Box {
  const runs: string[] = [];
  const a = makeAgent({ device: c.device, url, uplink: { ackTimeoutMs: 2_000 } });
  const status = statusHandler(() => statusDoc);
  const handlers: CommandHandlers = {
    status: async (ctx) => {
      runs.push(ctx.command.id);
      return status(ctx);
    },
  };
  const log = logLines();
  const channel = new CommandChannel({
    identity: c.device,
    clock: a.clock,
    outbox: a.outbox,
    uplink: a.uplink,
    transport: a.transport,
    commandPoll: https ? { baseUrl: url, tls: {}, waitS: 1 } : undefined, // short polls for the test
    handlers,
    logger: createLogger({ component: 'commands', destination: log }),
  });
  cleanups.push(async () => {
    await a.stop();
    await channel.stop();
  });
  return { a, channel, runs, logs: log.lines };
}

const settled = (b: Box, id: string) => () =>
  b.a.outbox.get({ kind: 'result', eventId: id, rev: 0 })?.state === 'acked';

describe('commands over MQTT (the commands topic, QoS 1, next to the acks)', () => {
  it('a published command runs once (also when published twice) and its result is acked kind result', async () => {
    const broker = await startAedes();
    cleanups.push(broker.close);
    const c = new CommandCollector(testDevice());
    cleanups.push(() => c.close());
    await c.connectMqtt(broker.url);
    const b = box(c, broker.url, false);
    b.channel.start();
    await b.a.uplink.start();
    await waitFor('connected', () => b.a.transport.isReady(), 10_000);
    // Subscribed only once connected: give the SUBACK a moment by waiting for a first command to arrive.
    const first = c.command();
    await waitFor(
      'the first command to reach the box',
      () => {
        if (b.channel.counters().received === 0) void c.publish(first.envelope);
        return b.channel.counters().received > 0;
      },
      10_000,
      300,
    );
    await waitFor('the result acked', settled(b, first.id), 10_000);
    await c.publish(first.envelope);
    const second = c.command();
    await c.publish(second.envelope);
    await waitFor('the second result acked', settled(b, second.id), 10_000);
    expect(b.runs).toEqual([first.id, second.id]);
    expect(c.results.map((r) => r.command_id)).toEqual([first.id, second.id]);
    expect(c.results[0]).toMatchObject({ status: 'done', device_id: c.device.deviceId, result: statusDoc });
    expect(b.channel.counters().duplicates).toBeGreaterThanOrEqual(1);
    expect(b.a.uplink.metrics.resultsSent).toBe(2);
  });
});

describe('commands over HTTPS (the signed long-poll)', () => {
  it('a command handed out by the poll runs once (also when handed out again) and its result is acked', async () => {
    const c = new CommandCollector(testDevice());
    cleanups.push(() => c.close());
    const url = await c.listenHttp();
    const b = box(c, url, true);
    await b.a.uplink.start();
    b.channel.start();
    await waitFor('a first poll', () => c.polls.length > 0, 10_000);
    expect(c.polls[0]).toBe(1);
    const cmd = c.command();
    c.waiting.push(cmd.envelope);
    await waitFor('the result acked', settled(b, cmd.id), 10_000);
    // Handed out again (a collector re-hands a delivered command without a result after 30 s): not run again.
    c.waiting.push(cmd.envelope);
    await waitFor('the repeat seen', () => b.channel.counters().received === 2, 10_000);
    expect(b.runs).toEqual([cmd.id]);
    expect(c.results).toHaveLength(1);
    expect(c.results[0]).toMatchObject({ command_id: cmd.id, status: 'done', result: statusDoc });
    expect(b.channel.counters().duplicates).toBe(1);
  });
});
