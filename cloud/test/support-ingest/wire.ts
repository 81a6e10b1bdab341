import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { isVigilError } from '../../../shared/errors/index.js';
import { newEventId, ulid } from '../../../shared/ids/index.js';
import { httpStatusOf } from '../../errors.js';
import { testJpeg } from '../../../shared/testing/index.js';
import { sampleEvent } from '../../../shared/testing/events.js';
import { sha256Hex, signHttpRequest, type DeviceCredentials, type SignOptions } from '../../../shared/signing/index.js';
import type { AckItem } from '../../../firmware-protocol/messages.js';
import type { WireObject } from '../../ingest/sink.js';
import { registerIngestRoutes, type IngestDeps } from '../../ingest/index.js';

/** Test helpers for ingest: wire messages, signed requests, a minimal app around the ingest routes. */

export function wireEvent(deviceId: string, o: Record<string, unknown> = {}): WireObject {
  return sampleEvent(deviceId, o);
}

/** A Review message (kind review) of this device, started a moment ago; `o` overrides fields. */
export function wireReview(deviceId: string, o: Record<string, unknown> = {}): WireObject {
  return {
    v: 1,
    kind: 'review',
    id: `rev_${ulid()}`,
    device_id: deviceId,
    camera: 'front',
    type: 'new',
    rev: 0,
    severity: 'alert',
    started_at: new Date(Date.now() - 1000).toISOString(),
    objects: [newEventId()],
    labels: ['person'],
    zones: [],
    ...o,
  };
}

export function wireHeartbeat(deviceId: string, o: Record<string, unknown> = {}): WireObject {
  return {
    v: 1,
    device_id: deviceId,
    sent_at: new Date().toISOString(),
    uptime_s: 12,
    version: '0.1.0',
    outbox: { depth: 0, oldest_pending_age_s: null, dropped: 0, in_flight: 0 },
    cameras: [{ name: 'front', state: 'running', fps: 5, last_frame_age_s: 0.2, restarts: 0 }],
    ...o,
  };
}

/** A small real JPEG (8×8, padded with random comment bytes to exactly `size`): the collector opens thumbnails. */
export function fakeJpeg(size = 2048): Buffer {
  return testJpeg(size, randomBytes(4).readUInt32BE(0));
}

export function thumbnailInfo(jpeg: Buffer): Record<string, unknown> {
  return { sha256: sha256Hex(jpeg), size: jpeg.length, width: 320, height: 240, content_type: 'image/jpeg' };
}

/**
 * An ingest reply body as a test reads it: an Ack (200) or an ErrorBody (4xx/5xx). The test asserts which one by
 * value (status, code, validateAck/validateErrorBody); the type names what it then reads (the first ack, the error).
 */
export interface IngestReply {
  acks: [AckItem, ...AckItem[]];
  error: { code: string; message: string; details: Record<string, unknown> };
}

export interface SignedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload: Buffer;
}

/** A signed HTTP request for `app.inject` or undici. */
export function signed(
  creds: DeviceCredentials,
  method: string,
  url: string,
  body: Buffer | string | object,
  options: SignOptions & { contentType?: string } = {},
): SignedRequest {
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const headers = signHttpRequest(creds, method, url, payload, options);
  return { method, url, headers: { ...headers, 'content-type': options.contentType ?? 'application/json' }, payload };
}

/**
 * A fastify app with only the ingest routes and an error handler rendering `{error:{code,message,request_id,details}}`
 * like the collector's.
 */
export async function ingestApp(deps: IngestDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    const status = isVigilError(err) ? httpStatusOf(err) : (err.statusCode ?? 500);
    const code = isVigilError(err) ? err.code : status >= 500 ? 'internal_error' : 'invalid_message';
    const details = isVigilError(err) ? err.details : undefined;
    void reply
      .code(status)
      .send({ error: { code, message: err.message, request_id: req.id, ...(details ? { details } : {}) } });
  });
  await registerIngestRoutes(app, deps);
  await app.ready();
  return app;
}
