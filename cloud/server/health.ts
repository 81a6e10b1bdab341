import type { FastifyInstance } from 'fastify';
import { describeError } from '../errors.js';
import type { BlobStore } from '../blob/blob-store.js';
import type { Store } from '../store/store.js';
import { errorBody } from './errors.js';
import { METRICS_CONTENT_TYPE, type MetricsRegistry } from './metrics.js';

/**
 * Operational endpoints, no credentials:
 *   GET /healthz   the process answers (liveness)
 *   GET /readyz    the database and the blob store answer (readiness); 503 `service_unavailable` naming the
 *                  failing check; `details` carries state that does not decide readiness (MQTT: deployment id,
 *                  group, client id, provisioner health, messages from unknown devices on the group)
 *   GET /metrics   Prometheus text; aggregate counters only, nothing tenant-specific
 */
export function registerHealthRoutes(
  app: FastifyInstance,
  deps: { store: Store; blobs: BlobStore; metrics: MetricsRegistry; details?: () => Record<string, unknown> },
): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (req, reply) => {
    const checks: Record<string, string> = {};
    const run = async (name: string, fn: () => Promise<void>): Promise<void> => {
      try {
        await fn();
        checks[name] = 'ok';
      } catch (err) {
        checks[name] = describeError(err);
      }
    };
    await Promise.all([run('database', () => deps.store.ping()), run('blobs', () => deps.blobs.ping())]);
    const failing = Object.entries(checks).filter(([, v]) => v !== 'ok');
    // Informational state that does not decide readiness (e.g. the broker: deployment id, group, foreign traffic).
    const details = deps.details?.();
    if (failing.length === 0) return { status: 'ready', checks, ...(details ? { details } : {}) };
    reply.header('retry-after', '5');
    return reply.status(503).send(
      errorBody(req, 'service_unavailable', `not ready: ${failing.map(([k, v]) => `${k}: ${v}`).join('; ')}`, {
        checks,
        ...(details ? { details } : {}),
      }),
    );
  });

  app.get('/metrics', async (_req, reply) => reply.type(METRICS_CONTENT_TYPE).send(deps.metrics.render()));
}
