import { systemClock, type Clock } from '../../shared/clock/index.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import { DeviceVerifier } from '../verify/index.js';
import { ingestConfig, type IngestConfig } from './config.js';
import { Containment, type DeadLetterLedger } from './dead-letter.js';
import { IngestMetrics } from './metrics.js';
import { DeviceRateLimiter } from './rate-limit.js';
import type { CommandResultSink } from './results.js';
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
  /**
   * Where failures on our side are counted and poison messages kept (./dead-letter.ts); without it, retried forever.
   */
  deadLetters?: DeadLetterLedger;
  /** Throws while storage is unavailable (failures during an outage do not count towards dead-lettering). */
  probe?: () => Promise<void>;
  /** Built from the three above when omitted (a resolved deps object passed on keeps its own). */
  containment?: Containment;
  /** Where command results go (cloud/commands); without it, results are refused `not_found`. */
  results?: CommandResultSink;
}

export type ResolvedIngestDeps = Required<Omit<IngestDeps, 'deadLetters' | 'probe' | 'results'>> &
  Pick<IngestDeps, 'results'>;

export function resolveIngestDeps(deps: IngestDeps): ResolvedIngestDeps {
  const config = deps.config ?? ingestConfig();
  const clock = deps.clock ?? systemClock;
  const log = deps.log ?? silentLogger();
  const metrics = deps.metrics ?? new IngestMetrics();
  return {
    sink: deps.sink,
    ...(deps.results ? { results: deps.results } : {}),
    config,
    clock,
    log,
    metrics,
    containment:
      deps.containment ??
      new Containment({
        ledger: deps.deadLetters,
        probe: deps.probe,
        maxAttempts: config.dead_letter_after,
        metrics,
        clock,
        log,
      }),
    limiter:
      deps.limiter ??
      new DeviceRateLimiter({
        perSecond: config.rate_limit.per_second,
        burst: config.rate_limit.burst,
        maxTracked: config.rate_limit.max_devices_tracked,
        clock,
      }),
    verifier:
      deps.verifier ??
      new DeviceVerifier({
        sink: deps.sink,
        clock,
        toleranceS: config.clock_tolerance_s,
        contactIntervalMs: config.contact_interval_ms,
        log,
      }),
  };
}
