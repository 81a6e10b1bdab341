import { Command } from 'commander';
import { runCli, vigilVersion } from '../../shared/cli/index.js';

/**
 * `vigil-cloud`: the collector. Each subcommand lives in ./commands/<name>.ts and registers itself here.
 */
const program = new Command('vigil-cloud')
  .description('Vigil collector: verifies signed uploads from boxes, stores events, re-checks them and notifies phones')
  .version(vigilVersion());

await runCli(program);
