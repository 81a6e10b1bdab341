import type { Command, CommandKind, CommandResultCode } from '../../firmware-protocol/messages.js';
import type { Logger } from '../../shared/log/index.js';

/**
 * What one command handler gets and gives back. The executor (./executor.ts) has already checked the signature,
 * the expiry and that the id never ran before; a handler only does the work of its kind and never throws for an
 * expected failure: it returns `failed` with a CommandResult code (firmware-protocol COMMAND_RESULT_CODES).
 */
export interface CommandContext {
  command: Command;
  log: Logger;
}

export type CommandOutcome =
  | { status: 'done'; result: Record<string, unknown> }
  | { status: 'failed' | 'refused'; code: CommandResultCode; message: string };

export type CommandHandler = (ctx: CommandContext) => Promise<CommandOutcome>;

/** The handlers the daemon registers, by kind; a kind without a handler is refused with `command_unknown`. */
export type CommandHandlers = Partial<Record<CommandKind, CommandHandler>>;
