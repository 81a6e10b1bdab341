import { Command } from 'commander';
import { registerCommands, runCli, vigilVersion } from '../../shared/cli/index.js';

/**
 * `vigil-agent`: the edge daemon and the field tech's tool. Each subcommand lives in ./<name>.ts and exports a
 * register function; only the command being run is imported.
 */
const program = new Command('vigil-agent')
  .description('Vigil edge agent: watches cameras, detects objects, and sends events to vigil-cloud without losing any')
  .version(vigilVersion());

await registerCommands(program, {
  run: async () => (await import('./run.js')).registerRun,
  status: async () => (await import('./status.js')).registerStatus,
  pair: async () => (await import('./pair.js')).registerPair,
  unpair: async () => (await import('./unpair.js')).registerUnpair,
  doctor: async () => (await import('./doctor.js')).registerDoctor,
  logs: async () => (await import('./logs.js')).registerLogs,
  outbox: async () => (await import('./outbox.js')).registerOutbox,
  snapshot: async () => (await import('./snapshot.js')).registerSnapshot,
  detect: async () => (await import('./detect.js')).registerDetect,
  analyze: async () => (await import('./analyze.js')).registerAnalyze,
});

await runCli(program);
