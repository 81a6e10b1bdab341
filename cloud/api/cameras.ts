import type { FastifyInstance } from 'fastify';
import { VigilError } from '../errors.js';
import { authOf, requireToken } from '../auth/request.js';
import type { CameraSnoozeRecord } from '../store/store.js';
import type { ApiContext } from './context.js';
import { CameraParams, SNOOZE_MAX_DAYS, SnoozeBody } from './schemas.js';

/**
 * Per-camera snooze: no push for the camera's review items (nor, for a box without review items, its events) until
 * a time; pushes resume by themselves after it. Any app token (reader or admin), like push registration.
 *   GET    /v1/cameras/{device_id}/{camera}/snooze   {snoozed, until}
 *   POST   /v1/cameras/{device_id}/{camera}/snooze   {until}: set or move it
 *   DELETE /v1/cameras/{device_id}/{camera}/snooze   clear it (pushes resume now)
 * The device must be the token's tenant's (another tenant's device is 404); the camera name is the box's.
 */
const DAY_MS = 86_400_000;

function snoozeJson(deviceId: string, camera: string, s: CameraSnoozeRecord | undefined, now: number) {
  const active = s !== undefined && s.until > now;
  return {
    device_id: deviceId,
    camera,
    snoozed: active,
    until: active ? new Date(s.until).toISOString() : null,
    set_by: active ? s.createdBy : null,
    set_at: active ? new Date(s.createdAt).toISOString() : null,
  };
}

export function registerCameraRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const reader = requireToken(ctx.store, 'reader');
  const deviceNotFound = (id: string) => new VigilError('not_found', `device ${id} not found`);

  app.get<{ Params: CameraParams }>(
    '/v1/cameras/:device_id/:camera/snooze',
    { schema: { params: CameraParams }, onRequest: reader },
    async (req) => {
      const { tenantId } = authOf(req);
      const { device_id: deviceId, camera } = req.params;
      if (!(await ctx.store.getDevice(tenantId, deviceId))) throw deviceNotFound(deviceId);
      const s = await ctx.store.getCameraSnooze(tenantId, deviceId, camera);
      return snoozeJson(deviceId, camera, s, ctx.clock.now());
    },
  );

  app.post<{ Params: CameraParams; Body: SnoozeBody }>(
    '/v1/cameras/:device_id/:camera/snooze',
    { schema: { params: CameraParams, body: SnoozeBody }, onRequest: reader },
    async (req) => {
      const auth = authOf(req);
      const { device_id: deviceId, camera } = req.params;
      const now = ctx.clock.now();
      const until = Date.parse(req.body.until);
      if (until <= now)
        throw new VigilError(
          'invalid_request',
          `body/until: must be in the future (now is ${new Date(now).toISOString()})`,
          {
            details: { field: 'body/until' },
          },
        );
      if (until > now + SNOOZE_MAX_DAYS * DAY_MS)
        throw new VigilError('invalid_request', `body/until: at most ${SNOOZE_MAX_DAYS} days ahead`, {
          details: { field: 'body/until' },
        });
      const s = await ctx.store.snoozeCamera({
        tenantId: auth.tenantId,
        deviceId,
        camera,
        until,
        createdBy: auth.tokenId,
        now,
      });
      if (!s) throw deviceNotFound(deviceId);
      req.log.info({ device_id: deviceId, camera, until: req.body.until }, 'camera snoozed');
      return snoozeJson(deviceId, camera, s, now);
    },
  );

  app.delete<{ Params: CameraParams }>(
    '/v1/cameras/:device_id/:camera/snooze',
    { schema: { params: CameraParams }, onRequest: reader },
    async (req) => {
      const { tenantId } = authOf(req);
      const { device_id: deviceId, camera } = req.params;
      if (!(await ctx.store.getDevice(tenantId, deviceId))) throw deviceNotFound(deviceId);
      await ctx.store.unsnoozeCamera(tenantId, deviceId, camera);
      return snoozeJson(deviceId, camera, undefined, ctx.clock.now());
    },
  );
}
