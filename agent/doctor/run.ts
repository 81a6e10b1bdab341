import { describeError, isVigilError } from '../../shared/errors/index.js';
import { loadCliConfig, type AgentConfig, type ConfigCliOptions } from '../config.js';
import { checkCameras } from './cameras.js';
import { checkCloud, checkCredentials } from './cloud.js';
import { checkDisk } from './disk.js';
import { checkFfmpeg } from './ffmpeg.js';
import { checkModel } from './model.js';
import { checkLocalMqtt } from './local-mqtt.js';
import { checkOutbox } from './outbox.js';
import { fail, pass, skip, worstStatus, type CheckResult, type DoctorReport } from './report.js';

export interface DoctorOptions extends ConfigCliOptions {
  /** Each camera must deliver a frame within this (ms). */
  cameraTimeoutMs?: number;
  /** Per-request timeout for the collector (ms). */
  cloudTimeoutMs?: number;
  /** Connect + round-trip timeout for the LAN broker (ms). */
  localTimeoutMs?: number;
  /** Agent version sent in the heartbeat. */
  version: string;
  env?: NodeJS.ProcessEnv;
}

function configCheck(o: DoctorOptions): { result: CheckResult; config?: AgentConfig } {
  try {
    const { config, file, configFile } = loadCliConfig(o, o.env);
    const cams = config.cameras.length;
    const parts = [
      `${cams} camera${cams === 1 ? '' : 's'}`,
      config.model ? `model ${config.model.path}` : 'motion-only (no model)',
      config.device.id ? `device ${config.device.id}` : 'device not recorded',
      `data_dir ${config.data_dir}`,
    ];
    return {
      result: pass('config', `${file ?? `${configFile} absent, built-in defaults`}: ${parts.join(', ')}`),
      config,
    };
  } catch (err) {
    const code = isVigilError(err) ? err.code : 'config_invalid';
    const hint =
      code === 'config_invalid'
        ? 'fix the key named above (the README\'s "Agent config reference" lists every key, its type and default)'
        : 'check --config / $VIGIL_AGENT_CONFIG and that the file is readable';
    return { result: fail('config', describeError(err), hint) };
  }
}

/**
 * Runs every check of the box, in the order a problem is usually found: config → ffmpeg → cameras → model →
 * credentials → cloud + clock → LAN broker (local_mqtt) → disk → outbox.
 * Checks that depend on a failed one are reported as skipped so
 * the report points at the first cause. Never throws: every problem is a check result.
 */
export async function runDoctor(o: DoctorOptions): Promise<DoctorReport> {
  const checks: CheckResult[] = [];
  const { result, config } = configCheck(o);
  checks.push(result);
  const ffmpeg = await checkFfmpeg(config);
  checks.push(...ffmpeg.results);
  if (!config) {
    checks.push(
      skip(
        'others',
        'cameras, model, credentials, cloud, clock, disk and outbox not checked: the config does not load',
        'fix the config check first',
      ),
    );
    return { checks, status: worstStatus(checks) };
  }
  const guard = async (name: string, fn: () => Promise<CheckResult[]> | CheckResult[]): Promise<CheckResult[]> => {
    try {
      return await fn();
    } catch (err) {
      return [
        fail(
          name,
          `the check itself failed: ${describeError(err)}`,
          'report this with the output of vigil-agent doctor --json',
        ),
      ];
    }
  };
  const enabled = config.cameras;
  // Cameras, model and the collector are independent: checked concurrently, reported in a fixed order.
  const credentials = checkCredentials(config);
  const [cameraResults, modelResults, cloudResults, localResults] = await Promise.all([
    guard('cameras', () => checkCameras(enabled, o.cameraTimeoutMs ?? 10_000, ffmpeg.broken)),
    guard('model', async () => [await checkModel(config)]),
    guard('cloud', () =>
      checkCloud(config, credentials.loaded, { timeoutMs: o.cloudTimeoutMs ?? 10_000, version: o.version }),
    ),
    guard('local_mqtt', async () => [await checkLocalMqtt(config, o.localTimeoutMs ?? 5_000)]),
  ]);
  checks.push(...cameraResults, ...modelResults, credentials.result, ...cloudResults, ...localResults);
  checks.push(...(await guard('disk', () => [checkDisk(config)])));
  checks.push(...(await guard('outbox', () => [checkOutbox(config)])));
  return { checks, status: worstStatus(checks) };
}
