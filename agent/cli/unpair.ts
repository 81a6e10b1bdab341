import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { VigilError } from '../errors.js';
import { writeDeviceSection, DEFAULT_AGENT_DATA_DIR } from '../config.js';
import { removeCredentials } from '../credentials/index.js';
import { configForWriting, writable } from './pair.js';

/**
 * `vigil-agent unpair --yes`: forgets this box's identity. The credentials file is moved to
 * credentials.json.bak-<time> (nothing is destroyed) and the config's device section is removed. The collector
 * still knows the device: revoke it there to stop it being accepted.
 */
interface UnpairOpts {
  config?: string;
  dataDir?: string;
  yes?: boolean;
  json?: boolean;
}

export function registerUnpair(program: Command): void {
  program
    .command('unpair')
    .description("Remove this box's credentials (a backup is kept) and clear the config's device section")
    .option(
      '-c, --config <file>',
      'config file whose device section is cleared (default $VIGIL_AGENT_CONFIG, else /etc/vigil/agent.yaml)',
    )
    .option(
      '--data-dir <dir>',
      `data directory holding credentials.json (default $VIGIL_DATA_DIR, else data_dir from the config, ` +
        `else ${DEFAULT_AGENT_DATA_DIR})`,
    )
    .option('--yes', 'really unpair')
    .option('--json', 'print what was done as JSON')
    .action((o: UnpairOpts) => {
      const { file: configFile, config } = configForWriting(o);
      const credentialsFile = config.device.credentials;
      const hasCredentials = existsSync(credentialsFile);
      const hasSection = existsSync(configFile) && Object.keys(config.device).some((k) => k !== 'credentials');
      if (!o.yes) {
        throw new VigilError(
          'confirmation_required',
          `unpair would move ${hasCredentials ? credentialsFile : '(no credentials file)'} aside and clear the ` +
            `device section of ${configFile}; the box stops sending until paired again. Re-run with --yes`,
          { details: { exitCode: 2 } },
        );
      }
      const backup = hasCredentials ? removeCredentials(credentialsFile) : undefined;
      let sectionCleared = false;
      let note: string | undefined;
      if (existsSync(configFile)) {
        if (writable(configFile)) {
          writeDeviceSection(configFile, null);
          sectionCleared = hasSection;
        } else note = `${configFile} is not writable: remove its device section by hand`;
      }
      if (o.json) {
        process.stdout.write(
          JSON.stringify({
            unpaired: hasCredentials,
            backup: backup ?? null,
            config_file: configFile,
            device_section_cleared: sectionCleared,
          }) + '\n',
        );
        if (note) process.stderr.write(`vigil-agent: ${note}\n`);
        return;
      }
      const lines: string[] = [];
      lines.push(
        hasCredentials
          ? `removed ${credentialsFile} (backup kept in ${backup})`
          : `no credentials at ${credentialsFile}: nothing to remove`,
      );
      if (sectionCleared) lines.push(`cleared the device section of ${configFile}`);
      else if (note) lines.push(note);
      else lines.push(`${configFile}: no device section to clear`);
      if (hasCredentials)
        lines.push('the collector still lists this device: revoke it there if the box is gone for good');
      process.stdout.write(lines.join('\n') + '\n');
    });
}
