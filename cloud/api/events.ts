import type { FastifyInstance } from 'fastify';
import { VigilError } from '../errors.js';
import { authOf, requireToken } from '../auth/request.js';
import type { EventFilter } from '../store/store.js';
import type { ApiContext } from './context.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { eventJson, eventMessageJson, notifyJson } from './event-json.js';
import { EventParams, EventsQuery, StatsQuery } from './schemas.js';

/**
 * Events for apps:
 *   GET /v1/events                     filters device, camera, label, status, zone, verdict, since, until; cursor
 *                                      paging, newest first; each item with its `verification` and `push` (one query)
 *   GET /v1/events/{event_id}           with `verification` and push fields when verify-then-notify runs
 *   GET /v1/events/{event_id}/messages  the box's messages about it (new, updates, end), oldest first
 *   GET /v1/events/{event_id}/thumbnail  the JPEG, streamed, with an ETag (the SHA-256); also by signed link
 *   GET /v1/stats                      events per label and UTC day
 * Everything is scoped to the token's tenant: another tenant's event is 404.
 */
function notFound(what: string): VigilError {
  return new VigilError('not_found', `${what} not found`);
}

function filterOf(q: {
  device?: string | undefined;
  camera?: string | undefined;
  label?: string | undefined;
  status?: 'active' | 'ended' | undefined;
  zone?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
}): EventFilter {
  return {
    deviceId: q.device,
    camera: q.camera,
    label: q.label,
    status: q.status,
    zone: q.zone,
    since: q.since === undefined ? undefined : Date.parse(q.since),
    until: q.until === undefined ? undefined : Date.parse(q.until),
  };
}

export function registerEventRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const reader = requireToken(ctx.store, 'reader');

  app.get<{ Querystring: EventsQuery }>(
    '/v1/events',
    { schema: { querystring: EventsQuery }, onRequest: reader },
    async (req) => {
      const { tenantId } = authOf(req);
      const q = req.query;
      const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
      const join = ctx.notify.eventList(q.verdict);
      const page = await ctx.store.listEventsWith(tenantId, filterOf(q), q.limit, after, join);
      return {
        events: page.events.map(({ event, joined }) => ({ ...eventJson(event), ...joined })),
        next_cursor: page.next ? encodeCursor(page.next) : null,
      };
    },
  );

  app.get<{ Params: EventParams }>(
    '/v1/events/:event_id',
    { schema: { params: EventParams }, onRequest: reader },
    async (req) => {
      const e = await ctx.store.getEvent(authOf(req).tenantId, req.params.event_id);
      if (!e) throw notFound(`event ${req.params.event_id}`);
      return { ...eventJson(e), ...notifyJson(await ctx.notify.eventStatus(e.id)) };
    },
  );

  app.get<{ Params: EventParams }>(
    '/v1/events/:event_id/messages',
    { schema: { params: EventParams }, onRequest: reader },
    async (req) => {
      const messages = await ctx.store.listEventMessages(authOf(req).tenantId, req.params.event_id);
      if (!messages) throw notFound(`event ${req.params.event_id}`);
      return { messages: messages.map(eventMessageJson) };
    },
  );

  // Also reachable without a token through a signed, expiring link (?exp=…&sig=…) as pushes carry it.
  app.get<{ Params: EventParams }>(
    '/v1/events/:event_id/thumbnail',
    { schema: { params: EventParams }, onRequest: ctx.thumbnailAccess(reader) },
    async (req, reply) => {
      const t = await ctx.store.getThumbnail(authOf(req).tenantId, req.params.event_id);
      if (!t) throw notFound(`thumbnail of event ${req.params.event_id}`);
      const etag = `"${t.sha256}"`;
      reply.header('etag', etag).header('cache-control', 'private, max-age=86400, immutable');
      const inm = req.headers['if-none-match'];
      if (inm?.split(',').some((v) => v.trim().replace(/^W\//, '') === etag)) return reply.status(304).send();
      const blob = await ctx.blobs.get(t.blobKey);
      if (!blob) {
        req.log.error({ key: t.blobKey }, 'thumbnail recorded but its blob is missing');
        throw notFound(`thumbnail of event ${req.params.event_id}`);
      }
      return reply.type(t.contentType).header('content-length', String(blob.size)).send(blob.stream);
    },
  );

  app.get<{ Querystring: StatsQuery }>(
    '/v1/stats',
    { schema: { querystring: StatsQuery }, onRequest: reader },
    async (req) => {
      const { tenantId } = authOf(req);
      const days = await ctx.store.countEventsByLabelDay(tenantId, filterOf(req.query));
      const byLabel: Record<string, number> = {};
      for (const d of days) byLabel[d.label] = (byLabel[d.label] ?? 0) + d.count;
      return {
        since: req.query.since ?? null,
        until: req.query.until ?? null,
        total: days.reduce((n, d) => n + d.count, 0),
        by_label: byLabel,
        days,
      };
    },
  );
}
