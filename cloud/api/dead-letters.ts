import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { VigilError } from '../errors.js';
import { authOf, requireToken } from '../auth/request.js';
import type { DeadLetterRecord, SqlDeadLetters } from '../store/dead-letters.js';
import type { Store } from '../store/store.js';

/**
 * Dead letters (admin tokens; messages of the token's tenant's devices that failed repeatedly on the collector's
 * side and were set aside, see cloud/ingest/dead-letter.ts):
 *   GET /v1/admin/dead-letters           newest first; `?state=all` also lists those still failing; `limit` 1-200
 *   GET /v1/admin/dead-letters/{id}      one, with the message body (`body_b64`)
 */
export const DeadLettersQuery = Type.Object(
  {
    state: Type.Union([Type.Literal('dead'), Type.Literal('all')], {
      default: 'dead',
      description: 'dead (set aside) or all (also still failing).',
    }),
    limit: Type.Integer({ minimum: 1, maximum: 200, default: 50, description: 'Most rows returned, 1-200.' }),
  },
  { additionalProperties: false },
);
export type DeadLettersQuery = Static<typeof DeadLettersQuery>;

const DeadLetterParams = Type.Object({
  id: Type.String({ pattern: '^dl_[0-9A-Z]{26}$', description: 'Dead letter id (dl_…).' }),
});
type DeadLetterParams = Static<typeof DeadLetterParams>;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function deadLetterJson(r: DeadLetterRecord): Record<string, unknown> {
  return {
    id: r.id,
    device_id: r.deviceId,
    transport: r.transport,
    kind: r.kind,
    event_id: r.eventId,
    route: r.route,
    state: r.state,
    attempts: r.attempts,
    error: { code: r.errorCode, message: r.errorMessage },
    body_sha256: r.bodySha256,
    body_size: r.bodySize,
    first_seen_at: iso(r.firstSeenAt),
    last_seen_at: iso(r.lastSeenAt),
    dead_at: iso(r.deadAt),
  };
}

export function registerDeadLetterRoutes(
  app: FastifyInstance,
  deps: { store: Store; deadLetters: SqlDeadLetters },
): void {
  const admin = requireToken(deps.store, 'admin');

  const listing = { schema: { querystring: DeadLettersQuery }, onRequest: admin };
  app.get<{ Querystring: DeadLettersQuery }>('/v1/admin/dead-letters', listing, async (req) => {
    const { state, limit } = req.query;
    const tenantId = authOf(req).tenantId;
    const rows = await deps.deadLetters.list({ tenantId, includeFailing: state === 'all', limit });
    return { dead_letters: rows.map(deadLetterJson) };
  });

  const one = { schema: { params: DeadLetterParams }, onRequest: admin };
  app.get<{ Params: DeadLetterParams }>('/v1/admin/dead-letters/:id', one, async (req) => {
    const row = await deps.deadLetters.get(req.params.id, authOf(req).tenantId);
    if (!row) throw new VigilError('not_found', `dead letter ${req.params.id} not found`);
    return { ...deadLetterJson(row), body_b64: row.bodyB64 };
  });
}
