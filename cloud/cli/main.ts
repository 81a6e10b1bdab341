import { Command } from 'commander';
import { registerCommands, runCli, vigilVersion } from '../../shared/cli/index.js';

/**
 * `vigil-cloud`: the collector. Each subcommand lives in ./<name>.ts and exports a register function; only the
 * command being run is imported.
 */
const program = new Command('vigil-cloud')
  .description('Vigil collector: verifies signed uploads from boxes, stores events, re-checks them and notifies phones')
  .version(vigilVersion());

await registerCommands(program, {
  serve: async () => (await import('./serve.js')).registerServe,
  'pair-code': async () => (await import('./pair-code.js')).registerPairCode,
  token: async () => (await import('./token.js')).registerToken,
  'dead-letter': async () => (await import('./dead-letter.js')).registerDeadLetter,
  user: async () => (await import('./user.js')).registerUser,
  command: async () => (await import('./command.js')).registerCommand,
  model: async () => (await import('./model.js')).registerModel,
});

await runCli(program);
