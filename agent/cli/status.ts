import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { describeError } from '../../shared/errors/index.js';
import {
  agentConfigFile,
  addConfigOptions,
  loadCliConfig,
  parseListen,
  StatusConfigSchema,
  type ConfigCliOptions,
} from '../config.js';
import { fetchDaemonStatus, formatStatus } from '../status/index.js';

/**
 * `vigil-agent status`: asks the running daemon (at `status.listen` of the same config) for cameras, outbox and
 * uplink state. Exit 3 when no daemon answers.
 */
interface StatusOptions extends ConfigCliOptions {
  json?: boolean;
  listen?: string;
}

/**
 * `status.listen` of the config. A config with errors elsewhere (say, edited before a reload that the daemon
 * refused) must not hide the daemon's status: then only that key is read from the file, and the problem is noted.
 */
function listenFromConfig(opts: StatusOptions): string {
  try {
    return loadCliConfig(opts).config.status.listen;
  } catch (err) {
    const { file } = agentConfigFile(opts.config);
    let listen: unknown;
    try {
      listen = existsSync(file)
        ? (parseYaml(readFileSync(file, 'utf8')) as { status?: { listen?: unknown } } | null)?.status?.listen
        : undefined;
    } catch {
      listen = undefined;
    }
    const address = typeof listen === 'string' ? listen : (StatusConfigSchema.properties.listen.default as string);
    process.stderr.write(`vigil-agent: warning: the config has errors (${describeError(err)}); asking ${address}\n`);
    return address;
  }
}

export function registerStatus(program: Command): void {
  addConfigOptions(
    program.command('status').description('Show what the running daemon is doing: cameras, outbox, uplink'),
  )
    .option('--json', 'print the status document as JSON')
    .option(
      '--listen <address>',
      'ask this address instead of status.listen from the config (HOST:PORT or socket path)',
    )
    .action(async (opts: StatusOptions) => {
      const listen = parseListen(opts.listen ?? listenFromConfig(opts));
      const status = await fetchDaemonStatus(listen);
      process.stdout.write((opts.json ? JSON.stringify(status, null, 2) : formatStatus(status)) + '\n');
    });
}
