export * from './types.js';
export { Uplink, type UplinkOptions, type UplinkMetrics } from './uplink.js';
export { MqttTransport, type BrokerLoginSource, type MqttTransportOptions } from './mqtt-transport.js';
export { HttpsTransport, type HttpsTransportOptions } from './https-transport.js';
export { AckVerifier } from './ack-verify.js';
export { buildHeartbeat, type CameraStatus, type HeartbeatSource } from './heartbeat.js';
export { adjustToServerTime, serverTimeFromHttp, retryAfterMs } from './clock-skew.js';
export { UplinkConfigSchema, uplinkConfig, uplinkSettingsFrom, UPLINK_DEFAULTS, type UplinkConfig, type UplinkSettings } from './config.js';
export { loadClientTls, type ClientTls } from './https-client.js';
