import { systemClock, type Clock } from '../../shared/clock/index.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import { DeviceVerifier } from '../verify/index.js';
import { ingestConfig, type IngestConfig } from './config.js';
import { IngestMetrics } from './metrics.js';
import { DeviceRateLimiter } from './rate-limit.js';
import type { IngestSink } from './sink.js';

/**
 * What `registerIngestRoutes` and `startMqttIngest` take. Only `sink` is required. To share one rate-limit budget
 * and one set of counters between HTTP and MQTT, build them once with `resolveIngestDeps` and pass the result to both.
 */
export interface IngestDeps {
  sink: IngestSink;
  /** The `ingest` config section (defaults filled when omitted). */
  config?: IngestConfig;
  clock?: Clock;
  log?: Logger;
  metrics?: IngestMetrics;
  limiter?: DeviceRateLimiter;
  verifier?: DeviceVerifier;
}

export type ResolvedIngestDeps = Required<IngestDeps>;

export function resolveIngestDeps(deps: IngestDeps): ResolvedIngestDeps {
  const config = deps.config ?? ingestConfig();
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? silentLogger();
  return {
    sink: deps.sink,
    config,
    clock,
    log,
    metrics: deps.metrics ?? new IngestMetrics(),
    limiter:
      deps.limiter ??
      new DeviceRateLimiter({ perSecond: config.rate_limit.per_second, burst: config.rate_limit.burst, maxTracked: config.rate_limit.max_devices_tracked, clock }),
    verifier:
      deps.verifier ??
      new DeviceVerifier({ sink: deps.sink, clock, toleranceS: config.clock_tolerance_s, contactIntervalMs: config.contact_interval_ms, log }),
  };
}
