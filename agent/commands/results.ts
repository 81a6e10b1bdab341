import { COMMAND_RESULT_MAX_BYTES } from '../../firmware-protocol/limits.js';
import {
  validateCommandResult,
  type Command,
  type CommandResult,
  type CommandResultCode,
} from '../../firmware-protocol/messages.js';
import type { CommandOutcome } from './types.js';

/** Longest `message` a CommandResult carries (its schema). */
const MESSAGE_MAX = 512;

/** An outcome that is not `done`: it carries a code and a message. */
export type CommandFailure = Exclude<CommandOutcome, { status: 'done' }>;

/** The outcome of a command that was not run: refused with one of the refusal codes. */
export function refusal(code: CommandResultCode, message: string): CommandFailure {
  return { status: 'refused', code, message };
}

/** The outcome of a command that ran and failed. */
export function failure(code: CommandResultCode, message: string): CommandFailure {
  return { status: 'failed', code, message };
}

const trim = (s: string): string => (s.length <= MESSAGE_MAX ? s : `${s.slice(0, MESSAGE_MAX - 1)}…`);

/** The CommandResult record of `outcome`, as the box sends it (finished now, by `deviceId`). */
export function resultRecord(command: Command, deviceId: string, outcome: CommandOutcome, finishedAtMs: number) {
  const base = {
    v: 1 as const,
    kind: 'command_result' as const,
    command_id: command.id,
    device_id: deviceId,
    command_kind: command.kind,
    finished_at: new Date(finishedAtMs).toISOString(),
  };
  const record: CommandResult =
    outcome.status === 'done'
      ? { ...base, status: 'done', result: outcome.result }
      : { ...base, status: outcome.status, code: outcome.code, message: trim(outcome.message) };
  return record;
}

/**
 * The JSON bytes of the result record of `outcome`, checked against the protocol schema and the size limit. A
 * handler's output that does not fit either becomes a `failed` / `internal_error` result saying why, so the
 * collector always gets an answer it can store.
 */
export function resultBody(command: Command, deviceId: string, outcome: CommandOutcome, finishedAtMs: number): Buffer {
  const record = resultRecord(command, deviceId, outcome, finishedAtMs);
  let why: string | undefined;
  const issues = validateCommandResult.issues(record);
  if (issues.length > 0) why = `not a valid result: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`;
  else {
    const body = Buffer.from(JSON.stringify(record), 'utf8');
    if (body.length <= COMMAND_RESULT_MAX_BYTES) return body;
    why = `the result is ${body.length} bytes, the protocol allows ${COMMAND_RESULT_MAX_BYTES}`;
  }
  const fallback = resultRecord(command, deviceId, failure('internal_error', why), finishedAtMs);
  return Buffer.from(JSON.stringify(fallback), 'utf8');
}
