export * from './types.js';
export { Uplink, type UplinkOptions, type UplinkMetrics } from './uplink.js';
export { MqttTransport, type MqttTransportOptions } from './mqtt-transport.js';
export { HttpsTransport, type HttpsTransportOptions } from './https-transport.js';
export { AckVerifier } from './ack-verify.js';
export { buildHeartbeat, type CameraStatus, type HeartbeatSource } from './heartbeat.js';
export { adjustToServerTime, serverTimeFromHttp, retryAfterMs } from './clock-skew.js';
export { OutboxConfigSchema, UplinkConfigSchema, outboxConfig, uplinkConfig, createStoreAndForward, type OutboxConfig, type UplinkConfig, type StoreAndForwardDeps } from './config.js';
