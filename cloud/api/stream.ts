import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import { VigilError } from '../errors.js';
import { authOf, requireToken } from '../auth/request.js';
import { getDeviceView } from '../status/device-status.js';
import type { ApiContext } from './context.js';
import { eventJson } from './event-json.js';
import type { LiveChange } from '../live/event-bus.js';

/**
 * `GET /v1/events/stream`: server-sent events with the token's tenant's changes as they happen.
 *
 *   event: event.new | event.updated     data: the event (same JSON as GET /v1/events/{id})
 *   event: device.status                 data: the device (same JSON as GET /v1/devices/{id}) after a heartbeat
 *
 * A comment line every 15 s keeps proxies from closing an idle stream. Nothing is replayed on reconnect: an app
 * catches up with GET /v1/events?since=….
 *
 * Each open stream holds a socket, a bus subscription and a timer, so they are capped per API token and per tenant
 * (`api.stream_max_per_token`, `api.stream_max_per_tenant`; per collector process): beyond, 429 `too_many_streams`
 * with `details: {scope: 'token' | 'tenant', limit}`. A stream's slot is given back when it closes, whichever side
 * closes it.
 */
const KEEPALIVE_MS = 15_000;

export interface StreamLimits {
  perToken: number;
  perTenant: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = { perToken: 10, perTenant: 50 };

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

export function registerStreamRoutes(
  app: FastifyInstance,
  ctx: ApiContext,
  limits: StreamLimits = DEFAULT_STREAM_LIMITS,
): { open(): number } {
  const open = new Set<ServerResponse>();
  const perToken = new SlotCounter();
  const perTenant = new SlotCounter();
  const refuse = (scope: 'token' | 'tenant', limit: number): VigilError =>
    new VigilError(
      'too_many_streams',
      scope === 'token'
        ? `this API token already has ${limit} live streams open (the most allowed); close one first`
        : `this tenant already has ${limit} live streams open (the most allowed); close one first`,
      { details: { scope, limit } },
    );

  // Long-lived responses would hold the server open on shutdown; end them first.
  app.addHook('preClose', async () => {
    for (const res of open) res.end();
    open.clear();
  });

  app.get('/v1/events/stream', { onRequest: requireToken(ctx.store, 'reader') }, async (req, reply) => {
    const { tenantId, tokenId } = authOf(req);
    if (perToken.get(tokenId) >= limits.perToken) throw refuse('token', limits.perToken);
    if (perTenant.get(tenantId) >= limits.perTenant) throw refuse('tenant', limits.perTenant);
    // Counted before the first await: concurrent requests cannot all pass the check.
    perToken.add(tokenId, 1);
    perTenant.add(tenantId, 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      perToken.add(tokenId, -1);
      perTenant.add(tenantId, -1);
    };
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': String(req.id),
    });
    res.write('retry: 3000\n: connected\n\n');
    open.add(res);

    let seq = 0;
    let chain: Promise<void> = Promise.resolve();
    const send = (event: string, data: unknown): void => {
      if (!res.writableEnded) res.write(`id: ${++seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const deliver = async (change: LiveChange): Promise<void> => {
      if (change.type === 'heartbeat') {
        const view = await getDeviceView(ctx.store, tenantId, change.deviceId, ctx.clock.now(), ctx.offlineAfterMs);
        if (view) send('device.status', view);
        return;
      }
      if (!change.eventId) return;
      const e = await ctx.store.getEvent(tenantId, change.eventId);
      if (e) send(change.type === 'event.stored' && change.rev === 0 ? 'event.new' : 'event.updated', eventJson(e));
    };
    const unsubscribe = ctx.bus.subscribe(tenantId, (change) => {
      // In order, one at a time per connection.
      chain = chain
        .then(() => deliver(change))
        .catch((err: unknown) => req.log.warn({ err }, 'live feed delivery failed'));
    });
    const keepalive = setInterval(() => {
      if (!res.writableEnded) res.write(': keepalive\n\n');
    }, KEEPALIVE_MS);
    keepalive.unref();
    const cleanup = (): void => {
      clearInterval(keepalive);
      unsubscribe();
      open.delete(res);
      release();
    };
    res.on('close', cleanup);
    req.raw.on('close', cleanup);
    // A client gone while the token was being checked closed before the listeners existed: free its slot now.
    if (res.destroyed || req.raw.destroyed || !res.socket || res.socket.destroyed) cleanup();
  });

  return { open: () => open.size };
}
