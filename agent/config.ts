/**
 * The agent's configuration: one schema (defaults and documentation), the loader, and the helpers that hand each
 * stage its part. The `device` section is the only part a command writes (pairing), comments preserved.
 *
 *   const { config } = loadAgentConfig('/etc/vigil/agent.yaml');      // config_invalid names key, file, line
 *   writeDeviceSection('/etc/vigil/agent.yaml', { id: 'dev_…', cloud: 'https://…', transport: 'https' });
 */
export {
  AgentConfigSchema,
  AgentCameraSchema,
  DeviceConfigSchema,
  LogConfigSchema,
  LabelFilterSchema,
  ModelConfigSchema,
  StatusConfigSchema,
  AGENT_ENV_PREFIX,
  CREDENTIALS_FILE_NAME,
  DEFAULT_AGENT_CONFIG_FILE,
  DEFAULT_AGENT_DATA_DIR,
  LOG_LEVELS,
  type AgentConfig,
  type AgentCameraConfig,
  type AgentLogLevel,
  type DeviceConfig,
  type LogConfig,
  type StatusConfig,
} from './config/schema.js';
export {
  loadAgentConfig,
  agentConfigFile,
  findCamera,
  type LoadedAgentConfig,
  type LoadAgentConfigOptions,
} from './config/load.js';
export { writeDeviceSection } from './config/device-section.js';
export {
  cameraStreamConfig,
  objectFilterFor,
  pipelineOptionsForCamera,
  reviewConfigFor,
  trackedLabels,
  trackerConfigFor,
  zonesFor,
  type CameraPipelineOptions,
} from './config/cameras.js';
export {
  DEFAULT_ALERT_LABELS,
  DEFAULT_LABELS,
  ReviewConfigSchema,
  ZoneConfigSchema,
  type LabelFilterConfig,
  type ReviewConfig,
  type ZoneConfig,
} from './config/objects-schema.js';
export { effectiveUplinkConfig, type PairedEndpoints } from './config/uplink.js';
export { parseSize } from './config/sizes.js';
export { parseListen, type ListenAddress } from './config/listen.js';
export { addConfigOptions, loadCliConfig, type ConfigCliOptions } from './config/cli.js';
