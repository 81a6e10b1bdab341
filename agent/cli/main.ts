import { Command } from 'commander';
import { runCli, vigilVersion } from '../../shared/cli/index.js';
import { registerDetect } from './detect.js';
import { registerAnalyze } from './analyze.js';
import { registerOutbox } from './outbox.js';
import { registerPair } from './pair.js';
import { registerUnpair } from './unpair.js';
import { registerLogs } from './logs.js';
import { registerSnapshot } from './snapshot.js';
import { registerRun } from './run.js';
import { registerStatus } from './status.js';
import { registerDoctor } from './doctor.js';

/**
 * `vigil-agent`: the edge daemon and the field tech's tool. Each subcommand lives in ./commands/<name>.ts and
 * registers itself here.
 */
const program = new Command('vigil-agent')
  .description('Vigil edge agent: watches cameras, detects objects, and sends events to vigil-cloud without losing any')
  .version(vigilVersion());

registerDetect(program);
registerAnalyze(program);
registerOutbox(program);
registerPair(program);
registerUnpair(program);
registerLogs(program);
registerSnapshot(program);
registerRun(program);
registerStatus(program);
registerDoctor(program);

await runCli(program);
