import type { Command } from 'commander';
import { DEFAULT_AGENT_CONFIG_FILE, DEFAULT_AGENT_DATA_DIR } from './schema.js';
import { agentConfigFile, loadAgentConfig, type LoadedAgentConfig } from './load.js';

/** The options every agent command shares: which config file and which data directory. */
export interface ConfigCliOptions {
  config?: string;
  dataDir?: string;
}

export function addConfigOptions(cmd: Command): Command {
  return cmd
    .option(
      '-c, --config <file>',
      `config file (default $VIGIL_AGENT_CONFIG, else ${DEFAULT_AGENT_CONFIG_FILE} when it exists)`,
    )
    .option(
      '--data-dir <dir>',
      `data directory (default $VIGIL_DATA_DIR, else data_dir from the config, else ${DEFAULT_AGENT_DATA_DIR})`,
    );
}

/**
 * The config a command runs with: `--data-dir` (or $VIGIL_DATA_DIR, which the other agent commands honour too)
 * overrides `data_dir` from the file.
 */
export function loadCliConfig(
  o: ConfigCliOptions,
  env: NodeJS.ProcessEnv = process.env,
): LoadedAgentConfig & { configFile: string } {
  const { file, explicit } = agentConfigFile(o.config, env);
  const dataDir = o.dataDir || env.VIGIL_DATA_DIR || undefined;
  const loaded = loadAgentConfig(explicit ? file : undefined, dataDir ? { data_dir: dataDir } : {}, { env });
  return { ...loaded, configFile: file };
}
