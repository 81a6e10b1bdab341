import type { FastifyInstance } from 'fastify';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { LABEL_MAX } from '../../firmware-protocol/limits.js';
import { CAMERA_NAME_PATTERN, DEVICE_ID_PATTERN } from '../../firmware-protocol/patterns.js';
import { VigilError } from '../errors.js';
import { authOf, requireToken } from '../auth/request.js';
import type { PushPreferences, PushTokenRecord } from '../store/push-tokens.js';
import type { ApiContext } from './context.js';

/**
 * What one phone or browser is notified of (the app's Notifications screen), any app token or session of the
 * registration's tenant:
 *   PUT /v1/push/tokens/{id}/preferences  {labels, cameras, quiet_hours} → 200 the registration (as GET lists it)
 * The notify stage skips a registration whose preferences exclude a push (cloud/notify/preferences.ts); the test
 * notification (POST /v1/push/tokens/{id}/test) ignores them.
 */
const unanchored = (pattern: string): string => pattern.replace(/^\^/, '').replace(/\$$/, '');
const HHMM = '^([01]\\d|2[0-3]):[0-5]\\d$';
const MAX_ENTRIES = 100;

const Hhmm = (description: string) => Type.String({ pattern: HHMM, description });

/**
 * `schema` or null, as JSON Schema's `nullable` (not anyOf with null): the app API's Ajv coerces types, and under
 * anyOf a refused value could be coerced into the null branch ([""] → "" → null, "no restriction"); and a wrong
 * field inside is the error reported, by its path.
 */
const OrNull = <T extends TSchema>(schema: T, description: string) =>
  Type.Unsafe<Static<T> | null>({ ...schema, nullable: true, description });

export const PushPreferencesBody = Type.Object(
  {
    labels: OrNull(
      Type.Array(Type.String({ minLength: 1, maxLength: LABEL_MAX }), { maxItems: MAX_ENTRIES, uniqueItems: true }),
      'Labels to be notified of (an event of that label, a review item with one of them), e.g. ["person"]; ' +
        'null = every label; [] = none.',
    ),
    cameras: OrNull(
      Type.Array(
        Type.String({
          pattern: `^${unanchored(DEVICE_ID_PATTERN)}/${unanchored(CAMERA_NAME_PATTERN)}$`,
          description: '"<device id>/<camera name>", e.g. "dev_01J…/front".',
        }),
        { maxItems: MAX_ENTRIES, uniqueItems: true },
      ),
      'Cameras to be notified of, each "<device id>/<camera>"; null = every camera; [] = none.',
    ),
    quiet_hours: OrNull(
      Type.Object(
        {
          start: Hhmm('Local time quiet hours begin, HH:MM (00:00-23:59).'),
          end: Hhmm('Local time they end, HH:MM; earlier than start = over midnight; not equal to start.'),
          time_zone: Type.String({
            minLength: 1,
            maxLength: 64,
            description: 'IANA time zone of start and end, e.g. Europe/Berlin (daylight saving time followed).',
          }),
        },
        { additionalProperties: false },
      ),
      'A daily window without pushes to this registration; null = none.',
    ),
  },
  { additionalProperties: false },
);
export type PushPreferencesBody = Static<typeof PushPreferencesBody>;

export const PushTokenIdParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, description: 'Registration id (pt_…).' }),
});
export type PushTokenIdParams = Static<typeof PushTokenIdParams>;

function invalid(field: string, message: string): VigilError {
  return new VigilError('invalid_request', `${field}: ${message}`, { details: { field } });
}

/** True for a time zone name the runtime knows (IANA, e.g. Europe/Berlin or UTC); offsets are not names. */
export function isIanaTimeZone(name: string): boolean {
  if (!/^[A-Za-z]/.test(name)) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** The body as the store keeps it, after the checks the schema cannot make. */
export function preferencesOf(body: PushPreferencesBody): PushPreferences {
  const q = body.quiet_hours;
  if (q) {
    if (!isIanaTimeZone(q.time_zone))
      throw invalid(
        'body/quiet_hours/time_zone',
        `"${q.time_zone}" is not a known IANA time zone (e.g. Europe/Berlin, America/New_York, UTC)`,
      );
    if (q.start === q.end)
      throw invalid('body/quiet_hours/end', `equals start (${q.start}); for no quiet hours send quiet_hours: null`);
  }
  return {
    labels: body.labels,
    cameras: body.cameras,
    quietHours: q ? { start: q.start, end: q.end, timeZone: q.time_zone } : null,
  };
}

/** The `preferences` of a registration as the API shows it (null fields: no restriction). */
export function preferencesJson(p: PushPreferences): Record<string, unknown> {
  const q = p.quietHours;
  return {
    labels: p.labels,
    cameras: p.cameras,
    quiet_hours: q ? { start: q.start, end: q.end, time_zone: q.timeZone } : null,
  };
}

export function registerPushPreferenceRoutes(
  app: FastifyInstance,
  ctx: ApiContext,
  json: (r: PushTokenRecord) => Record<string, unknown>,
): void {
  const anyToken = requireToken(ctx.store, 'reader');

  app.put<{ Params: PushTokenIdParams; Body: PushPreferencesBody }>(
    '/v1/push/tokens/:id/preferences',
    { schema: { params: PushTokenIdParams, body: PushPreferencesBody }, onRequest: anyToken },
    async (req) => {
      const { tenantId } = authOf(req);
      const preferences = preferencesOf(req.body);
      const devices = new Set((await ctx.store.listDevices(tenantId)).map((d) => d.id));
      preferences.cameras?.forEach((c, i) => {
        const device = c.slice(0, c.indexOf('/'));
        if (!devices.has(device)) throw invalid(`body/cameras/${i}`, `no device ${device} in this tenant`);
      });
      const r = await ctx.store.setPushPreferences(tenantId, req.params.id, preferences);
      if (!r) throw new VigilError('not_found', `push token ${req.params.id} not found`);
      req.log.info(
        {
          push_token_id: r.id,
          labels: preferences.labels?.length ?? 'all',
          cameras: preferences.cameras?.length ?? 'all',
          quiet_hours: preferences.quietHours !== null,
        },
        'push preferences set',
      );
      return json(r);
    },
  );
}
