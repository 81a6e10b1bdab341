import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import { isVigilError, VigilError } from '../errors.js';
import { authOf, requireToken } from '../auth/request.js';
import { getDeviceView } from '../status/device-status.js';
import type { ApiContext } from './context.js';
import { eventJson } from './event-json.js';
import { reviewJson } from './review-json.js';
import type { ChangeJournal, JournalEntry } from '../live/change-journal.js';

/**
 * `GET /v1/stream` (also at its first name, `GET /v1/events/stream`): server-sent events with the caller's tenant's
 * changes as they happen. API token or the web app's session cookie (a browser `EventSource` sends it).
 *
 *   id: <change number>   event: event.new | event.updated   data: the event (as GET /v1/events/{id})
 *   id: <change number>   event: device.status               data: the device (as GET /v1/devices/{id}), heartbeat
 *   id: <change number>   event: review.new | review.updated data: the review item (as in GET /v1/reviews)
 *   id: <change number>   event: stream.reset                data: {reason, last_event_id}
 *   id: <change number>   event: stream.closed               data: {code, message}: the credential ended, see below
 *
 * Every message carries the change's number in the live change journal (cloud/live/change-journal.ts): increasing,
 * per tenant, kept in the database. A client reconnecting with `Last-Event-ID: n` (EventSource does it by itself;
 * or `?last_event_id=n` on a fresh page) first gets every change after n, from the database (also after a collector
 * restart, also from another collector on the same PostgreSQL), then the live ones. The content is always the
 * event's current state, read from the store when sent. When n is older than the journal keeps
 * (`api.stream_replay_window`) or unknown, `stream.reset` says so: the app reloads its lists, the stream goes on live.
 *
 * A comment line every 15 s keeps proxies from closing an idle stream. The credential is checked again then and
 * before each delivery: once the session ended (logout elsewhere, password changed, expiry) or the token was revoked,
 * the stream sends `stream.closed` (code `session_expired` / `unauthorized`) and ends; nothing more reaches it.
 *
 * Each open stream holds a socket, a bus subscription and a timer, so they are capped per API token or session and
 * per tenant (`api.stream_max_per_token`, `api.stream_max_per_tenant`; per collector process): beyond, 429
 * `too_many_streams` with `details: {scope: 'token' | 'tenant', limit}`. A stream's slot is given back when it closes,
 * whichever side closes it.
 */
const KEEPALIVE_MS = 15_000;
/** Journal rows read at once while catching up. */
const PAGE = 200;
const PRUNE_EVERY_MS = 10 * 60_000;

export const STREAM_PATHS = ['/v1/stream', '/v1/events/stream'] as const;

export interface StreamLimits {
  perToken: number;
  perTenant: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = { perToken: 10, perTenant: 50 };

export interface StreamOptions {
  limits: StreamLimits;
  journal: ChangeJournal;
  /** Journal rows older than this are pruned (a reconnect after longer gets `stream.reset`), ms. */
  replayWindowMs: number;
}

/** Open streams per key (token id, tenant id). */
class SlotCounter {
  private readonly counts = new Map<string, number>();
  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }
  add(key: string, delta: 1 | -1): void {
    const n = this.get(key) + delta;
    if (n <= 0) this.counts.delete(key);
    else this.counts.set(key, n);
  }
}

/** The change number a client last saw: header Last-Event-ID, else query `last_event_id`; null when unreadable. */
function lastEventId(req: FastifyRequest): number | null | undefined {
  const header = req.headers['last-event-id'];
  const query = (req.query as { last_event_id?: unknown } | undefined)?.last_event_id;
  const text = typeof header === 'string' ? header : typeof query === 'string' ? query : undefined;
  if (text === undefined || text.trim() === '') return undefined;
  return /^\d{1,15}$/.test(text.trim()) ? Number(text.trim()) : null;
}

export function registerStreamRoutes(app: FastifyInstance, ctx: ApiContext, o: StreamOptions): { open(): number } {
  const { limits, journal } = o;
  const open = new Set<ServerResponse>();
  const perToken = new SlotCounter();
  const perTenant = new SlotCounter();
  const refuse = (scope: 'token' | 'tenant', limit: number): VigilError =>
    new VigilError(
      'too_many_streams',
      scope === 'token'
        ? `this API token or session already has ${limit} live streams open (the most allowed); close one first`
        : `this tenant already has ${limit} live streams open (the most allowed); close one first`,
      { details: { scope, limit } },
    );

  const prune = setInterval(() => {
    journal
      .prune(ctx.clock.now() - o.replayWindowMs)
      .catch((err: unknown) => ctx.log.warn({ err }, 'live change journal prune failed'));
  }, PRUNE_EVERY_MS);
  prune.unref();
  // Long-lived responses would hold the server open on shutdown; end them first.
  app.addHook('preClose', async () => {
    clearInterval(prune);
    for (const res of open) res.end();
    open.clear();
  });

  const check = requireToken(ctx.store, 'reader');
  const ENDED_CREDENTIAL = new Set(['unauthorized', 'session_expired', 'forbidden']);

  const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const { tenantId, tokenId } = authOf(req);
    if (perToken.get(tokenId) >= limits.perToken) throw refuse('token', limits.perToken);
    if (perTenant.get(tenantId) >= limits.perTenant) throw refuse('tenant', limits.perTenant);
    // Counted before the first await: concurrent requests cannot all pass the check.
    perToken.add(tokenId, 1);
    perTenant.add(tenantId, 1);
    let released = false;
    let unsubscribe = (): void => undefined;
    let keepalive: NodeJS.Timeout | undefined;
    let res: ServerResponse | undefined;
    const cleanup = (): void => {
      if (released) return;
      released = true;
      if (keepalive) clearInterval(keepalive);
      unsubscribe();
      if (res) open.delete(res);
      perToken.add(tokenId, -1);
      perTenant.add(tenantId, -1);
    };

    // Woken by the bus; reads the journal after `cursor`. One catch-up at a time per connection, in order.
    let cursor = 0;
    let ready = false;
    let queued = false;
    let chain: Promise<void> = Promise.resolve();
    const send = (id: number, event: string, data: unknown): void => {
      if (res && !res.writableEnded) res.write(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const deliver = async ({ seq, change }: JournalEntry): Promise<void> => {
      if (change.type === 'heartbeat') {
        const view = await getDeviceView(ctx.store, tenantId, change.deviceId, ctx.clock.now(), ctx.offlineAfterMs);
        if (view) send(seq, 'device.status', view);
        return;
      }
      if (change.type === 'review.stored') {
        const r = change.reviewId ? await ctx.store.getReview(tenantId, change.reviewId) : undefined;
        if (r) send(seq, change.rev === 0 ? 'review.new' : 'review.updated', reviewJson(r));
        return;
      }
      if (!change.eventId) return;
      const e = await ctx.store.getEvent(tenantId, change.eventId);
      if (e)
        send(seq, change.type === 'event.stored' && change.rev === 0 ? 'event.new' : 'event.updated', eventJson(e));
    };
    // The credential again (a session may have ended since the stream opened); false after closing the stream.
    const stillAllowed = async (): Promise<boolean> => {
      try {
        await check.call(app, req, reply);
        return true;
      } catch (err) {
        if (!isVigilError(err) || !ENDED_CREDENTIAL.has(err.code)) throw err;
        send(cursor, 'stream.closed', { code: err.code, message: err.message });
        res?.end();
        cleanup();
        return false;
      }
    };
    const catchUp = async (): Promise<void> => {
      if (released || !(await stillAllowed())) return;
      for (;;) {
        if (released) return;
        const page = await journal.after(tenantId, cursor, PAGE);
        for (const entry of page) {
          if (released) return;
          await deliver(entry);
          cursor = entry.seq;
        }
        if (page.length < PAGE) return;
      }
    };
    const wake = (): void => {
      if (!ready || queued || released) return;
      queued = true;
      chain = chain
        .then(() => {
          queued = false;
          return catchUp();
        })
        .catch((err: unknown) => req.log.warn({ err }, 'live feed delivery failed'));
    };

    try {
      // Subscribed before the position is read: a change committed after it wakes this stream.
      unsubscribe = ctx.bus.subscribe(tenantId, wake);
      const asked = lastEventId(req);
      const position = await journal.position(tenantId);
      let reset: { reason: string } | undefined;
      if (asked === undefined) cursor = position.last;
      else if (asked === null || asked > position.last) reset = { reason: 'unknown_id' };
      else if (asked < position.prunedThrough) reset = { reason: 'replay_window_passed' };
      else cursor = asked;
      if (reset) cursor = position.last;

      reply.hijack();
      res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': String(req.id),
      });
      res.write('retry: 3000\n: connected\n\n');
      open.add(res);
      if (reset) send(cursor, 'stream.reset', { ...reset, last_event_id: cursor });
      keepalive = setInterval(() => {
        if (!res || res.writableEnded) return;
        res.write(': keepalive\n\n');
        chain = chain
          .then(() => stillAllowed())
          .then(() => undefined)
          .catch((err: unknown) => req.log.warn({ err }, 'live feed credential check failed'));
      }, KEEPALIVE_MS);
      keepalive.unref();
      res.on('close', cleanup);
      req.raw.on('close', cleanup);
      // A client gone while the token was being checked closed before the listeners existed: free its slot now.
      if (res.destroyed || req.raw.destroyed || !res.socket || res.socket.destroyed) cleanup();
      ready = true;
      // Replay what the client missed (nothing when it asked for nothing), and anything that came meanwhile.
      wake();
    } catch (err) {
      cleanup();
      throw err;
    }
  };

  for (const path of STREAM_PATHS) app.get(path, { onRequest: requireToken(ctx.store, 'reader') }, handler);

  return { open: () => open.size };
}
