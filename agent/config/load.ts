import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { loadConfig } from '../../shared/config/index.js';
import { VigilError } from '../errors.js';
import { checkCameraGeometry, checkCameras, checkDuplicateKeys } from './camera-checks.js';
import { withCameraPlace } from './camera-place.js';
import {
  AGENT_ENV_PREFIX,
  AgentConfigSchema,
  CREDENTIALS_FILE_NAME,
  DEFAULT_AGENT_CONFIG_FILE,
  type AgentConfig,
} from './schema.js';
import { YamlSource } from './yaml-source.js';

export interface LoadedAgentConfig {
  config: AgentConfig;
  /** The file read, or undefined when none was given and the default file does not exist. */
  file: string | undefined;
}

export interface LoadAgentConfigOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * When no file is given: the file to try (default /etc/vigil/agent.yaml, or $VIGIL_AGENT_CONFIG). It is read
   * only if it exists, so a fresh box and a developer machine run on defaults.
   */
  defaultFile?: string;
}

/** The config file a command uses: `--config`, else $VIGIL_AGENT_CONFIG, else /etc/vigil/agent.yaml. */
export function agentConfigFile(
  explicit?: string,
  env: NodeJS.ProcessEnv = process.env,
): { file: string; explicit: boolean } {
  if (explicit) return { file: resolve(explicit), explicit: true };
  if (env.VIGIL_AGENT_CONFIG) return { file: resolve(env.VIGIL_AGENT_CONFIG), explicit: true };
  return { file: DEFAULT_AGENT_CONFIG_FILE, explicit: false };
}

/**
 * Loads the agent config: schema defaults ← YAML file ← environment (`VIGIL_AGENT__LOG__LEVEL=debug`) ←
 * `overrides` (CLI flags). Errors are `config_invalid` naming the key, the file and the line, and the camera and
 * zone when the key is in one (camera-checks.ts: polygons, labels, zones). An explicitly named file must exist; the
 * default file is optional.
 */
export function loadAgentConfig(
  file?: string,
  overrides: Record<string, unknown> = {},
  options: LoadAgentConfigOptions = {},
): LoadedAgentConfig {
  const env = options.env ?? process.env;
  let path: string | undefined;
  if (file) path = resolve(file);
  else {
    const fallback = options.defaultFile ?? agentConfigFile(undefined, env).file;
    path = existsSync(fallback) ? fallback : undefined;
  }
  const source = path && existsSync(path) ? YamlSource.read(path) : undefined;
  const raw = fileData(source);
  if (source) checkDuplicateKeys(source, raw);
  checkCameraGeometry(source, raw);
  let loaded: ReturnType<typeof loadConfig<typeof AgentConfigSchema>>;
  try {
    loaded = loadConfig({ schema: AgentConfigSchema, file: path, envPrefix: AGENT_ENV_PREFIX, env, overrides });
  } catch (err) {
    throw withCameraPlace(err, raw);
  }
  const config = loaded.config as AgentConfig;
  checkUniqueCameraNames(config, source);
  checkCameras(config, source);
  const dataDir = config.data_dir;
  const creds = config.device.credentials;
  config.device.credentials =
    creds === undefined ? join(dataDir, CREDENTIALS_FILE_NAME) : isAbsolute(creds) ? creds : resolve(dataDir, creds);
  return { config, file: loaded.file };
}

/** The file's data as written (for naming cameras in errors); undefined when it has YAML errors of its own. */
function fileData(source: YamlSource | undefined): unknown {
  if (!source || source.doc.errors.some((e) => e.code !== 'DUPLICATE_KEY')) return undefined;
  try {
    return source.doc.toJS();
  } catch {
    return undefined;
  }
}

function checkUniqueCameraNames(config: AgentConfig, source: YamlSource | undefined): void {
  const file = source?.file;
  const seen = new Map<string, number>();
  config.cameras.forEach((camera, i) => {
    const first = seen.get(camera.name);
    if (first === undefined) {
      seen.set(camera.name, i);
      return;
    }
    const line = source?.line(['cameras', i, 'name']);
    const where = file ? ` (${file}${line ? `:${line}` : ''})` : '';
    throw new VigilError(
      'config_invalid',
      `config key "cameras.${i}.name"${where}: camera name "${camera.name}" is already used by cameras.${first}; ` +
        `camera names must be unique`,
      { details: { path: `cameras.${i}.name`, file, line } },
    );
  });
}

/** The camera named `name`, or `unknown_camera` listing the configured names. */
export function findCamera(config: AgentConfig, name: string): AgentConfig['cameras'][number] {
  const camera = config.cameras.find((c) => c.name === name);
  if (camera) return camera;
  const names = config.cameras.map((c) => c.name);
  throw new VigilError(
    'unknown_camera',
    names.length === 0
      ? `no camera "${name}": the config has no cameras`
      : `no camera "${name}"; configured cameras: ${names.join(', ')}`,
    { details: { camera: name, cameras: names, exitCode: 2 } },
  );
}
