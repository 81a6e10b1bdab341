import type { Command } from 'commander';
import { vigilVersion } from '../../shared/cli/index.js';
import { VigilError } from '../errors.js';
import { addConfigOptions, type ConfigCliOptions } from '../config.js';
import { exitCodeFor, formatReport, runDoctor } from '../doctor/index.js';

/**
 * `vigil-agent doctor [--config FILE] [--data-dir DIR] [--json] [--strict]`: checks the box and prints one line
 * per check. Exit 0 when nothing failed (warnings included), 1 when a check failed; `--strict` exits 2 on
 * warnings.
 */
interface DoctorOpts extends ConfigCliOptions {
  json?: boolean;
  strict?: boolean;
  cameraTimeout: string;
  timeout: string;
}

function seconds(text: string, flag: string): number {
  const n = Number(text);
  if (!(n > 0 && n <= 600))
    throw new VigilError('invalid_argument', `${flag} must be seconds within 0..600, got "${text}"`, {
      details: { exitCode: 2 },
    });
  return n * 1000;
}

export function registerDoctor(program: Command): void {
  addConfigOptions(program.command('doctor'))
    .description('Check this box: config, ffmpeg, cameras, model, credentials, collector (signed), clock, disk, outbox')
    .option('--camera-timeout <seconds>', 'each camera must deliver a frame within this', '10')
    .option('--timeout <seconds>', 'per-request timeout for the collector', '10')
    .option('--json', 'print {checks: [{name, status, detail, hint}], status} as JSON')
    .option('--strict', 'exit 2 when a check warns (default: warnings exit 0)')
    .action(async (o: DoctorOpts) => {
      const report = await runDoctor({
        ...o,
        cameraTimeoutMs: seconds(o.cameraTimeout, '--camera-timeout'),
        cloudTimeoutMs: seconds(o.timeout, '--timeout'),
        version: vigilVersion(),
      });
      process.stdout.write(o.json ? JSON.stringify(report) + '\n' : formatReport(report));
      // Explicit exit: a camera's ffmpeg or a keep-alive socket must not hold the answer back.
      process.exit(exitCodeFor(report, o.strict ?? false));
    });
}
