import type { Clock } from '../../shared/clock/index.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import type { DeviceCredentials } from '../../shared/signing/index.js';
import {
  COMMAND_KINDS,
  validateModelUpdateArgs,
  validateSnapshotArgs,
  type Command,
  type CommandKind,
} from '../../firmware-protocol/messages.js';
import { SigningErrorCode } from '../../shared/signing/index.js';
import { describeError, isVigilError } from '../errors.js';
import type { SeenCommand } from '../outbox/index.js';
import { failure, refusal, resultBody, type CommandFailure } from './results.js';
import type { CommandHandler, CommandHandlers, CommandOutcome } from './types.js';
import { CommandVerifier } from './verify.js';

/** What the executor needs from the outbox (Outbox has it): the ids seen and the result records. */
export interface CommandOutbox {
  commandSeen(id: string): boolean;
  rememberCommand(c: SeenCommand): boolean;
  enqueueResult(commandId: string, body: Buffer, remember?: SeenCommand): 'queued' | 'duplicate';
}

export interface CommandExecutorOptions {
  identity: DeviceCredentials;
  /** The uplink's corrected clock: signatures' timestamps and `expires_at` are judged by it. */
  clock: Clock;
  outbox: CommandOutbox;
  handlers: CommandHandlers;
  /** Called after a result record was queued (the uplink's notify: send it now). */
  wake?: () => void;
  logger?: Logger;
}

/** What became of one envelope; `done` settles when the command has finished and its result is queued. */
export interface Receipt {
  outcome: 'dropped' | 'duplicate' | 'refused' | 'started';
  commandId?: string;
  /** Why it was dropped or refused (a signing / message code, or a CommandResult code). */
  code?: string;
  done: Promise<void>;
}

/** Counters since start, shown in the daemon's status document (`commands`). */
export interface CommandCounters {
  /** Envelopes handed in (both transports). */
  received: number;
  /** Dropped without a result: envelope malformed or too large, another device, bad signature/timestamp/nonce. */
  refused_signature: number;
  /** Dropped without a result: well signed, but the body is not a Command for this box. */
  refused_invalid: number;
  /** Well-signed commands whose id was accepted before: not run again. */
  duplicates: number;
  /** Refused with a result: command_expired, command_unknown, command_invalid. */
  refused: number;
  /** Handlers run. */
  executed: number;
  /** Handlers that ended `failed` (or threw). */
  failed: number;
  /** Results the outbox could not take (disk full, over budget): logged, the collector expires the command. */
  results_lost: number;
}

type ArgsCheck = (args: Record<string, unknown>) => string[];
const noArgs: ArgsCheck = (a) => Object.keys(a).map((k) => `/${k}: no arguments are taken`);
const issues =
  (v: { issues(x: unknown): Array<{ path: string; message: string }> }): ArgsCheck =>
  (a) =>
    v.issues(a).map((i) => `${i.path} ${i.message}`);
/** Argument checks of the known kinds. */
const ARGS: Record<CommandKind, ArgsCheck> = {
  snapshot: issues(validateSnapshotArgs),
  status: noArgs,
  reload_config: noArgs,
  model_update: issues(validateModelUpdateArgs),
};

const SIGNING_CODES = new Set<string>([...Object.values(SigningErrorCode), 'payload_too_large']);

/**
 * Runs the commands the collector sends (firmware-protocol PROTOCOL.md §6), at most once each. For every envelope,
 * from either transport: verify it (verify.ts; a bad one is dropped with a warn log naming the reason, no result);
 * drop an id accepted before (info log); refuse, with a result, one past its `expires_at` (`command_expired`), of
 * a kind without a handler (`command_unknown`) or with bad arguments (`command_invalid`); else remember its id in
 * the outbox file (fsynced) and only then run its handler. Every accepted command's answer is a CommandResult
 * queued in the outbox (kind `result`), which the uplink sends and settles by the collector's ack.
 *
 * Commands of one kind run one after another (two model updates never overlap); different kinds run side by
 * side. A handler that throws gives a `failed` / `internal_error` result; it never takes the box down.
 */
export class CommandExecutor {
  readonly counters: CommandCounters = {
    received: 0,
    refused_signature: 0,
    refused_invalid: 0,
    duplicates: 0,
    refused: 0,
    executed: 0,
    failed: 0,
    results_lost: 0,
  };
  private readonly verifier: CommandVerifier;
  private readonly handlers: CommandHandlers;
  private readonly log: Logger;
  /** The last run of each kind (the next one of that kind waits for it). */
  private readonly chains = new Map<string, Promise<void>>();
  private readonly running = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly o: CommandExecutorOptions) {
    this.verifier = new CommandVerifier(o.identity, o.clock);
    this.handlers = { ...o.handlers };
    this.log = o.logger ?? silentLogger();
  }

  /** Adds or replaces the handler of a kind (e.g. `model_update`, registered by the daemon once it can run it). */
  register(kind: CommandKind, handler: CommandHandler): void {
    this.handlers[kind] = handler;
  }

  /** The kinds this box runs now. */
  kinds(): CommandKind[] {
    return COMMAND_KINDS.filter((k) => this.handlers[k] !== undefined);
  }

  /**
   * Takes one signed envelope. Resolves once it is judged and, when accepted, its id remembered — the command may
   * still be running then (`done`). Never rejects.
   */
  async receive(envelope: Buffer, via: string): Promise<Receipt> {
    this.counters.received++;
    const settled = Promise.resolve();
    if (this.closed) return { outcome: 'dropped', code: 'stopping', done: settled };
    let command: Command;
    let replayed: boolean;
    try {
      ({ command, replayed } = await this.verifier.verify(envelope));
    } catch (err) {
      const code = isVigilError(err) ? err.code : 'internal_error';
      if (SIGNING_CODES.has(code)) this.counters.refused_signature++;
      else this.counters.refused_invalid++;
      this.log.warn({ reason: code, via, err: describeError(err) }, `command refused (${code}): not run, no result`);
      return { outcome: 'dropped', code, done: settled };
    }
    const ids = { command_id: command.id, kind: command.kind, via };
    if (this.o.outbox.commandSeen(command.id)) {
      this.counters.duplicates++;
      this.log.info(ids, 'command already accepted before; not run again');
      return { outcome: 'duplicate', commandId: command.id, done: settled };
    }
    if (replayed) {
      this.counters.refused_signature++;
      this.log.warn({ ...ids, reason: 'nonce_replayed' }, 'command refused (nonce_replayed): not run, no result');
      return { outcome: 'dropped', commandId: command.id, code: 'nonce_replayed', done: settled };
    }
    const seen: SeenCommand = { id: command.id, kind: command.kind, expiresAtMs: Date.parse(command.expires_at) };
    const refused = this.refusalOf(command, seen.expiresAtMs);
    if (refused) {
      this.counters.refused++;
      this.log.warn({ ...ids, code: refused.code }, `command refused (${refused.code}): ${refused.message}`);
      this.queue(command, refused, seen);
      return { outcome: 'refused', commandId: command.id, code: refused.code, done: settled };
    }
    try {
      // Remembered (and fsynced) before the handler runs: at most once, even across a crash mid-run.
      if (!this.o.outbox.rememberCommand(seen)) {
        this.counters.duplicates++;
        return { outcome: 'duplicate', commandId: command.id, done: settled };
      }
    } catch (err) {
      this.log.error({ ...ids, err: describeError(err) }, 'command not run: its id could not be remembered');
      return { outcome: 'dropped', commandId: command.id, code: 'outbox_error', done: settled };
    }
    const done = this.start(command);
    return { outcome: 'started', commandId: command.id, done };
  }

  /** Why a command is refused without running, or undefined. */
  private refusalOf(command: Command, expiresAtMs: number): CommandFailure | undefined {
    if (!(expiresAtMs > this.o.clock.now())) {
      return refusal('command_expired', `the command expired at ${command.expires_at}`);
    }
    const kind = command.kind as CommandKind;
    if (!(COMMAND_KINDS as readonly string[]).includes(kind) || !this.handlers[kind]) {
      return refusal('command_unknown', `this box does not run commands of kind ${command.kind}`);
    }
    const bad = ARGS[kind](command.args);
    if (bad.length > 0) return refusal('command_invalid', `bad arguments for ${kind}: ${bad.join('; ')}`);
    return undefined;
  }

  private start(command: Command): Promise<void> {
    const previous = this.chains.get(command.kind) ?? Promise.resolve();
    const run = previous.then(() => this.run(command));
    this.chains.set(command.kind, run);
    this.running.add(run);
    void run.finally(() => {
      this.running.delete(run);
      if (this.chains.get(command.kind) === run) this.chains.delete(command.kind);
    });
    return run;
  }

  private async run(command: Command): Promise<void> {
    const log = this.log.child({ command_id: command.id, kind: command.kind });
    const handler = this.handlers[command.kind as CommandKind] as CommandHandler;
    const t0 = performance.now();
    this.counters.executed++;
    log.info('command started');
    let outcome: CommandOutcome;
    try {
      outcome = await handler({ command, log });
    } catch (err) {
      outcome = failure('internal_error', describeError(err));
    }
    if (outcome.status !== 'done') this.counters.failed++;
    const ms = Math.round(performance.now() - t0);
    const fields = { status: outcome.status, ms, ...(outcome.status !== 'done' ? { code: outcome.code } : {}) };
    if (outcome.status === 'done') log.info(fields, 'command done');
    else log.warn({ ...fields, err: outcome.message }, `command ${outcome.status} (${outcome.code})`);
    this.queue(command, outcome);
  }

  /** Queues the result record (and, for a refusal, remembers the id in the same transaction). */
  private queue(command: Command, outcome: CommandOutcome, remember?: SeenCommand): void {
    const body = resultBody(command, this.o.identity.deviceId, outcome, this.o.clock.now());
    try {
      this.o.outbox.enqueueResult(command.id, body, remember);
      this.o.wake?.();
    } catch (err) {
      this.counters.results_lost++;
      const fields = { command_id: command.id, kind: command.kind, err: describeError(err) };
      this.log.error(fields, 'the result of a command could not be queued; the collector will expire it');
    }
  }

  /** Waits for the commands still running (at most `timeoutMs`); later envelopes are dropped. */
  async close(timeoutMs = 5_000): Promise<void> {
    this.closed = true;
    if (this.running.size === 0) return;
    const within = new Promise<void>((r) => setTimeout(r, timeoutMs).unref());
    await Promise.race([Promise.allSettled([...this.running]), within]);
    if (this.running.size > 0) {
      this.log.warn({ running: this.running.size }, 'stopping while commands still run; their results are lost');
    }
  }
}
