import type { Command } from 'commander';
import { describeError, isVigilError } from '../errors/index.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../paths/index.js';

/** The package version, from package.json. */
export function vigilVersion(): string {
  const pkg = JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * Runs a commander program so that every failure ends as one line on stderr naming the problem
 * (`vigil-agent: error [code]: message`) and a non-zero exit; a stack trace only with VIGIL_DEBUG=1.
 */
export async function runCli(program: Command, argv: string[] = process.argv): Promise<void> {
  program.exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help')
      process.exit(0);
    if (typeof code === 'string' && code.startsWith('commander.'))
      process.exit((err as { exitCode?: number }).exitCode ?? 2);
    process.stderr.write(`${program.name()}: error: ${describeError(err)}\n`);
    if (process.env.VIGIL_DEBUG === '1' && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    process.exit(isVigilError(err) && typeof err.details?.exitCode === 'number' ? (err.details.exitCode as number) : 1);
  }
}

/** Loads the module that registers one subcommand. */
export type CommandLoader = () => Promise<(program: Command) => void>;

/**
 * Registers subcommands, importing only the one being run: `vigil-agent status` must not pay for loading
 * onnxruntime, sharp and SQLite. Help, `help <cmd>` and unknown names load them all (in the given order).
 */
export async function registerCommands(
  program: Command,
  loaders: Record<string, CommandLoader>,
  argv: string[] = process.argv,
): Promise<void> {
  const requested = argv.slice(2).find((a) => !a.startsWith('-'));
  const names = requested !== undefined && Object.hasOwn(loaders, requested) ? [requested] : Object.keys(loaders);
  for (const name of names) (await loaders[name]!())(program);
}
