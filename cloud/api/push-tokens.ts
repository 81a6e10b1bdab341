import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { VigilError } from '../errors.js';
import type { ApiContext } from './context.js';
import { authOf, requireToken } from '../auth/request.js';
import type { PushTokenRecord } from '../store/push-tokens.js';
import { preferencesJson, registerPushPreferenceRoutes } from './push-preferences.js';

/**
 * Push registrations of the caller's tenant (any app token, reader or admin):
 *   POST   /v1/push/tokens        {platform, token | subscription, app_id?, device_label?} → 201 new / 200 refreshed
 *   GET    /v1/push/tokens        the tenant's registrations (token hints and delivery state, never whole tokens)
 *   DELETE /v1/push/tokens/{id}   unregister; another tenant's id is simply not found (404)
 *   PUT    /v1/push/tokens/{id}/preferences  what it is notified of (./push-preferences.ts)
 *
 * The same token registered again (same tenant and platform) updates the registration instead of adding one (its
 * preferences stay).
 */
const B64URL = '^[A-Za-z0-9_-]+={0,2}$';

export const PushTokenBody = Type.Object(
  {
    platform: Type.Union([Type.Literal('apns'), Type.Literal('fcm'), Type.Literal('webpush')], {
      description: 'apns (iOS), fcm (Android) or webpush (browsers).',
    }),
    token: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 4096,
        description: 'apns: the device token (hex); fcm: the registration token. Not for webpush.',
      }),
    ),
    subscription: Type.Optional(
      Type.Object(
        {
          endpoint: Type.String({
            minLength: 12,
            maxLength: 2048,
            pattern: '^https://',
            description: 'PushSubscription.endpoint (https).',
          }),
          expirationTime: Type.Optional(
            Type.Union([Type.Null(), Type.Number()], {
              description: 'As PushSubscription.toJSON() gives it; ignored.',
            }),
          ),
          keys: Type.Object(
            {
              p256dh: Type.String({
                minLength: 86,
                maxLength: 90,
                pattern: B64URL,
                description: "The browser's P-256 public key, base64url (65 bytes).",
              }),
              auth: Type.String({
                minLength: 22,
                maxLength: 24,
                pattern: B64URL,
                description: 'The auth secret, base64url (16 bytes).',
              }),
            },
            { additionalProperties: false },
          ),
        },
        { additionalProperties: false, description: 'webpush only: PushSubscription.toJSON().' },
      ),
    ),
    app_id: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description: 'Which app registered (e.g. bundle id), for the operator.',
      }),
    ),
    device_label: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description: 'A name for the phone or browser, e.g. "Anna\'s iPhone".',
      }),
    ),
  },
  { additionalProperties: false },
);
export type PushTokenBody = Static<typeof PushTokenBody>;

export const PushTokenParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, description: 'Registration id (pt_…).' }),
});
export type PushTokenParams = Static<typeof PushTokenParams>;

function invalid(field: string, message: string): VigilError {
  return new VigilError('invalid_request', `${field}: ${message}`, { details: { field } });
}

/** The token to store for a body, checked per platform beyond what the schema can say. */
export function registrationOf(body: PushTokenBody): { token: string; p256dh: string | null; auth: string | null } {
  if (body.platform === 'webpush') {
    if (body.token !== undefined) throw invalid('body/token', 'webpush registers a subscription, not a token');
    const s = body.subscription;
    if (!s) throw invalid('body/subscription', 'required for webpush');
    const p256dh = s.keys.p256dh.replace(/=+$/, '');
    const auth = s.keys.auth.replace(/=+$/, '');
    const point = Buffer.from(p256dh, 'base64url');
    if (point.length !== 65 || point[0] !== 4)
      throw invalid('body/subscription/keys/p256dh', 'must be an uncompressed P-256 point (65 bytes, base64url)');
    if (Buffer.from(auth, 'base64url').length !== 16)
      throw invalid('body/subscription/keys/auth', 'must be 16 bytes, base64url');
    return { token: s.endpoint, p256dh, auth };
  }
  if (body.subscription !== undefined) throw invalid('body/subscription', `only for webpush, not ${body.platform}`);
  const token = body.token;
  if (token === undefined) throw invalid('body/token', `required for ${body.platform}`);
  if (body.platform === 'apns') {
    if (!/^[0-9a-fA-F]{64,200}$/.test(token))
      throw invalid('body/token', 'an APNs device token is hex, at least 64 digits');
    return { token: token.toLowerCase(), p256dh: null, auth: null };
  }
  if (!/^[A-Za-z0-9_:-]{20,4096}$/.test(token))
    throw invalid('body/token', 'an FCM registration token is 20+ characters of [A-Za-z0-9_:-]');
  return { token, p256dh: null, auth: null };
}

/** A registration as the API shows it: enough to recognise it, never the whole token or keys. */
export function pushTokenJson(r: PushTokenRecord): Record<string, unknown> {
  const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());
  return {
    id: r.id,
    platform: r.platform,
    token_hint: r.platform === 'webpush' ? `${new URL(r.token).origin}/…${r.token.slice(-6)}` : `…${r.token.slice(-8)}`,
    app_id: r.appId,
    device_label: r.deviceLabel,
    created_at: iso(r.createdAt),
    updated_at: iso(r.updatedAt),
    last_status: r.lastStatus,
    last_reason: r.lastReason,
    last_attempt_at: iso(r.lastAttemptAt),
    last_sent_at: iso(r.lastSentAt),
    failures: r.failures,
    preferences: preferencesJson(r.preferences),
  };
}

export function registerPushTokenRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const anyToken = requireToken(ctx.store, 'reader');

  app.post<{ Body: PushTokenBody }>(
    '/v1/push/tokens',
    { schema: { body: PushTokenBody }, onRequest: anyToken },
    async (req, reply) => {
      const auth = authOf(req);
      const reg = registrationOf(req.body);
      const { record, created } = await ctx.store.upsertPushToken({
        tenantId: auth.tenantId,
        platform: req.body.platform,
        ...reg,
        appId: req.body.app_id ?? null,
        deviceLabel: req.body.device_label ?? null,
        apiTokenId: auth.tokenId,
        now: ctx.clock.now(),
      });
      req.log.info(
        { push_token_id: record.id, platform: record.platform, created },
        created ? 'push token registered' : 'push token refreshed',
      );
      return reply.status(created ? 201 : 200).send(pushTokenJson(record));
    },
  );

  app.get('/v1/push/tokens', { onRequest: anyToken }, async (req) => {
    return { push_tokens: (await ctx.store.listPushTokens(authOf(req).tenantId)).map(pushTokenJson) };
  });

  app.delete<{ Params: PushTokenParams }>(
    '/v1/push/tokens/:id',
    { schema: { params: PushTokenParams }, onRequest: anyToken },
    async (req) => {
      const deleted = await ctx.store.deletePushToken(authOf(req).tenantId, req.params.id);
      if (!deleted) throw new VigilError('not_found', `push token ${req.params.id} not found`);
      req.log.info({ push_token_id: req.params.id }, 'push token deleted');
      return { id: req.params.id, deleted: true };
    },
  );

  registerPushPreferenceRoutes(app, ctx, pushTokenJson);
}
