import type { FastifyInstance } from 'fastify';
import { validatePairingRequest, type PairingResponse } from '../../firmware-protocol/messages.js';
import { HTTP_PATHS } from '../../firmware-protocol/http.js';
import type { Clock } from '../../shared/clock/index.js';
import type { Logger } from '../../shared/log/index.js';
import type { Store } from '../store/store.js';
import { pairDevice, type DeviceBrokerAccess, type PairingEndpoints } from './devices.js';
import { pairingAttemptGuard, PairingAttemptLimiter, type PairingLimitScope } from './rate-limit.js';
import type { SecretBox } from './secret-box.js';

/** What the pairing route needs (the server passes its API context, which has all of it). */
export interface PairingRouteContext {
  store: Store;
  secrets: SecretBox;
  clock: Clock;
  log: Logger;
  /** POST /v1/pair attempts per client address (sustained per minute, burst) and for the whole collector. */
  pairingAttempts: { perMinute: number; burst: number; globalPerMinute: number; globalBurst: number };
  /** Where paired boxes send (known once the server listens). */
  endpoints(): PairingEndpoints;
  /** Broker logins of boxes (cloud/broker), issued at pairing. */
  brokerAccess?: DeviceBrokerAccess | undefined;
}

/**
 * `POST /v1/pair` (protocol v1): unauthenticated — the one-time code is the credential. Answers:
 *   200 PairingResponse · 400 invalid_message / pairing_code_invalid (unknown or revoked code) ·
 *   409 pairing_code_used · 410 pairing_code_expired · 429 rate_limited (per source and collector-wide, against
 *   guessing: cloud/pairing/rate-limit.ts).
 */
export function registerPairingRoutes(
  app: FastifyInstance,
  ctx: PairingRouteContext,
): { refused(): Record<PairingLimitScope, number> } {
  const a = ctx.pairingAttempts;
  const limiter = new PairingAttemptLimiter({
    perSourcePerMinute: a.perMinute,
    perSourceBurst: a.burst,
    globalPerMinute: a.globalPerMinute,
    globalBurst: a.globalBurst,
    clock: ctx.clock,
    log: ctx.log,
  });

  app.post(
    HTTP_PATHS.pair,
    { bodyLimit: 16 * 1024, onRequest: pairingAttemptGuard(limiter) },
    async (req): Promise<PairingResponse> => {
      const request = validatePairingRequest.parse(req.body, 'pairing request');
      const response = await pairDevice(
        ctx.store,
        ctx.secrets,
        request,
        ctx.endpoints(),
        ctx.clock.now(),
        ctx.brokerAccess,
      );
      req.log.info(
        {
          device_id: response.device_id,
          key_id: response.key_id,
          broker_login: response.mqtt_credentials !== undefined,
        },
        'device paired',
      );
      return response;
    },
  );
  return { refused: () => ({ ...limiter.refused }) };
}
