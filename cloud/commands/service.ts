import type { Readable } from 'node:stream';
import { parseDuration, type Clock } from '../../shared/clock/index.js';
import { describeError } from '../../shared/errors/index.js';
import { ulid } from '../../shared/ids/index.js';
import { formatIssues } from '../../shared/schema/index.js';
import type { Logger } from '../../shared/log/index.js';
import type { MqttEnvelope } from '../../shared/signing/index.js';
import { COMMANDS_PER_POLL_MAX } from '../../firmware-protocol/limits.js';
import { validateModelUpdateArgs, validateSnapshotArgs, type CommandResult } from '../../firmware-protocol/messages.js';
import { COMMAND_KIND_PATTERN } from '../../firmware-protocol/patterns.js';
import { commandsTopic } from '../../firmware-protocol/topics.js';
import type { BlobStore } from '../blob/blob-store.js';
import { VigilError } from '../errors.js';
import { DeviceRateLimiter } from '../ingest/rate-limit.js';
import type { Store } from '../store/store.js';
import type { CommandsConfig } from './config.js';
import { commandBody, fitsEnvelope, signCommand, type DeviceKeys } from './envelope.js';
import { endFromResult } from './results.js';
import type { CommandEnd, SqlCommandRepository, StoredCommand } from './repository.js';
import type { CommandRecord, CommandService, IssueCommand } from './types.js';
import { PollWaiters } from './waiters.js';

/**
 * The collector's command channel (PROTOCOL.md §6.1): stores commands (./repository.ts), hands them to the box —
 * published on its commands topic through the collector's MQTT connection (again whenever its availability turns
 * online), or answered to its signed long-poll — takes the box's results (from ingest, HTTP and MQTT), keeps a
 * snapshot's JPEG as a blob, ends what expires (`expired` / `device_offline`, `sweep`) and tells the
 * listeners of `onFinished` (the model rollout) how each command ended. Commands are limited per box
 * (`commands.rate`, per collector process).
 */
export interface CommandChannelOptions {
  repo: SqlCommandRepository;
  store: Pick<Store, 'getDevice'>;
  keys: DeviceKeys;
  blobs: BlobStore;
  config: CommandsConfig;
  clock: Clock;
  log: Logger;
}

/** How the channel publishes on MQTT (the collector's ingest connection); resolves once the broker has it. */
export interface CommandPublisher {
  publish(topic: string, payload: string): Promise<void>;
  connected(): boolean;
}

/** How often a waiting long-poll looks in the database (commands issued on another collector). */
const POLL_RECHECK_MS = 2_000;
/** Commands ended per sweep round. */
const SWEEP_BATCH = 200;

export class CommandChannel implements CommandService {
  private readonly listeners: Array<(record: CommandRecord) => void | Promise<void>> = [];
  private readonly limiter: DeviceRateLimiter;
  private readonly waiters = new PollWaiters();
  /** The long-poll of each box waiting in this process: a newer one ends it (answered empty), so a box holds one. */
  private readonly polls = new Map<string, AbortController>();
  private readonly ttlMs: number;
  private readonly maxTtlMs: number;
  private readonly redeliverAfterMs: number;
  private mqtt: CommandPublisher | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;
  private closed = false;

  constructor(private readonly o: CommandChannelOptions) {
    this.ttlMs = parseDuration(o.config.ttl);
    this.maxTtlMs = parseDuration(o.config.max_ttl);
    this.redeliverAfterMs = parseDuration(o.config.redeliver_after);
    this.limiter = new DeviceRateLimiter({
      perSecond: o.config.rate.per_minute / 60,
      burst: o.config.rate.burst,
      maxTracked: 100_000,
      clock: o.clock,
    });
  }

  /** Stores a command (queued) and hands it to the box's transport. */
  async issue(input: IssueCommand): Promise<CommandRecord> {
    checkKind(input.kind, input.args);
    const device = await this.o.store.getDevice(input.tenantId, input.deviceId);
    if (!device || device.revokedAt !== null)
      throw new VigilError('device_unknown', `no device ${input.deviceId} in this tenant (or it is revoked)`, {
        details: { device_id: input.deviceId },
      });
    const wait = this.limiter.take(input.deviceId);
    if (wait > 0)
      throw new VigilError('rate_limited', `too many commands for ${input.deviceId}; retry after ${wait} s`, {
        details: { retry_after_s: wait },
      });
    const now = this.o.clock.now();
    const ttl = Math.min(Math.max(input.ttlMs ?? this.ttlMs, 1_000), this.maxTtlMs);
    const fields = {
      id: `cmd_${ulid(now)}`,
      tenantId: input.tenantId,
      deviceId: input.deviceId,
      kind: input.kind,
      args: input.args,
      createdAt: now,
      expiresAt: now + ttl,
      issuedBy: input.issuedBy ?? null,
    };
    if (!fitsEnvelope(commandBody(fields)))
      throw new VigilError('invalid_request', 'the command is too large (its signed envelope is over 16 KiB)');
    const record = await this.o.repo.insert(fields);
    this.o.log.info(
      { command_id: record.id, device_id: record.deviceId, kind: record.kind, issued_by: record.issuedBy },
      'command issued',
    );
    this.waiters.wake(record.deviceId);
    void this.publish([record]);
    return record;
  }

  get(tenantId: string, deviceId: string, id: string): Promise<StoredCommand | undefined> {
    return this.o.repo.get(tenantId, deviceId, id);
  }

  onFinished(listener: (record: CommandRecord) => void | Promise<void>): void {
    this.listeners.push(listener);
  }

  /** A snapshot command's JPEG; undefined when the command has none (yet). */
  async snapshot(c: StoredCommand): Promise<{ stream: Readable; size: number } | undefined> {
    return c.snapshot ? this.o.blobs.get(c.snapshot.key) : undefined;
  }

  /**
   * A verified result of `deviceId` (ingest, HTTP and MQTT): `accepted` when it ended its command, `duplicate` when
   * the command had already ended (an earlier copy, or it expired), `unknown` when the device has no such command.
   */
  async recordResult(deviceId: string, result: CommandResult): Promise<'accepted' | 'duplicate' | 'unknown'> {
    const command = await this.o.repo.find(deviceId, result.command_id);
    if (!command) return 'unknown';
    if (command.state !== 'queued' && command.state !== 'delivered') return 'duplicate';
    if (result.command_kind !== command.kind)
      this.o.log.warn(
        { command_id: command.id, kind: command.kind, result_kind: result.command_kind },
        'a result names another kind than its command',
      );
    const end = await endFromResult(command, result, this.o.blobs);
    return (await this.finish(command, end)) ? 'accepted' : 'duplicate';
  }

  private async finish(c: StoredCommand, end: CommandEnd): Promise<StoredCommand | undefined> {
    const ended = await this.o.repo.finish(c.deviceId, c.id, end, this.o.clock.now());
    if (!ended) return undefined;
    this.o.log.info(
      { command_id: ended.id, device_id: ended.deviceId, kind: ended.kind, state: ended.state, code: ended.code },
      'command ended',
    );
    for (const listener of this.listeners) {
      void Promise.resolve()
        .then(() => listener(ended))
        .catch((err: unknown) =>
          this.o.log.warn({ err: describeError(err), command_id: ended.id }, 'a command listener failed'),
        );
    }
    return ended;
  }

  /** Ends every open command whose expiry passed: `expired`, code `device_offline`. Returns how many. */
  sweep(): Promise<number> {
    this.sweeping ??= (async () => {
      let ended = 0;
      try {
        for (;;) {
          const now = this.o.clock.now();
          const due = await this.o.repo.due(now, SWEEP_BATCH);
          for (const d of due) {
            const c = await this.o.repo.find(d.deviceId, d.id);
            if (!c) continue;
            const end: CommandEnd = {
              state: 'expired',
              result: null,
              code: 'device_offline',
              message: `the box sent no result before ${new Date(c.expiresAt).toISOString()}`,
            };
            if (await this.finish(c, end)) ended++;
          }
          if (due.length < SWEEP_BATCH || this.closed) return ended;
        }
      } finally {
        this.sweeping = undefined;
      }
    })();
    return this.sweeping;
  }

  /** Publishes on MQTT through `publisher` from now on (set once the collector's MQTT ingest runs). */
  attachMqtt(publisher: CommandPublisher): void {
    this.mqtt = publisher;
  }

  /** A box's availability changed (MQTT, retained): online → its open commands are published again. */
  availability(deviceId: string, state: 'online' | 'offline'): void {
    if (state !== 'online' || this.closed) return;
    void this.o.repo
      .pending(deviceId, this.o.clock.now(), COMMANDS_PER_POLL_MAX)
      .then((pending) => this.publish(pending))
      .catch((err: unknown) =>
        this.o.log.warn({ err: describeError(err), device_id: deviceId }, 'could not re-publish commands'),
      );
  }

  /** Publishes commands on their device's topic (QoS 1) and records them delivered. Never throws. */
  private async publish(commands: StoredCommand[]): Promise<void> {
    const mqtt = this.mqtt;
    if (!mqtt?.connected() || this.closed) return;
    for (const c of commands) {
      try {
        const envelope = await signCommand(c, this.o.keys, this.o.clock);
        if (!envelope) continue;
        await mqtt.publish(commandsTopic(c.deviceId), JSON.stringify(envelope));
        await this.o.repo.markDelivered([c.id], 'mqtt', this.o.clock.now());
      } catch (err) {
        this.o.log.warn(
          { err: describeError(err), command_id: c.id, device_id: c.deviceId },
          'command publish failed; it is published again when the box comes online',
        );
      }
    }
  }

  /**
   * The long-poll of an HTTPS-only box: its waiting commands as signed envelopes (recorded delivered over http),
   * as soon as there are any, else an empty list after `waitMs` (or when the box hangs up, when a newer poll of the
   * same box comes to this collector, or on close).
   */
  async poll(deviceId: string, waitMs: number, hangUp?: AbortSignal): Promise<MqttEnvelope[]> {
    // A box runs one poller: an earlier poll still open is a connection it gave up on (or a box opening polls to
    // hold sockets). It is answered now, empty; the box dedupes ids should both carry a command.
    this.polls.get(deviceId)?.abort();
    const mine = new AbortController();
    this.polls.set(deviceId, mine);
    const end = (): void => mine.abort();
    if (hangUp?.aborted) end();
    hangUp?.addEventListener('abort', end, { once: true });
    try {
      return await this.pollUntil(deviceId, waitMs, mine.signal);
    } finally {
      hangUp?.removeEventListener('abort', end);
      if (this.polls.get(deviceId) === mine) this.polls.delete(deviceId);
    }
  }

  private async pollUntil(deviceId: string, waitMs: number, signal: AbortSignal): Promise<MqttEnvelope[]> {
    const deadline = performance.now() + waitMs;
    for (;;) {
      const now = this.o.clock.now();
      const pending = await this.o.repo.pending(deviceId, now, COMMANDS_PER_POLL_MAX, now - this.redeliverAfterMs);
      const envelopes: MqttEnvelope[] = [];
      for (const c of pending) {
        const envelope = await signCommand(c, this.o.keys, this.o.clock);
        if (envelope) envelopes.push(envelope);
      }
      if (envelopes.length > 0) {
        await this.o.repo.markDelivered(
          pending.map((c) => c.id),
          'http',
          this.o.clock.now(),
        );
        return envelopes;
      }
      const left = deadline - performance.now();
      if (left <= 0 || this.closed || signal.aborted) return [];
      await this.waiters.wait(deviceId, Math.min(left, POLL_RECHECK_MS), signal);
    }
  }

  /** Long-polls waiting now. */
  openPolls(): number {
    return this.waiters.count();
  }

  /** Starts the expiry sweeper (every `commands.sweep_interval`). */
  start(): void {
    if (this.sweeper || this.closed) return;
    this.sweeper = setInterval(() => {
      this.sweep().catch((err: unknown) => this.o.log.warn({ err: describeError(err) }, 'command expiry sweep failed'));
    }, parseDuration(this.o.config.sweep_interval));
    this.sweeper.unref();
  }

  /** Stops the sweeper and answers every waiting long-poll (empty), so shutdown is not held up. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    this.waiters.close();
    await this.sweeping?.catch(() => undefined);
  }
}

/** The kind's form, and the arguments of the kinds whose arguments the collector knows. */
function checkKind(kind: string, args: Record<string, unknown>): void {
  if (!new RegExp(COMMAND_KIND_PATTERN).test(kind))
    throw new VigilError(
      'invalid_request',
      `kind "${kind.slice(0, 40)}" is not a command kind (${COMMAND_KIND_PATTERN})`,
    );
  const check = kind === 'snapshot' ? validateSnapshotArgs : kind === 'model_update' ? validateModelUpdateArgs : null;
  if (check && !check.check(args))
    throw new VigilError('invalid_request', `args of ${kind}: ${formatIssues(check.issues(args, 3))}`);
  if ((kind === 'status' || kind === 'reload_config') && Object.keys(args).length > 0)
    throw new VigilError('invalid_request', `${kind} takes no args`);
}
