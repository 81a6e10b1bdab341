import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, expect } from 'vitest';
import type { DeviceCredentials } from '../../../shared/signing/index.js';
import { validateErrorBody } from '../../../firmware-protocol/messages.js';
import type { IngestConfig } from '../../ingest/config.js';
import { MemorySink } from './memory-sink.js';
import { ingestApp, type IngestReply, type SignedRequest } from './wire.js';

/**
 * The HTTP ingest tests' bench: the ingest routes over a MemorySink with one paired device, rebuilt for every test
 * (`useHttpIngest()`), requests injected into fastify, and the check that an answer is a given wire error in the
 * protocol's error body. `sink`, `dev` and `app` are live bindings: an importer always sees the current test's.
 */

export let sink: MemorySink;
export let dev: DeviceCredentials;
export let app: FastifyInstance;

/** Registers the hooks of a test file: a fresh sink, paired device and app before each test, the app closed after. */
export function useHttpIngest(): void {
  beforeEach(async () => {
    sink = new MemorySink();
    dev = sink.addDevice();
    app = await ingestApp({ sink });
  });
  afterEach(async () => {
    await app.close();
  });
}

/** Replaces the current app by one over the same sink with another ingest config. */
export async function reopenHttpIngest(config: IngestConfig): Promise<void> {
  await app.close();
  app = await ingestApp({ sink, config });
}

export const nowS = (): number => Math.floor(Date.now() / 1000);
export const eventsUrl = (id: string): string => `/v1/devices/${id}/events`;
export const thumbUrl = (id: string, eventId: string): string => `/v1/devices/${id}/events/${eventId}/thumbnail`;

/** Injects a signed request into the current app; the reply's status, JSON body and headers. */
export async function send(req: SignedRequest) {
  const res = await app.inject({
    method: req.method as 'POST',
    url: req.url,
    headers: req.headers,
    payload: req.payload,
  });
  return { status: res.statusCode, body: res.json() as IngestReply, headers: res.headers };
}

export function expectError(res: { status: number; body: IngestReply }, status: number, code: string): void {
  expect({ status: res.status, code: res.body.error?.code }).toEqual({ status, code });
  expect(validateErrorBody.check(res.body)).toBe(true);
}
