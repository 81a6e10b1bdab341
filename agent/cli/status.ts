import type { Command } from 'commander';
import { addConfigOptions, loadCliConfig, parseListen, type ConfigCliOptions } from '../config.js';
import { fetchDaemonStatus, formatStatus } from '../status/index.js';

/**
 * `vigil-agent status`: asks the running daemon (at `status.listen` of the same config) for cameras, outbox and
 * uplink state. Exit 3 when no daemon answers.
 */
interface StatusOptions extends ConfigCliOptions {
  json?: boolean;
  listen?: string;
}

export function registerStatus(program: Command): void {
  addConfigOptions(program.command('status').description('Show what the running daemon is doing: cameras, outbox, uplink'))
    .option('--json', 'print the status document as JSON')
    .option('--listen <address>', 'ask this address instead of status.listen from the config (HOST:PORT or socket path)')
    .action(async (opts: StatusOptions) => {
      const listen = parseListen(opts.listen ?? loadCliConfig(opts).config.status.listen);
      const status = await fetchDaemonStatus(listen);
      process.stdout.write((opts.json ? JSON.stringify(status, null, 2) : formatStatus(status)) + '\n');
    });
}
