import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { isVigilError, VigilError } from '../errors.js';
import { HEADER, parseHttpSignature, sha256Hex } from '../../shared/signing/index.js';
import { CONTENT_TYPE, HTTP_PATHS } from '../../firmware-protocol/http.js';
import { COMMAND_RESULT_MAX_BYTES } from '../../firmware-protocol/limits.js';
import type { Ack } from '../../firmware-protocol/messages.js';
import type { VerifiedDevice, VerifyOptions } from '../verify/index.js';
import { makeAck } from './ack.js';
import { resolveIngestDeps, type IngestDeps, type ResolvedIngestDeps } from './deps.js';
import { isSendersFault, type FailedMessage } from './dead-letter.js';
import { wireError } from './errors.js';
import { ingestEvents, singleItemError } from './events.js';
import { ingestHeartbeat } from './heartbeat.js';
import { ingestResult } from './results.js';
import { ingestThumbnail } from './thumbnail.js';

/**
 * Signed HTTP ingest (protocol v1):
 *
 *   POST /v1/devices/{device_id}/events                       application/json  Event | EventBatch → Ack
 *   POST /v1/devices/{device_id}/heartbeat                    application/json  Heartbeat → Ack
 *   PUT  /v1/devices/{device_id}/events/{event_id}/thumbnail  image/jpeg        JPEG (streamed) → Ack
 *   POST /v1/devices/{device_id}/results                      application/json  CommandResult → Ack (./results.ts)
 *
 * Every failure inside a route is contained (./dead-letter.ts): the sender's faults are 4xx; ours are 5xx (the box
 * retries) until the same message has failed `ingest.dead_letter_after` times while storage answers, then 422
 * `dead_lettered` (it is in the dead-letter table). Thumbnails are read whole and opened as a JPEG before storing.
 *
 * Per request: content type (415) → early rate-limit check (429, takes nothing) → body read raw, size-limited (413) →
 * signature over the raw bytes (401/403; the nonce is burnt only for a good signature) → rate-limit token (429) →
 * JSON + schema (400) → durable store → 200 with the Ack. For events, the nonce is only checked at the signature step
 * and recorded in the store's transaction with the events (see ingestEvents), so one request is one commit. Errors are
 * VigilErrors with wire codes; the app's error handler renders them as `{error:{code,message,request_id,details}}`.
 * `Retry-After` accompanies 429, and every response carries `Date` (node's default), which a box without a hardware
 * clock uses to correct its offset.
 *
 * The routes live in their own encapsulated plugin: its raw-body content-type parsers and error mapping do not leak
 * into the rest of the app. Wire it with `await registerIngestRoutes(app, { sink, config: config.ingest, log })`.
 */
export async function registerIngestRoutes(app: FastifyInstance, deps: IngestDeps): Promise<void> {
  const d = resolveIngestDeps(deps);
  await app.register(async (scope) => ingestPlugin(scope, d));
}

interface RouteConfig {
  ingestContentType: string;
}

interface DeviceParams {
  device_id: string;
  event_id?: string;
}

function ingestPlugin(scope: FastifyInstance, d: ResolvedIngestDeps): void {
  const limits = d.config.body_limits;
  scope.removeAllContentTypeParsers();
  // JSON bodies arrive as raw bytes: the signature covers the bytes, and JSON is parsed only after it verified.
  scope.addContentTypeParser(CONTENT_TYPE.json, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  // Thumbnails stay a stream; ingestThumbnail hashes it on its way into the blob store.
  scope.addContentTypeParser(CONTENT_TYPE.jpeg, (_req, payload, done) => done(null, payload));

  scope.addHook('onRequest', async (req: FastifyRequest<{ Params: DeviceParams }>, reply) => {
    d.metrics.counts.http_requests++;
    const expected = (req.routeOptions.config as Partial<RouteConfig> | undefined)?.ingestContentType;
    if (expected !== undefined) {
      const got = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (got !== expected) {
        throw wireError(
          'unsupported_media_type',
          `${req.method} ${req.routeOptions.url ?? req.url} takes Content-Type ${expected}, got ` +
            `${got === '' ? 'none' : `"${got.slice(0, 80)}"`}`,
        );
      }
    }
    const deviceId = req.params.device_id;
    if (deviceId !== undefined) {
      const wait = d.limiter.peek(deviceId);
      if (wait > 0) throw rateLimited(reply, wait);
    }
  });

  scope.setErrorHandler((err: Error & { code?: string; statusCode?: number }, _req, reply) => {
    const wire = toWireError(err);
    if (isVigilError(wire)) {
      if ((wire.status ?? 500) < 500) d.metrics.reject(wire.code);
      if (wire.code === 'rate_limited') reply.header('retry-after', String(wire.details?.retry_after_s ?? 1));
    }
    throw wire; // rendered by the app's error handler
  });

  const verify = async (
    req: FastifyRequest,
    actualSha256: string,
    options?: VerifyOptions,
  ): Promise<VerifiedDevice> => {
    const signed = parseHttpSignature(req.headers, req.method, req.url, actualSha256);
    return d.verifier.verify(signed, 'http', options);
  };
  const take = (deviceId: string, reply: FastifyReply): void => {
    const wait = d.limiter.take(deviceId);
    if (wait > 0) throw rateLimited(reply, wait);
  };
  /**
   * Runs a route's work; a failure that is ours (not a 4xx) is counted by the containment (./dead-letter.ts) and
   * answered 5xx as before, or, once the message has failed `ingest.dead_letter_after` times, 422 `dead_lettered`.
   */
  const contained = async <T>(
    req: FastifyRequest<{ Params: DeviceParams }>,
    kind: FailedMessage['kind'],
    body: () => { bytes: Buffer | undefined; sha256: string; size: number },
    work: () => Promise<T>,
  ): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      const wire = toWireError(err instanceof Error ? err : new Error(String(err)));
      if (isSendersFault(wire)) throw wire;
      const b = body();
      const verdict = await d.containment.ourFailure(
        {
          transport: 'http',
          kind,
          deviceId: req.params.device_id,
          eventId: req.params.event_id,
          route: `${req.method} ${req.url.split('?')[0]}`,
          body: b.bytes,
          bodySha256: b.sha256,
          bodySize: b.size,
        },
        wire,
      );
      if (verdict?.dead) {
        throw wireError(
          'dead_lettered',
          `this message failed ${verdict.attempts} times on the collector's side; it was moved to the dead-letter ` +
            `table as ${verdict.id}`,
          { dead_letter_id: verdict.id, attempts: verdict.attempts },
        );
      }
      throw wire;
    }
  };
  const rawBody = (req: FastifyRequest, what: string): Buffer => {
    if (!Buffer.isBuffer(req.body))
      throw wireError('invalid_json', `${what}: the body is empty; expected a JSON object`);
    return req.body;
  };

  scope.post<{ Params: DeviceParams }>(
    HTTP_PATHS.events,
    { bodyLimit: limits.events_bytes, config: { ingestContentType: CONTENT_TYPE.json } satisfies RouteConfig },
    async (req, reply): Promise<Ack> => {
      const body = req.body === undefined ? Buffer.alloc(0) : rawBody(req, 'events body');
      const sha256 = sha256Hex(body);
      return contained(
        req,
        'events',
        () => ({ bytes: body, sha256, size: body.length }),
        async () => {
          const receivedAt = d.clock.now();
          // The nonce is checked here but recorded with the events, in the same transaction (one commit per request).
          const device = await verify(req, sha256, { deferNonce: 'reject' });
          take(device.deviceId, reply);
          const outcome = await ingestEvents(d, device.deviceId, body, receivedAt, device.nonce);
          const failed = singleItemError(outcome);
          if (failed) throw failed;
          return makeAck(outcome.items, d.clock);
        },
      );
    },
  );

  scope.post<{ Params: DeviceParams }>(
    HTTP_PATHS.heartbeat,
    { bodyLimit: limits.heartbeat_bytes, config: { ingestContentType: CONTENT_TYPE.json } satisfies RouteConfig },
    async (req, reply): Promise<Ack> => {
      const body = req.body === undefined ? Buffer.alloc(0) : rawBody(req, 'heartbeat');
      const sha256 = sha256Hex(body);
      return contained(
        req,
        'heartbeat',
        () => ({ bytes: body, sha256, size: body.length }),
        async () => {
          const receivedAt = d.clock.now();
          const device = await verify(req, sha256);
          take(device.deviceId, reply);
          const item = await ingestHeartbeat(d, device.deviceId, body, device.skewS, receivedAt);
          return makeAck([item], d.clock);
        },
      );
    },
  );

  scope.post<{ Params: DeviceParams }>(
    HTTP_PATHS.results,
    { bodyLimit: COMMAND_RESULT_MAX_BYTES, config: { ingestContentType: CONTENT_TYPE.json } satisfies RouteConfig },
    async (req, reply): Promise<Ack> => {
      const body = req.body === undefined ? Buffer.alloc(0) : rawBody(req, 'result');
      const sha256 = sha256Hex(body);
      return contained(
        req,
        'result',
        () => ({ bytes: body, sha256, size: body.length }),
        async () => {
          const device = await verify(req, sha256);
          take(device.deviceId, reply);
          return makeAck([await ingestResult(d, device.deviceId, body)], d.clock);
        },
      );
    },
  );

  scope.put<{ Params: DeviceParams & { event_id: string } }>(
    HTTP_PATHS.thumbnail,
    { bodyLimit: limits.thumbnail_bytes, config: { ingestContentType: CONTENT_TYPE.jpeg } satisfies RouteConfig },
    async (req, reply): Promise<Ack> => {
      const lengthHeader = req.headers['content-length'];
      if (lengthHeader === undefined || !/^\d+$/.test(lengthHeader)) {
        throw wireError(
          'invalid_message',
          'thumbnail upload needs a Content-Length header (chunked bodies are not accepted)',
        );
      }
      const size = Number(lengthHeader);
      if (size > limits.thumbnail_bytes) {
        throw wireError('payload_too_large', `thumbnail is ${size} bytes; the limit is ${limits.thumbnail_bytes}`, {
          limit: limits.thumbnail_bytes,
        });
      }
      const receivedAt = d.clock.now();
      // The body is still unread: the signature is checked against the claimed hash, and the body is read whole
      // and held to that hash (and opened as a JPEG) before anything is stored.
      const claimed = firstHeader(req.headers[HEADER.contentSha256]) ?? '';
      const seen: { body?: Buffer } = {};
      return contained(
        req,
        'thumbnail',
        () => ({ bytes: seen.body, sha256: claimed, size }),
        async () => {
          const device = await verify(req, claimed);
          take(device.deviceId, reply);
          const source = (req.body as Readable | undefined) ?? req.raw;
          const item = await ingestThumbnail(
            d,
            device.deviceId,
            req.params.event_id,
            source,
            { size, sha256: claimed },
            receivedAt,
            seen,
          );
          return makeAck([item], d.clock);
        },
      );
    },
  );
}

function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function rateLimited(reply: FastifyReply, waitS: number): VigilError {
  reply.header('retry-after', String(waitS));
  return wireError('rate_limited', `too many requests from this device; retry after ${waitS} s`, {
    retry_after_s: waitS,
  });
}

/** Maps framework errors (body limit, content type, bad length) onto wire codes; VigilErrors pass through. */
export function toWireError(err: Error & { code?: string; statusCode?: number }): Error {
  if (isVigilError(err)) return err;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return wireError('payload_too_large', 'request body is larger than this endpoint accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return wireError('unsupported_media_type', err.message);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return wireError('invalid_message', err.message);
    default:
      if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
        return new VigilError('invalid_message', err.message, { cause: err });
      }
      return err;
  }
}
