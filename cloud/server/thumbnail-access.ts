import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import type { Clock } from '../../shared/clock/index.js';
import { VigilError } from '../errors.js';
import type { ThumbnailLinks } from '../notify/links.js';

export interface ThumbnailAccessOptions {
  /** Signs and checks the links pushes carry (cloud/notify/links.ts). */
  links: ThumbnailLinks;
  /** Tenant of an event: a signed link carries none. */
  tenantOfEvent(eventId: string): Promise<string | undefined>;
  clock: Clock;
}

/**
 * onRequest hook of `GET /v1/events/{event_id}/thumbnail`: a valid signed link (`?exp=…&sig=…`, as pushes carry
 * it) opens that one picture as a reader of its tenant; without one, the API token check runs.
 */
export function thumbnailAccess(
  tokenCheck: onRequestAsyncHookHandler,
  o: ThumbnailAccessOptions,
): onRequestAsyncHookHandler {
  return async function (this: unknown, req: FastifyRequest, reply: FastifyReply) {
    const q = (req.query ?? {}) as { exp?: string; sig?: string };
    if (q.exp === undefined && q.sig === undefined) return tokenCheck.call(this as never, req, reply);
    const eventId = (req.params as { event_id?: string }).event_id ?? '';
    // Bad, tampered and expired links look like a missing picture: nothing to learn from probing.
    const notFound = new VigilError('not_found', `thumbnail of event ${eventId.slice(0, 64)} not found`);
    if (!o.links.verify(eventId, q.exp, q.sig, o.clock.now())) throw notFound;
    const tenantId = await o.tenantOfEvent(eventId);
    if (!tenantId) throw notFound;
    req.auth = { tenantId, role: 'reader', tokenId: 'signed-link' };
  };
}
