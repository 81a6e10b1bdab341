import { Command } from 'commander';
import { runCli, vigilVersion } from '../../shared/cli/index.js';
import { registerServe } from './serve.js';
import { registerPairCode } from './pair-code.js';
import { registerToken } from './token.js';

/**
 * `vigil-cloud`: the collector. Each subcommand lives in ./commands/<name>.ts and registers itself here.
 */
const program = new Command('vigil-cloud')
  .description('Vigil collector: verifies signed uploads from boxes, stores events, re-checks them and notifies phones')
  .version(vigilVersion());

registerServe(program);
registerPairCode(program);
registerToken(program);

await runCli(program);
