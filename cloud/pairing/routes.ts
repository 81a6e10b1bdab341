import type { FastifyInstance } from 'fastify';
import { validatePairingRequest, type PairingResponse } from '../../firmware-protocol/messages.js';
import { HTTP_PATHS } from '../../firmware-protocol/http.js';
import type { ApiContext } from '../api/context.js';
import { pairDevice } from './devices.js';
import { pairingAttemptGuard, PairingAttemptLimiter, type PairingLimitScope } from './rate-limit.js';

/**
 * `POST /v1/pair` (protocol v1): unauthenticated — the one-time code is the credential. Answers:
 *   200 PairingResponse · 400 invalid_message / pairing_code_invalid (unknown or revoked code) ·
 *   409 pairing_code_used · 410 pairing_code_expired · 429 rate_limited (per source and collector-wide, against
 *   guessing: cloud/pairing/rate-limit.ts).
 */
export function registerPairingRoutes(app: FastifyInstance, ctx: ApiContext): { refused(): Record<PairingLimitScope, number> } {
  const a = ctx.pairingAttempts;
  const limiter = new PairingAttemptLimiter({
    perSourcePerMinute: a.perMinute,
    perSourceBurst: a.burst,
    globalPerMinute: a.globalPerMinute,
    globalBurst: a.globalBurst,
    clock: ctx.clock,
    log: ctx.log,
  });

  app.post(HTTP_PATHS.pair, { bodyLimit: 16 * 1024, onRequest: pairingAttemptGuard(limiter) }, async (req): Promise<PairingResponse> => {
    const request = validatePairingRequest.parse(req.body, 'pairing request');
    const response = await pairDevice(ctx.store, ctx.secrets, request, ctx.endpoints(), ctx.clock.now(), ctx.brokerAccess);
    req.log.info({ device_id: response.device_id, key_id: response.key_id, broker_login: response.mqtt_credentials !== undefined }, 'device paired');
    return response;
  });
  return { refused: () => ({ ...limiter.refused }) };
}
