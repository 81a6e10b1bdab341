import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../shared/clock/index.js';
import { authOf, requireToken } from '../auth/request.js';
import { VigilError } from '../errors.js';
import type { Notification } from '../push/notification.js';
import type { PushService } from '../push/service.js';
import { pushTargetOf, recordPushResults } from '../push/targets.js';
import type { Store } from '../store/store.js';
import { PushTokenParams } from './push-tokens.js';

/**
 * What the web app needs to set up Web Push and check it works:
 *
 *   GET  /v1/push/vapid-public-key     {public_key}: the applicationServerKey for PushManager.subscribe (base64url);
 *                                      404 not_found when the collector has no push.webpush config
 *   POST /v1/push/tokens/{id}/test     sends a test notification to that registration (of the caller's tenant, else
 *                                      404) → {id, status, http_status, reason, attempts}; the outcome is recorded
 *                                      on the registration as a real push's is (an invalid one is pruned). One test
 *                                      per registration every 10 s (429 rate_limited with Retry-After).
 *
 * The test push: title "Vigil test notification", `event_id` "test", tag `test-<id>`, the app icon as thumbnail.
 */
const TEST_EVERY_MS = 10_000;
export const TEST_EVENT_ID = 'test';
export const TEST_ICON_PATH = '/icons/icon-192.png';

export interface PushTestOptions {
  store: Store;
  push: PushService;
  /** push.webpush.public_key, when Web Push is configured. */
  vapidPublicKey: string | undefined;
  /** Where apps reach the collector (server.public_url, else the bound address). */
  baseUrl: () => string;
  clock: Clock;
}

export function registerPushTestRoutes(app: FastifyInstance, o: PushTestOptions): void {
  const reader = requireToken(o.store, 'reader');
  const lastTest = new Map<string, number>();

  app.get('/v1/push/vapid-public-key', { onRequest: reader }, async () => {
    if (!o.vapidPublicKey)
      throw new VigilError(
        'not_found',
        'Web Push is not configured on this collector (push.webpush: subject, public_key, private_key)',
      );
    return { public_key: o.vapidPublicKey };
  });

  app.post<{ Params: PushTokenParams }>(
    '/v1/push/tokens/:id/test',
    { schema: { params: PushTokenParams }, onRequest: reader },
    async (req, reply) => {
      const { tenantId } = authOf(req);
      const record = await o.store.getPushToken(tenantId, req.params.id);
      if (!record) throw new VigilError('not_found', `push token ${req.params.id} not found`);
      if (!o.push.platforms().includes(record.platform))
        throw new VigilError(
          'conflict',
          `push for ${record.platform} is not configured on this collector (push.${record.platform})`,
          { details: { platform: record.platform } },
        );
      const now = o.clock.now();
      const waitMs = (lastTest.get(record.id) ?? -Infinity) + TEST_EVERY_MS - now;
      if (waitMs > 0) {
        const s = Math.ceil(waitMs / 1000);
        reply.header('retry-after', String(s));
        throw new VigilError('rate_limited', `a test notification was sent to this device just now; retry in ${s} s`, {
          details: { retry_after_s: s },
        });
      }
      lastTest.set(record.id, now);
      if (lastTest.size > 10_000) lastTest.clear();
      const base = o.baseUrl().replace(/\/+$/, '');
      const notification: Notification = {
        event_id: TEST_EVENT_ID,
        title: 'Vigil test notification',
        body: 'Notifications work on this device.',
        thumbnail_url: `${base}${TEST_ICON_PATH}`,
        collapse_id: `test-${record.id}`,
        priority: 'high',
      };
      const [result] = await o.push.send(notification, [pushTargetOf(record)]);
      await recordPushResults(o.store, result ? [result] : [], o.clock.now());
      req.log.info({ push_token_id: record.id, status: result?.outcome.status }, 'test notification sent');
      return {
        id: record.id,
        status: result?.outcome.status ?? 'failed',
        http_status: result?.outcome.httpStatus ?? null,
        reason: result?.outcome.reason ?? null,
        attempts: result?.attempts ?? 0,
      };
    },
  );
}
