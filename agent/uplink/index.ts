export * from './types.js';
export { Uplink, type UplinkOptions, type UplinkMetrics, type UplinkStatus } from './uplink.js';
export {
  decideFailure,
  type FailureAction,
  type FailureDecision,
  type FailureInput,
  type FailurePolicy,
  type FailureState,
} from './failure-policy.js';
export { MessageRateLimit } from './rate-limit.js';
export { MqttTransport, type BrokerLoginSource, type MqttTransportOptions } from './mqtt-transport.js';
export { HttpsTransport, retryAfterMs, type HttpsTransportOptions } from './https-transport.js';
export { AckVerifier } from './ack-verify.js';
export { buildHeartbeat, type CameraStatus, type HeartbeatModel, type HeartbeatSource } from './heartbeat.js';
export { adjustToServerTime, ClockCorrector, serverTimeFromHttp, type ClockCorrectorOptions } from './clock-skew.js';
export {
  UplinkConfigSchema,
  uplinkConfig,
  uplinkSettingsFrom,
  UPLINK_DEFAULTS,
  type UplinkConfig,
  type UplinkSettings,
} from './config.js';
export { loadClientTls, type ClientTls } from './https-client.js';
