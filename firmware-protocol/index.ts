/**
 * The wire contract between a Vigil box and the collector (protocol v1): message schemas, topics, limits and
 * error codes. Signing lives in shared/signing and is re-exported here so both sides import one module.
 * PROTOCOL.md is the human-readable specification.
 */
export * from './limits.js';
export * from './patterns.js';
export * from './errors.js';
export * from './topics.js';
export * from './messages.js';
export * from './http.js';
export * from './fingerprint.js';
export {
  SIGNING_ALGORITHM,
  SIGNATURE_PREFIX,
  DEFAULT_TOLERANCE_S,
  HEADER,
  SigningErrorCode,
  type MqttEnvelope,
} from '../shared/signing/index.js';
