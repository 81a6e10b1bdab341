import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VigilError as BaseVigilError } from '../../shared/errors/index.js';
import { VigilError as CommonError } from '../../shared/errors/common.js';
import { CLOUD_ERRORS, httpStatusOf, VigilError } from '../errors.js';
import { toWireError } from '../ingest/http.js';
import { sqliteBackend } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';

describe('the cloud registry', () => {
  it('gives each code its HTTP status: API, wire and common codes', () => {
    expect(new VigilError('not_found', 'no such device').status).toBe(404);
    expect(new VigilError('too_many_streams').status).toBe(429);
    expect(new VigilError('llm_timeout').status).toBe(504);
    expect(new VigilError('signature_malformed').status).toBe(401);
    expect(new VigilError('config_invalid', 'x').status).toBeUndefined();
    expect(CLOUD_ERRORS.device_revoked.status).toBe(403);
  });

  it('httpStatusOf: the registry status; 500 for a code without one or a status outside 4xx/5xx', () => {
    expect(httpStatusOf(new VigilError('rate_limited'))).toBe(429);
    expect(httpStatusOf(new CommonError('config_invalid', 'bad'))).toBe(500);
    expect(httpStatusOf(BaseVigilError.received('weird', 'x', 302))).toBe(500);
    expect(httpStatusOf(BaseVigilError.received('device_revoked', 'x', undefined))).toBe(403);
  });

  it('a framework 4xx that ingest maps to invalid_message is 400, the catalogue status (it kept the 4xx)', () => {
    const framework = Object.assign(new Error('request aborted'), { code: 'FST_ERR_SOMETHING', statusCode: 422 });
    const wire = toWireError(framework) as BaseVigilError;
    expect([wire.code, wire.status]).toEqual(['invalid_message', 400]);
  });
});

describe('device_revoked answers with the catalogue status', () => {
  let t: TestCloud;
  beforeAll(async () => {
    t = await startTestCloud(sqliteBackend);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a new key for a revoked device is 403 device_revoked (it was 409)', async () => {
    const creds = await t.pairDevice('revoked-box');
    expect((await t.api(`/v1/devices/${creds.deviceId}`, { method: 'DELETE' })).status).toBe(200);
    const res = await t.api(`/v1/devices/${creds.deviceId}/keys`, { method: 'POST' });
    const body = (await res.json()) as { error: { code: string } };
    expect([res.status, body.error.code]).toEqual([403, 'device_revoked']);
  });
});
