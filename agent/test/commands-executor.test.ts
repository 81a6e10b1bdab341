import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log/index.js';
import { validateCommandResult, type Command, type CommandResult } from '../../firmware-protocol/messages.js';
import {
  CommandExecutor,
  failure,
  type CommandHandler,
  type CommandHandlers,
  type CommandOutbox,
} from '../commands/index.js';
import type { Outbox } from '../outbox/index.js';
import { COMMAND_SEEN_KEEP_MS } from '../outbox/index.js';
import { outboxFixture } from './support/outbox-fixture.js';
import { logLines, makeCommand, signCommand, testDevice } from './support-commands/commands.js';

/**
 * The command executor (PROTOCOL.md §6) on a real outbox file: what it drops without a result (forged, foreign,
 * garbled, stale), what it refuses with one (expired, unknown kind, bad arguments), and that a command id runs at
 * most once — twice delivered, re-signed, or after a restart on the same data dir.
 */

const fx = outboxFixture('vigil-commands-');

interface Setup {
  outbox: Outbox;
  executor: CommandExecutor;
  runs: Command[];
  logs: string[];
  wakes: number;
}

function setup(
  device = testDevice(),
  handlers: CommandHandlers = {},
  outbox: Outbox = fx.outbox(),
): Setup & { device: typeof device } {
  const runs: Command[] = [];
  const log = logLines();
  const counting: CommandHandler = async ({ command }) => {
    runs.push(command);
    return { status: 'done', result: { ran: command.id } };
  };
  const s = { outbox, runs, logs: log.lines, wakes: 0, device } as Setup & { device: typeof device };
  s.executor = new CommandExecutor({
    identity: device,
    clock: fx.clock,
    outbox,
    handlers: { status: counting, snapshot: counting, reload_config: counting, ...handlers },
    wake: () => void s.wakes++,
    logger: createLogger({ component: 'commands', level: 'debug', destination: log }),
  });
  return s;
}

/** The stored result record of a command, parsed and checked against the protocol schema. */
function resultOf(outbox: Outbox, id: string): CommandResult | undefined {
  const item = outbox.get({ kind: 'result', eventId: id, rev: 0 });
  if (!item) return undefined;
  const body = outbox.body({ kind: 'result', eventId: id, rev: 0 })!;
  return validateCommandResult.parse(JSON.parse(body.toString('utf8')), 'result');
}

const results = (outbox: Outbox): number => outbox.list({ kind: 'result', states: ['pending'] }).length;

describe('command executor: runs a good command once and answers through the outbox', () => {
  it('a well-signed status command runs, is remembered first, and its result is a pending result record', async () => {
    let seenWhileRunning = false;
    const s = setup(testDevice(), {
      status: async ({ command }) => {
        seenWhileRunning = s.outbox.commandSeen(command.id);
        s.runs.push(command);
        return { status: 'done', result: { hello: 'box' } };
      },
    });
    const cmd = makeCommand(s.device.deviceId, fx.clock);
    const r = await s.executor.receive(signCommand(s.device, cmd, fx.clock), 'mqtt');
    expect(r.outcome).toBe('started');
    await r.done;
    expect(s.runs.map((c) => c.id)).toEqual([cmd.id]);
    expect(seenWhileRunning).toBe(true); // remembered BEFORE the handler ran
    const res = resultOf(s.outbox, cmd.id)!;
    expect(res).toMatchObject({
      kind: 'command_result',
      command_id: cmd.id,
      device_id: s.device.deviceId,
      command_kind: 'status',
      status: 'done',
      result: { hello: 'box' },
    });
    expect(s.outbox.get({ kind: 'result', eventId: cmd.id, rev: 0 })?.state).toBe('pending');
    expect(s.wakes).toBe(1);
    expect(s.executor.counters).toMatchObject({ received: 1, executed: 1, duplicates: 0, refused: 0 });
  });

  it('the same id twice runs once: the same envelope again, and the command re-signed with a fresh nonce', async () => {
    const s = setup();
    const cmd = makeCommand(s.device.deviceId, fx.clock);
    const env = signCommand(s.device, cmd, fx.clock);
    await (await s.executor.receive(env, 'mqtt')).done;
    const again = await s.executor.receive(env, 'mqtt');
    const resigned = await s.executor.receive(signCommand(s.device, cmd, fx.clock), 'https');
    expect([again.outcome, resigned.outcome]).toEqual(['duplicate', 'duplicate']);
    expect(s.runs).toHaveLength(1);
    expect(results(s.outbox)).toBe(1);
    expect(s.executor.counters.duplicates).toBe(2);
    expect(s.logs.filter((l) => l.includes('not run again'))).toHaveLength(2);
  });

  it('after a restart on the same data dir the id is still remembered: it does not run again', async () => {
    const first = setup();
    const cmd = makeCommand(first.device.deviceId, fx.clock);
    await (await first.executor.receive(signCommand(first.device, cmd, fx.clock), 'mqtt')).done;
    await first.executor.close();
    first.outbox.close();
    const second = setup(first.device);
    const r = await second.executor.receive(signCommand(first.device, cmd, fx.clock), 'mqtt');
    expect(r.outcome).toBe('duplicate');
    expect(second.runs).toHaveLength(0);
    expect(first.runs).toHaveLength(1);
    expect(results(second.outbox)).toBe(1); // the one result of the first run, nothing more
  });

  it('commands of one kind run one after another; a handler that throws gives failed / internal_error', async () => {
    let active = 0;
    let most = 0;
    const s = setup(testDevice(), {
      snapshot: async () => {
        active++;
        most = Math.max(most, active);
        await new Promise((r) => setTimeout(r, 20));
        active--;
        throw new Error('camera exploded');
      },
    });
    const cmds = [1, 2, 3].map(() =>
      makeCommand(s.device.deviceId, fx.clock, { kind: 'snapshot', args: { camera: 'a' } }),
    );
    const receipts = await Promise.all(cmds.map((c) => s.executor.receive(signCommand(s.device, c, fx.clock), 'mqtt')));
    await Promise.all(receipts.map((r) => r.done));
    expect(most).toBe(1);
    for (const c of cmds) {
      expect(resultOf(s.outbox, c.id)).toMatchObject({ status: 'failed', code: 'internal_error' });
      expect(resultOf(s.outbox, c.id)?.message).toContain('camera exploded');
    }
    expect(s.executor.counters).toMatchObject({ executed: 3, failed: 3 });
  });
});

describe('command executor: dropped without a result (cannot be trusted to name a real command)', () => {
  const dropped = async (s: Setup, env: Buffer, code: string): Promise<void> => {
    const r = await s.executor.receive(env, 'mqtt');
    expect(r.outcome).toBe('dropped');
    expect(r.code).toBe(code);
    expect(s.runs).toHaveLength(0);
    expect(results(s.outbox)).toBe(0);
    const line = s.logs.find((l) => l.includes(`command refused (${code})`));
    expect(line, s.logs.join('\n')).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ level: 'warn', component: 'commands', reason: code });
  };

  it('forged: signed with another key', async () => {
    const s = setup();
    const forger = { ...s.device, secret: Buffer.alloc(32, 7) };
    await dropped(s, signCommand(forger, makeCommand(s.device.deviceId, fx.clock), fx.clock), 'signature_mismatch');
    expect(s.executor.counters.refused_signature).toBe(1);
  });

  it("foreign: another box's envelope, or a body naming another device under this box's signature", async () => {
    const s = setup();
    const other = testDevice();
    const theirs = signCommand(other, makeCommand(other.deviceId, fx.clock), fx.clock);
    await dropped(s, theirs, 'device_mismatch');
    const s2 = setup(s.device);
    await dropped(s2, signCommand(s.device, makeCommand(other.deviceId, fx.clock), fx.clock), 'device_mismatch');
  });

  it('garbled, altered, stale, not a Command', async () => {
    const s = setup();
    await dropped(s, Buffer.from('{"v":1,'), 'signature_malformed');
    const env = JSON.parse(signCommand(s.device, makeCommand(s.device.deviceId, fx.clock), fx.clock).toString());
    const altered = makeCommand(s.device.deviceId, fx.clock, { kind: 'reload_config' });
    env.body_b64 = Buffer.from(JSON.stringify(altered)).toString('base64');
    await dropped(s, Buffer.from(JSON.stringify(env)), 'body_hash_mismatch');
    const old = { now: () => fx.clock.now() - 400_000 };
    await dropped(s, signCommand(s.device, makeCommand(s.device.deviceId, old), old), 'timestamp_out_of_tolerance');
    const notCommand = { ...makeCommand(s.device.deviceId, fx.clock), id: 'cmd_nope' };
    await dropped(s, signCommand(s.device, notCommand, fx.clock), 'invalid_message');
    await dropped(s, Buffer.alloc(17 * 1024, 0x20), 'payload_too_large');
  });

  it('the same envelope again when its id was never remembered: dropped as nonce_replayed, not run', async () => {
    const s = setup();
    const real = s.outbox;
    let broken = true;
    // The first time the id cannot be remembered (say the disk failed): the command must not run then.
    const flaky: CommandOutbox = {
      commandSeen: (id) => real.commandSeen(id),
      rememberCommand: (c) => {
        if (broken) throw new Error('disk I/O error');
        return real.rememberCommand(c);
      },
      enqueueResult: (id, body, remember) => real.enqueueResult(id, body, remember),
    };
    const runs: string[] = [];
    const executor = new CommandExecutor({
      identity: s.device,
      clock: fx.clock,
      outbox: flaky,
      handlers: {
        status: async ({ command }) => {
          runs.push(command.id);
          return { status: 'done', result: {} };
        },
      },
    });
    const env = signCommand(s.device, makeCommand(s.device.deviceId, fx.clock), fx.clock);
    expect((await executor.receive(env, 'mqtt')).code).toBe('outbox_error');
    broken = false;
    expect((await executor.receive(env, 'mqtt')).code).toBe('nonce_replayed');
    expect(runs).toEqual([]);
    expect(executor.counters.refused_signature).toBe(1);
  });
});

describe('command executor: refused with a result, never run', () => {
  const refused = async (cmd: Command, code: string, handlers: CommandHandlers = {}): Promise<Setup> => {
    const s = setup(undefined, handlers);
    const mine = { ...cmd, device_id: s.device.deviceId };
    const r = await s.executor.receive(signCommand(s.device, mine, fx.clock), 'mqtt');
    expect(r.outcome).toBe('refused');
    expect(s.runs).toHaveLength(0);
    expect(resultOf(s.outbox, cmd.id)).toMatchObject({ status: 'refused', code, command_kind: cmd.kind });
    expect(s.outbox.commandSeen(cmd.id)).toBe(true);
    // Delivered again: remembered with its refusal, so no second result and no run.
    const again = await s.executor.receive(signCommand(s.device, mine, fx.clock), 'mqtt');
    expect(again.outcome).toBe('duplicate');
    expect(s.executor.counters).toMatchObject({ refused: 1, duplicates: 1, executed: 0 });
    return s;
  };

  it('expired: past expires_at by the corrected clock → command_expired', async () => {
    const cmd = makeCommand('x', fx.clock, { ttlMs: 60_000 });
    fx.clock.advance(61_000);
    const s = await refused(cmd, 'command_expired');
    expect(resultOf(s.outbox, cmd.id)?.message).toContain(cmd.expires_at);
    expect(s.executor.counters.refused).toBe(1);
  });

  it('unknown kind → command_unknown; a known kind without a handler (model_update) too', async () => {
    await refused(makeCommand('x', fx.clock, { kind: 'reboot' }), 'command_unknown');
    await refused(makeCommand('x', fx.clock, { kind: 'model_update', args: {} }), 'command_unknown');
  });

  it('bad arguments for a known kind → command_invalid', async () => {
    const s = await refused(makeCommand('x', fx.clock, { kind: 'snapshot', args: { width: 9 } }), 'command_invalid');
    expect(resultOf(s.outbox, s.outbox.list({ kind: 'result' })[0]!.eventId)?.message).toMatch(/camera/);
    await refused(makeCommand('x', fx.clock, { kind: 'status', args: { verbose: true } }), 'command_invalid');
    await refused(makeCommand('x', fx.clock, { kind: 'snapshot', args: { camera: 'a', width: 5 } }), 'command_invalid');
    // model_update's arguments too: its handler (which would download) never runs.
    let updates = 0;
    const update: CommandHandler = async () => {
      updates++;
      return { status: 'done', result: {} };
    };
    const badUpdate = { model_id: 'mdl_x', name: 'm', format: 'yolox', size: 1, sha256: 'nope', url: '/v1/m' };
    const cmd = makeCommand('x', fx.clock, { kind: 'model_update', args: badUpdate });
    await refused(cmd, 'command_invalid', { model_update: update });
    expect(updates).toBe(0);
  });

  it('a handler answering outside the protocol gives failed / internal_error, not a bad record', async () => {
    const s = setup(testDevice(), { status: async () => failure('no_frame', 'x'.repeat(2000)) });
    const cmd = makeCommand(s.device.deviceId, fx.clock);
    await (await s.executor.receive(signCommand(s.device, cmd, fx.clock), 'mqtt')).done;
    expect(resultOf(s.outbox, cmd.id)?.message?.length).toBeLessThanOrEqual(512);
  });
});

describe('commands seen: kept until an hour after expiry', () => {
  it('rows are purged after expires_at + 1 h, by the next write', async () => {
    const s = setup();
    const cmd = makeCommand(s.device.deviceId, fx.clock, { ttlMs: 10_000 });
    await (await s.executor.receive(signCommand(s.device, cmd, fx.clock), 'mqtt')).done;
    fx.clock.advance(10_000 + COMMAND_SEEN_KEEP_MS - 1_000);
    const next = makeCommand(s.device.deviceId, fx.clock);
    await (await s.executor.receive(signCommand(s.device, next, fx.clock), 'mqtt')).done;
    expect(s.outbox.commandSeen(cmd.id)).toBe(true);
    fx.clock.advance(2_000);
    const third = makeCommand(s.device.deviceId, fx.clock);
    await (await s.executor.receive(signCommand(s.device, third, fx.clock), 'mqtt')).done;
    expect(s.outbox.commandSeen(cmd.id)).toBe(false);
    expect(s.outbox.commandSeen(third.id)).toBe(true);
  });
});
