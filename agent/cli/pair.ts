import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { vigilVersion } from '../../shared/cli/index.js';
import { describeError, VigilError } from '../errors.js';
import {
  agentConfigFile,
  loadAgentConfig,
  writeDeviceSection,
  DEFAULT_AGENT_DATA_DIR,
  type AgentConfig,
  type DeviceConfig,
} from '../config.js';
import {
  backupCredentials,
  hardwareDescription,
  requestPairing,
  storedFromResponse,
  verifyCredentials,
  writeCredentials,
  type StoredCredentials,
  type Verification,
} from '../credentials/index.js';
import { loadClientTls } from '../uplink/https-client.js';

/**
 * `vigil-agent pair --cloud URL --code CODE`: exchanges a one-time pairing code for this box's credentials,
 * stores them (<data_dir>/credentials.json, 0600), records the device in the config file's `device` section and
 * proves the credentials with one signed heartbeat the collector must ack.
 */
interface PairOpts {
  cloud: string;
  code: string;
  name?: string;
  hardware?: string;
  config?: string;
  dataDir?: string;
  force?: boolean;
  json?: boolean;
  timeout: string;
}

/** The config as a command that may create its file sees it: an absent file means defaults. */
export function configForWriting(o: { config?: string; dataDir?: string }): {
  file: string;
  config: AgentConfig;
  fileConfig: AgentConfig;
} {
  const { file } = agentConfigFile(o.config);
  const present = existsSync(file) ? file : undefined;
  const dataDir = o.dataDir || process.env.VIGIL_DATA_DIR || undefined;
  const noDefault = { defaultFile: '/nonexistent/vigil-agent.yaml' };
  const config = loadAgentConfig(present, dataDir ? { data_dir: dataDir } : {}, noDefault).config;
  // What the daemon will read from the file alone (no flags): decides whether the credentials path must be written.
  const fileConfig = loadAgentConfig(present, {}, noDefault).config;
  return { file, config, fileConfig };
}

/** Whether we may write `file` (or create it in its directory). */
export function writable(file: string): boolean {
  try {
    if (existsSync(file)) accessSync(file, constants.W_OK);
    else {
      let dir = dirname(file);
      while (!existsSync(dir)) dir = dirname(dir);
      accessSync(dir, constants.W_OK);
    }
    return true;
  } catch {
    return false;
  }
}

function existingDeviceId(file: string): string | undefined {
  try {
    const id = (JSON.parse(readFileSync(file, 'utf8')) as { device_id?: unknown }).device_id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

function deviceSection(
  stored: StoredCredentials,
  credentialsFile: string,
  fileConfig: AgentConfig,
): Partial<DeviceConfig> {
  return {
    id: stored.device_id,
    cloud: stored.endpoints.https,
    transport: stored.endpoints.mqtt ? 'mqtt' : 'https',
    mqtt_url: stored.endpoints.mqtt,
    key_id: stored.key_id,
    // Written only when the daemon would not find the file at its default place.
    credentials:
      resolve(credentialsFile) === resolve(fileConfig.device.credentials) ? undefined : resolve(credentialsFile),
  };
}

function timeoutMs(text: string): number {
  const s = Number(text);
  if (!(s > 0 && s <= 600))
    throw new VigilError('invalid_argument', `--timeout must be seconds within 0..600, got "${text}"`, {
      details: { exitCode: 2 },
    });
  return s * 1000;
}

export function registerPair(program: Command): void {
  program
    .command('pair')
    .description(
      'Pair this box with a collector using a one-time code (vigil-cloud pair-code create), store its credentials ' +
        'and verify them',
    )
    .requiredOption('--cloud <url>', 'collector URL, e.g. https://vigil.example.com')
    .requiredOption('--code <code>', 'one-time pairing code, e.g. K7QX-M2PD')
    .option('--name <name>', 'name for this box at the collector (e.g. garage)')
    .option('--hardware <text>', 'hardware description sent to the collector (default: detected)')
    .option(
      '-c, --config <file>',
      'config file whose device section is updated (default $VIGIL_AGENT_CONFIG, else /etc/vigil/agent.yaml)',
    )
    .option(
      '--data-dir <dir>',
      `where credentials.json goes (default $VIGIL_DATA_DIR, else data_dir from the config, ` +
        `else ${DEFAULT_AGENT_DATA_DIR})`,
    )
    .option('--force', 'pair again although credentials exist (the old file is kept as credentials.json.bak-<time>)')
    .option('--timeout <seconds>', 'per-request timeout', '15')
    .option('--json', 'print {device_id, key_id, cloud, verified, …} as JSON')
    .action(async (o: PairOpts) => {
      const { file: configFile, config, fileConfig } = configForWriting(o);
      const credentialsFile = config.device.credentials;
      if (existsSync(credentialsFile) && !o.force) {
        const id = existingDeviceId(credentialsFile);
        throw new VigilError(
          'already_paired',
          `this box is already paired${id ? ` as ${id}` : ''} (${credentialsFile}); use --force to pair again (the ` +
            `old credentials are kept as a backup), or vigil-agent unpair`,
          { details: { file: credentialsFile, device_id: id, exitCode: 2 } },
        );
      }
      const version = vigilVersion();
      const ms = timeoutMs(o.timeout);
      // The daemon's TLS settings (uplink.ca_file, client certificate): pairing reaches the collector the same way.
      const tls = loadClientTls(config.uplink);
      const response = await requestPairing({
        cloud: o.cloud,
        code: o.code,
        name: o.name,
        hardware: o.hardware ?? hardwareDescription(),
        agentVersion: version,
        timeoutMs: ms,
        tls,
      });

      // The code is spent now: keep what the collector gave us before anything else can fail.
      const stored = storedFromResponse(o.cloud, response);
      const backup = o.force ? backupCredentials(credentialsFile) : undefined;
      writeCredentials(credentialsFile, stored);

      const configWritable = writable(configFile);
      const section = deviceSection(stored, credentialsFile, fileConfig);
      let configNote: string;
      if (configWritable) {
        writeDeviceSection(configFile, section, { ownerOf: dirname(credentialsFile) });
        configNote = `${configFile}: device section updated`;
      } else {
        const lines = Object.entries(section)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `  ${k}: ${String(v)}`);
        configNote =
          `${configFile} is not writable, so its device section was not updated (the daemon reads the ` +
          `credentials file anyway); to record it, add:\ndevice:\n${lines.join('\n')}`;
      }

      let verification: Verification;
      try {
        verification = await verifyCredentials(stored, {
          agentVersion: version,
          serverTimeMs: Date.parse(response.server_time),
          timeoutMs: ms,
          tls,
        });
      } catch (err) {
        throw new VigilError(
          'pairing_unverified',
          `paired as ${stored.device_id} and saved the credentials to ${credentialsFile}, but the check ` +
            `failed: ${describeError(err).replace(/^pairing_unverified: /, '')}`,
          { cause: err, details: { device_id: stored.device_id, file: credentialsFile } },
        );
      }

      if (o.json) {
        process.stdout.write(
          JSON.stringify({
            device_id: stored.device_id,
            key_id: stored.key_id,
            cloud: stored.cloud,
            verified: true,
            endpoints: stored.endpoints,
            credentials_file: credentialsFile,
            config_file: configFile,
            config_updated: configWritable,
            ...(backup ? { backup } : {}),
          }) + '\n',
        );
        if (!configWritable) process.stderr.write(`vigil-agent: ${configNote}\n`);
        return;
      }
      const out = [
        `paired as ${stored.device_id} (key ${stored.key_id}) with ${stored.cloud}`,
        `  credentials  ${credentialsFile} (mode 0600)${backup ? `; previous credentials kept in ${backup}` : ''}`,
        `  config       ${configNote}`,
        `  verified     signed heartbeat ${verification.status} by ${verification.url}`,
        `  transport    ${stored.endpoints.mqtt ? `mqtt (${stored.endpoints.mqtt})` : 'https'}`,
      ];
      process.stdout.write(out.join('\n') + '\n');
    });
}
