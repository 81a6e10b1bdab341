import type { OffsetClock } from '../../shared/clock/index.js';
import type { Logger } from '../../shared/log/index.js';
import type { DeviceCredentials } from '../../shared/signing/index.js';
import {
  CommandExecutor,
  CommandPoller,
  type CommandCounters,
  type CommandHandler,
  type CommandHandlers,
} from '../commands/index.js';
import type { CommandKind } from '../../firmware-protocol/messages.js';
import type { Outbox } from '../outbox/index.js';
import type { ClientTls, CommandSink, Transport, Uplink } from '../uplink/index.js';

export interface CommandChannelDeps {
  identity: DeviceCredentials;
  /** The uplink's corrected clock. */
  clock: OffsetClock;
  outbox: Outbox;
  uplink: Uplink;
  transport: Transport;
  /** Set for a box on HTTPS only: the long-poll's collector (and how long one poll may wait, default 25 s). */
  commandPoll: { baseUrl: string; tls: ClientTls; waitS?: number } | undefined;
  handlers: CommandHandlers;
  logger: Logger;
}

/**
 * The command channel as the daemon runs it (PROTOCOL.md §6): one CommandExecutor (agent/commands) fed by the
 * transport that brings commands — MQTT hands them over itself (its commands topic, `Transport.setCommandSink`,
 * set before the uplink connects), a box on HTTPS only long-polls (CommandPoller). Results go to the outbox and
 * the uplink is woken to send them.
 */
export class CommandChannel {
  readonly executor: CommandExecutor;
  private readonly poller: CommandPoller | undefined;

  constructor(d: CommandChannelDeps) {
    this.executor = new CommandExecutor({
      identity: d.identity,
      clock: d.clock,
      outbox: d.outbox,
      handlers: d.handlers,
      wake: () => d.uplink.notify(),
      logger: d.logger,
    });
    const sink: CommandSink = async (envelope, meta) => void (await this.executor.receive(envelope, meta.transport));
    if (d.transport.setCommandSink) d.transport.setCommandSink(sink);
    this.poller =
      !d.transport.setCommandSink && d.commandPoll
        ? new CommandPoller({ ...d.commandPoll, identity: d.identity, clock: d.clock, sink, logger: d.logger })
        : undefined;
  }

  /** Adds or replaces the handler of a kind (see CommandExecutor.register). */
  register(kind: CommandKind, handler: CommandHandler): void {
    this.executor.register(kind, handler);
  }

  /** Starts the long-poll (HTTPS only; over MQTT commands come with the uplink's connection). */
  start(): void {
    this.poller?.start();
  }

  /** Stops polling, then waits briefly for the commands still running. */
  async stop(): Promise<void> {
    await this.poller?.stop();
    await this.executor.close();
  }

  counters(): CommandCounters {
    return { ...this.executor.counters };
  }
}
