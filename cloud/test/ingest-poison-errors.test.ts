import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateErrorBody } from '../../firmware-protocol/messages.js';
import { sqliteBackend } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { wireEvent } from './support-ingest/wire.js';

/**
 * Errors raised by the framework itself (before or around the routes: URL too long, headers too large, malformed
 * HTTP, a URL that does not decode, bad JSON, wrong media type, body too large) are answered in the documented
 * shape `{error:{code,message,request_id}}` (firmware-protocol ErrorBody), with X-Content-Type-Options: nosniff.
 */
let t: TestCloud;
let host: string;
let port: number;
beforeAll(async () => {
  t = await startTestCloud(sqliteBackend);
  const u = new URL(t.url);
  host = u.hostname;
  port = Number(u.port);
});
afterAll(async () => {
  await t?.close();
});

/** A raw HTTP/1.1 exchange (for requests fetch will not send); resolves with status, headers and body. */
function raw(request: string | Buffer): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    let data = '';
    s.on('data', (c: Buffer) => (data += c.toString('latin1')));
    s.on('error', reject);
    s.on('end', () => {
      const [head = '', ...rest] = data.split('\r\n\r\n');
      const lines = head.split('\r\n');
      const headers = Object.fromEntries(
        lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
      );
      resolve({ status: Number(lines[0]!.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
    s.write(request);
  });
}

function expectShape(
  r: { status: number; headers: Record<string, string> | Headers; body: string },
  status: number,
  code: string,
): void {
  const get = (h: string): string | null | undefined =>
    r.headers instanceof Headers ? r.headers.get(h) : r.headers[h];
  expect(r.status, r.body).toBe(status);
  expect(get('content-type')).toMatch(/^application\/json/);
  expect(get('x-content-type-options')).toBe('nosniff');
  const body = JSON.parse(r.body) as unknown;
  expect(validateErrorBody.check(body), r.body).toBe(true);
  const e = (body as { error: { code: string; message: string; request_id: string } }).error;
  expect(e.code).toBe(code);
  expect(e.message.length).toBeGreaterThan(0);
  expect(e.request_id).toBe(get('x-request-id'));
}

async function viaFetch(
  path: string,
  init: RequestInit & { token?: string | null } = {},
): Promise<{ status: number; headers: Headers; body: string }> {
  const res = await t.api(path, init);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

describe('framework errors use the documented error shape', () => {
  it('414: a path segment longer than the router takes', async () => {
    expectShape(await viaFetch(`/v1/events/evt_${'A'.repeat(300)}`), 414, 'uri_too_long');
  });

  it('431: request headers over the server limit', async () => {
    const r = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expectShape(r, 431, 'headers_too_large');
  });

  it('400: not HTTP at all', async () => {
    expectShape(await raw('\x16\x03\x01garbage that is no request line\r\n\r\n'), 400, 'invalid_request');
  });

  it('400: a URL that does not decode', async () => {
    expectShape(await viaFetch('/v1/events/%E0%A4%A'), 400, 'invalid_request');
  });

  it('400 invalid_json, 415 unsupported_media_type, 413 payload_too_large on the app API and pairing', async () => {
    const json = { 'content-type': 'application/json' };
    expectShape(
      await viaFetch('/v1/pairing-codes', { method: 'POST', headers: json, body: '{"name":' }),
      400,
      'invalid_json',
    );
    expectShape(
      await viaFetch('/v1/pairing-codes', {
        method: 'POST',
        headers: { 'content-type': 'application/xml' },
        body: '<name/>',
      }),
      415,
      'unsupported_media_type',
    );
    expectShape(
      await viaFetch('/v1/pair', {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ v: 1, code: 'ABCD-EFGH', name: 'x'.repeat(17 * 1024) }),
        token: null,
      }),
      413,
      'payload_too_large',
    );
    expectShape(await viaFetch('/v1/nothing-here'), 404, 'not_found');
  });

  it('the same on the ingest routes', async () => {
    const d = await t.pairDevice();
    const path = `/v1/devices/${d.deviceId}/events`;
    const sign = async (body: Buffer, type = 'application/json') => {
      const res = await t.signedFetch(d, 'POST', path, body, type);
      return { status: res.status, headers: res.headers, body: await res.text() };
    };
    expectShape(await sign(Buffer.from('{"v":1,')), 400, 'invalid_json');
    expectShape(
      await sign(Buffer.from(JSON.stringify(wireEvent(d.deviceId))), 'text/plain'),
      415,
      'unsupported_media_type',
    );
    expectShape(await sign(Buffer.alloc(600 * 1024, 0x20)), 413, 'payload_too_large');
  });
});
