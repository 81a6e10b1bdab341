/**
 * Ingest: where signed uploads from boxes enter the collector (HTTP routes and the MQTT subscriber), are verified
 * (../verify), validated against firmware-protocol, handed to the IngestSink for durable storage, and acked.
 *
 * Wiring (in the collector's app assembly):
 *
 *   config schema:  ingest: IngestConfigSchema, mqtt: MqttConfigSchema
 *   const deps = resolveIngestDeps({ sink, config: config.ingest, log });   // shared by HTTP and MQTT
 *   await registerIngestRoutes(app, deps);
 *   const mqttIngest = config.mqtt.url ? startMqttIngest({ ...deps, mqtt: config.mqtt }) : undefined;
 *   app.addHook('onClose', async () => mqttIngest?.close());
 */
export { registerIngestRoutes, toWireError } from './http.js';
export { startMqttIngest, collectorFilters, type MqttIngest, type MqttIngestDeps } from './mqtt.js';
export {
  IngestConfigSchema,
  MqttConfigSchema,
  ingestConfig,
  mqttConfig,
  type IngestConfig,
  type MqttConfig,
} from './config.js';
export { resolveIngestDeps, type IngestDeps, type ResolvedIngestDeps } from './deps.js';
export { IngestMetrics } from './metrics.js';
export { DeviceRateLimiter } from './rate-limit.js';
export type * from './sink.js';
