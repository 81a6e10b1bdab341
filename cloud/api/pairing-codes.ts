import type { FastifyInstance } from 'fastify';
import { VigilError } from '../errors.js';
import { authOf, requireToken } from '../auth/request.js';
import { createPairingCode, pairingCodeJson, parseTtl, revokePairingCode } from '../pairing/codes.js';
import type { ApiContext } from './context.js';
import { PairingCodeBody, PairingCodeParams } from './schemas.js';

/**
 * Pairing codes (admin tokens):
 *   POST   /v1/pairing-codes          {name?, ttl?} → 201 {code, id, expires_at, …}; the code is shown only here
 *   GET    /v1/pairing-codes          the tenant's codes with their state (pending/used/expired/revoked), no codes
 *   DELETE /v1/pairing-codes/{code}   revoke a pending code (by the code or its id)
 */
export function registerPairingCodeRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const admin = requireToken(ctx.store, 'admin');

  app.post<{ Body: PairingCodeBody }>(
    '/v1/pairing-codes',
    { schema: { body: PairingCodeBody }, onRequest: admin },
    async (req, reply) => {
      const body = req.body ?? {};
      const ttlMs =
        body.ttl === undefined ? ctx.codeTtlMs : parseTtl(typeof body.ttl === 'number' ? body.ttl * 1000 : body.ttl);
      const now = ctx.clock.now();
      const { code, record } = await createPairingCode(ctx.store, ctx.secrets, {
        tenantId: authOf(req).tenantId,
        name: body.name ?? null,
        ttlMs,
        now,
      });
      req.log.info({ pairing_code_id: record.id }, 'pairing code created');
      return reply.status(201).send(pairingCodeJson(record, now, code));
    },
  );

  app.get('/v1/pairing-codes', { onRequest: admin }, async (req) => {
    const now = ctx.clock.now();
    return {
      pairing_codes: (await ctx.store.listPairingCodes(authOf(req).tenantId)).map((r) => pairingCodeJson(r, now)),
    };
  });

  app.delete<{ Params: PairingCodeParams }>(
    '/v1/pairing-codes/:code',
    { schema: { params: PairingCodeParams }, onRequest: admin },
    async (req) => {
      const ok = await revokePairingCode(
        ctx.store,
        ctx.secrets,
        authOf(req).tenantId,
        req.params.code,
        ctx.clock.now(),
      );
      if (!ok) throw new VigilError('not_found', 'no pending pairing code matches');
      return { revoked: true };
    },
  );
}
