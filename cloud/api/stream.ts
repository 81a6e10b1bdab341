import type { FastifyInstance } from 'fastify';
import type { ServerResponse } from 'node:http';
import { authOf, requireToken } from '../server/auth.js';
import { getDeviceView } from '../status/device-status.js';
import type { ApiContext } from './context.js';
import { eventJson } from './event-json.js';
import type { LiveChange } from './event-bus.js';

/**
 * `GET /v1/events/stream`: server-sent events with the token's tenant's changes as they happen.
 *
 *   event: event.new | event.updated     data: the event (same JSON as GET /v1/events/{id})
 *   event: device.status                 data: the device (same JSON as GET /v1/devices/{id}) after a heartbeat
 *
 * A comment line every 15 s keeps proxies from closing an idle stream. Nothing is replayed on reconnect: an app
 * catches up with GET /v1/events?since=….
 */
const KEEPALIVE_MS = 15_000;

export function registerStreamRoutes(app: FastifyInstance, ctx: ApiContext): { open(): number } {
  const open = new Set<ServerResponse>();

  // Long-lived responses would hold the server open on shutdown; end them first.
  app.addHook('preClose', async () => {
    for (const res of open) res.end();
    open.clear();
  });

  app.get('/v1/events/stream', { onRequest: requireToken(ctx.store, 'reader') }, async (req, reply) => {
    const { tenantId } = authOf(req);
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
      chain = chain.then(() => deliver(change)).catch((err: unknown) => req.log.warn({ err }, 'live feed delivery failed'));
    });
    const keepalive = setInterval(() => {
      if (!res.writableEnded) res.write(': keepalive\n\n');
    }, KEEPALIVE_MS);
    keepalive.unref();
    const cleanup = (): void => {
      clearInterval(keepalive);
      unsubscribe();
      open.delete(res);
    };
    res.on('close', cleanup);
    req.raw.on('close', cleanup);
  });

  return { open: () => open.size };
}
