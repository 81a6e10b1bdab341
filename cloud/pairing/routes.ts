import type { FastifyInstance } from 'fastify';
import { validatePairingRequest, type PairingResponse } from '../../firmware-protocol/messages.js';
import { HTTP_PATHS } from '../../firmware-protocol/http.js';
import { VigilError } from '../../shared/errors/index.js';
import { DeviceRateLimiter } from '../ingest/rate-limit.js';
import type { ApiContext } from '../api/context.js';
import { pairDevice } from './devices.js';

/**
 * `POST /v1/pair` (protocol v1): unauthenticated — the one-time code is the credential. Answers:
 *   200 PairingResponse · 400 invalid_message / pairing_code_invalid (unknown or revoked code) ·
 *   409 pairing_code_used · 410 pairing_code_expired · 429 rate_limited (per client address, against guessing).
 */
export function registerPairingRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const limiter = new DeviceRateLimiter({ perSecond: ctx.pairingAttempts.perMinute / 60, burst: ctx.pairingAttempts.burst, maxTracked: 10_000, clock: ctx.clock });

  app.post(HTTP_PATHS.pair, { bodyLimit: 16 * 1024 }, async (req, reply): Promise<PairingResponse> => {
    const wait = limiter.take(`ip:${req.ip}`);
    if (wait > 0) {
      reply.header('retry-after', String(wait));
      throw new VigilError('rate_limited', `too many pairing attempts from this address; retry after ${wait} s`, { status: 429, details: { retry_after_s: wait } });
    }
    const request = validatePairingRequest.parse(req.body, 'pairing request');
    const response = await pairDevice(ctx.store, ctx.secrets, request, ctx.endpoints(), ctx.clock.now());
    req.log.info({ device_id: response.device_id, key_id: response.key_id }, 'device paired');
    return response;
  });
}
