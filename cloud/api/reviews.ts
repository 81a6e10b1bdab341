import type { FastifyInstance } from 'fastify';
import { VigilError } from '../errors.js';
import { authOf, requireToken } from '../auth/request.js';
import type { ReviewFilter, ReviewRecord } from '../store/store.js';
import type { ApiContext } from './context.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { reviewDetailJson, reviewJson } from './review-json.js';
import { ReviewCountsQuery, ReviewParams, ReviewsQuery } from './schemas.js';

/**
 * Review items for apps (what happened on one camera at one time, grouped on the box into one alert or detection):
 *   GET    /v1/reviews                      filters severity, device, camera, zone, label, reviewed, since, until;
 *                                           cursor paging, newest first
 *   GET    /v1/reviews/counts               {alert, detection: {total, unreviewed}}; filters device, camera, zone,
 *                                           label, since, until
 *   GET    /v1/reviews/{review_id}          with its objects' event summaries, the best thumbnail and the push state
 *   POST   /v1/reviews/{review_id}/reviewed mark reviewed (the first mark stays; marking again changes nothing)
 *   DELETE /v1/reviews/{review_id}/reviewed mark not reviewed again
 * A mark is a live change: the stream (GET /v1/stream) sends the item as `review.updated` to the tenant's apps.
 * Any app token (reader or admin), like push registration: reviewing is what the app's user does. Scoped to the
 * token's tenant: another tenant's item is 404.
 */
function notFound(id: string): VigilError {
  return new VigilError('not_found', `review item ${id} not found`);
}

/** A time range that is empty by construction is a mistake in the query, not an empty page. */
function filterOf(q: ReviewsQuery | ReviewCountsQuery): ReviewFilter {
  const since = q.since === undefined ? undefined : Date.parse(q.since);
  const until = q.until === undefined ? undefined : Date.parse(q.until);
  if (since !== undefined && until !== undefined && until <= since)
    throw new VigilError('invalid_request', `querystring/until: must be later than since (${q.since})`, {
      details: { field: 'querystring/until' },
    });
  return {
    severity: 'severity' in q ? q.severity : undefined,
    deviceId: q.device,
    camera: q.camera,
    zone: q.zone,
    label: q.label,
    reviewed: 'reviewed' in q ? q.reviewed : undefined,
    since,
    until,
  };
}

/**
 * Tells the tenant's open apps (the live feed; the stream sends `review.updated`). No rev: a mark is the
 * collector's, not a message of the box (rev 0 would read as a new item).
 */
function publishMark(ctx: ApiContext, r: ReviewRecord, now: number): void {
  ctx.bus.publish({ type: 'review.stored', tenantId: r.tenantId, deviceId: r.deviceId, reviewId: r.id, at: now });
}

export function registerReviewRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const reader = requireToken(ctx.store, 'reader');

  app.get<{ Querystring: ReviewsQuery }>(
    '/v1/reviews',
    { schema: { querystring: ReviewsQuery }, onRequest: reader },
    async (req) => {
      const q = req.query;
      const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
      const page = await ctx.store.listReviews(authOf(req).tenantId, filterOf(q), q.limit, after);
      return { reviews: page.reviews.map(reviewJson), next_cursor: page.next ? encodeCursor(page.next) : null };
    },
  );

  app.get<{ Querystring: ReviewCountsQuery }>(
    '/v1/reviews/counts',
    { schema: { querystring: ReviewCountsQuery }, onRequest: reader },
    async (req) => ctx.store.countReviews(authOf(req).tenantId, filterOf(req.query)),
  );

  app.get<{ Params: ReviewParams }>(
    '/v1/reviews/:review_id',
    { schema: { params: ReviewParams }, onRequest: reader },
    async (req) => {
      const { tenantId } = authOf(req);
      const r = await ctx.store.getReview(tenantId, req.params.review_id);
      if (!r) throw notFound(req.params.review_id);
      const [events, status] = await Promise.all([
        ctx.store.getEvents(tenantId, r.objects),
        ctx.notify.reviewStatus(r.id),
      ]);
      return reviewDetailJson(r, events, status);
    },
  );

  app.post<{ Params: ReviewParams }>(
    '/v1/reviews/:review_id/reviewed',
    { schema: { params: ReviewParams }, onRequest: reader },
    async (req) => {
      const auth = authOf(req);
      const now = ctx.clock.now();
      const r = await ctx.store.setReviewed(auth.tenantId, req.params.review_id, { at: now, by: auth.tokenId }, now);
      if (!r) throw notFound(req.params.review_id);
      publishMark(ctx, r, now);
      return reviewJson(r);
    },
  );

  app.delete<{ Params: ReviewParams }>(
    '/v1/reviews/:review_id/reviewed',
    { schema: { params: ReviewParams }, onRequest: reader },
    async (req) => {
      const now = ctx.clock.now();
      const r = await ctx.store.setReviewed(authOf(req).tenantId, req.params.review_id, null, now);
      if (!r) throw notFound(req.params.review_id);
      publishMark(ctx, r, now);
      return reviewJson(r);
    },
  );
}
