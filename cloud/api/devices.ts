import type { FastifyInstance } from 'fastify';
import { VigilError } from '../errors.js';
import { authOf, requireToken } from '../auth/request.js';
import { disableBrokerLogin, rotateDeviceKey } from '../pairing/devices.js';
import { getDeviceView, listDeviceViews } from '../status/device-status.js';
import type { ApiContext } from './context.js';
import { DeviceKeyParams, DeviceParams } from './schemas.js';

/**
 * Devices for apps (status from cloud/status) and their management (admin):
 *   GET    /v1/devices                              every device of the tenant with online/offline state
 *   GET    /v1/devices/{device_id}                  one device, with its keys (ids and states, never secrets)
 *   DELETE /v1/devices/{device_id}                  revoke: its keys stop working at once (ingest: unknown_device)
 *                                                   and its broker login is disabled (disconnected)
 *   POST   /v1/devices/{device_id}/keys             rotation: issue a new key (secret shown once); the oldest of
 *                                                   three active keys is retired; with broker logins, a new
 *                                                   broker password too (mqtt_credentials, shown once)
 *   DELETE /v1/devices/{device_id}/keys/{key_id}    retire one key (not the last active one)
 */
function notFound(deviceId: string): VigilError {
  return new VigilError('not_found', `device ${deviceId} not found`);
}

export function registerDeviceRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const reader = requireToken(ctx.store, 'reader');
  const admin = requireToken(ctx.store, 'admin');

  app.get('/v1/devices', { onRequest: reader }, async (req) => {
    return { devices: await listDeviceViews(ctx.store, authOf(req).tenantId, ctx.clock.now(), ctx.offlineAfterMs) };
  });

  app.get<{ Params: DeviceParams }>(
    '/v1/devices/:device_id',
    { schema: { params: DeviceParams }, onRequest: reader },
    async (req) => {
      const view = await getDeviceView(
        ctx.store,
        authOf(req).tenantId,
        req.params.device_id,
        ctx.clock.now(),
        ctx.offlineAfterMs,
      );
      if (!view) throw notFound(req.params.device_id);
      return view;
    },
  );

  app.delete<{ Params: DeviceParams }>(
    '/v1/devices/:device_id',
    { schema: { params: DeviceParams }, onRequest: admin },
    async (req) => {
      const { tenantId } = authOf(req);
      const id = req.params.device_id;
      const device = await ctx.store.getDevice(tenantId, id);
      if (!device) throw notFound(id);
      const now = ctx.clock.now();
      const revoked = await ctx.store.revokeDevice(tenantId, id, now);
      ctx.keysChanged(id);
      await disableBrokerLogin(ctx.brokerAccess ?? {}, id); // off the broker at once (logged if the broker is down)
      req.log.info({ device_id: id, revoked }, 'device revoked');
      return { device_id: id, revoked_at: new Date(device.revokedAt ?? now).toISOString() };
    },
  );

  app.post<{ Params: DeviceParams }>(
    '/v1/devices/:device_id/keys',
    { schema: { params: DeviceParams }, onRequest: admin },
    async (req, reply) => {
      const { tenantId } = authOf(req);
      const id = req.params.device_id;
      const issued = await rotateDeviceKey(ctx.store, ctx.secrets, tenantId, id, ctx.clock.now(), ctx.brokerAccess);
      if (!issued) throw notFound(id);
      ctx.keysChanged(id);
      req.log.info({ device_id: id, key_id: issued.keyId }, 'device key issued');
      const view = await getDeviceView(ctx.store, tenantId, id, ctx.clock.now(), ctx.offlineAfterMs);
      const broker = issued.mqttCredentials ? { mqtt_credentials: issued.mqttCredentials } : {};
      return reply
        .status(201)
        .send({ device_id: id, key_id: issued.keyId, secret_b64: issued.secretB64, keys: view?.keys ?? [], ...broker });
    },
  );

  app.delete<{ Params: DeviceKeyParams }>(
    '/v1/devices/:device_id/keys/:key_id',
    { schema: { params: DeviceKeyParams }, onRequest: admin },
    async (req) => {
      const { tenantId } = authOf(req);
      const { device_id: id, key_id: keyId } = req.params;
      if (!(await ctx.store.getDevice(tenantId, id))) throw notFound(id);
      const retired = await ctx.store.retireDeviceKey(tenantId, id, keyId, ctx.clock.now());
      if (!retired) throw new VigilError('not_found', `device ${id} has no active key ${keyId}`);
      ctx.keysChanged(id);
      return { device_id: id, key_id: keyId, status: 'retired' };
    },
  );
}
