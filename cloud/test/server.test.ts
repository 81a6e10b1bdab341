import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVigilError } from '../../shared/errors/index.js';
import { loadCloudConfig } from '../config.js';
import { sqliteBackend } from './support/backends.js';
import { pairTestBox } from './support/box.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';

describe('collector server', () => {
  let t: TestCloud;
  beforeAll(async () => {
    t = await startTestCloud(sqliteBackend);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers health and readiness', async () => {
    expect(await (await fetch(t.url + '/healthz')).json()).toEqual({ status: 'ok' });
    const ready = await fetch(t.url + '/readyz');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', blobs: 'ok' } });
  });

  it('echoes a caller request id and makes one otherwise, in headers and error bodies', async () => {
    const given = await fetch(t.url + '/v1/events', { headers: { 'x-request-id': 'trace-42.a' } });
    expect(given.headers.get('x-request-id')).toBe('trace-42.a');
    expect(((await given.json()) as { error: { request_id: string } }).error.request_id).toBe('trace-42.a');
    const made = await fetch(t.url + '/healthz', { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(made.headers.get('x-request-id')).toMatch(/^req_[0-9A-Z]{26}$/);
  });

  it('answers unknown routes with the error shape', async () => {
    const res = await t.api('/v1/nothing-here');
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { code: string; message: string; request_id: string } };
    expect(body.error).toMatchObject({ code: 'not_found', request_id: res.headers.get('x-request-id') });
    expect(body.error.message).toContain('/v1/nothing-here');
  });

  it('maps malformed and oversized bodies to stable codes', async () => {
    const bad = await t.api('/v1/pairing-codes', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
    const unknownField = await t.api('/v1/pairing-codes', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"nmae":"x"}',
    });
    expect(unknownField.status).toBe(400);
    expect(((await unknownField.json()) as { error: { message: string } }).error.message).toContain('body/nmae');
    const big = await fetch(t.url + '/v1/pair', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ v: 1, code: 'x', pad: 'y'.repeat(40_000) }),
    });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
  });

  it('exposes Prometheus metrics', async () => {
    const box = await pairTestBox(t);
    await box.send(box.event());
    const res = await fetch(t.url + '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const text = await res.text();
    expect(text).toContain('# TYPE vigil_http_requests_total counter');
    expect(text).toMatch(/vigil_http_requests_total\{method="GET",route="\/healthz",status="200"\} \d+/);
    expect(text).toMatch(/vigil_http_request_duration_seconds_bucket\{route="\/healthz",le="\+Inf"\} \d+/);
    expect(text).toMatch(/vigil_ingest_total\{kind="events_stored"\} [1-9]/);
    expect(text).toContain('vigil_sse_clients 0');
  });
});

describe('readiness', () => {
  it('fails with 503 naming the database once it is closed', async () => {
    const t = await startTestCloud(sqliteBackend);
    try {
      await t.cloud.store.close();
      const res = await fetch(t.url + '/readyz');
      expect(res.status).toBe(503);
      const body = (await res.json()) as {
        error: { code: string; message: string; details: { checks: Record<string, string> } };
      };
      expect(body.error.code).toBe('service_unavailable');
      expect(body.error.details.checks.blobs).toBe('ok');
      expect(body.error.details.checks.database).toMatch(/service_unavailable/);
      // The API degrades to 503 as well, not 500.
      expect((await t.api('/v1/events')).status).toBe(503);
    } finally {
      await t.close();
    }
  });

  it('closes gracefully: close() resolves and the port stops answering', async () => {
    const t = await startTestCloud(sqliteBackend);
    const stream = await t.api('/v1/events/stream');
    expect(stream.status).toBe(200);
    await t.close();
    await expect(fetch(t.url + '/healthz')).rejects.toThrow();
  });
});

describe('config', () => {
  it('merges defaults, file, environment and flags, and rejects unknown keys with their place', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-cfg-'));
    try {
      const file = join(dir, 'cloud.yaml');
      writeFileSync(file, 'server:\n  port: 9000\nstatus:\n  offline_after: 2m\n');
      const { config } = loadCloudConfig({
        file,
        env: { VIGIL_CLOUD__SERVER__HOST: '127.0.0.1', VIGIL_CLOUD__DATABASE__URL: 'postgres://x@y/z' },
        overrides: { data_dir: dir },
      });
      expect(config.server).toMatchObject({ port: 9000, host: '127.0.0.1' });
      expect(config.database.url).toBe('postgres://x@y/z');
      expect(config.status.offline_after).toBe('2m');
      expect(config.data_dir).toBe(dir);
      expect(config.ingest.clock_tolerance_s).toBe(300);
      expect(config.blob.kind).toBe('fs');
      writeFileSync(file, 'server:\n  prot: 9000\n');
      let message = '';
      try {
        loadCloudConfig({ file, env: {} });
      } catch (err) {
        expect(isVigilError(err, 'config_invalid')).toBe(true);
        message = (err as Error).message;
      }
      expect(message).toContain('server.prot');
      expect(message).toContain(':2');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
