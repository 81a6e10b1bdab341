import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqliteBackend } from './support/backends.js';
import { fakeJpeg, pairTestBox, type TestBox } from './support/box.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';

describe('app tokens and tenants', () => {
  let t: TestCloud;
  let box: TestBox;
  let eventId: string;

  beforeAll(async () => {
    t = await startTestCloud(sqliteBackend);
    box = await pairTestBox(t, 'garage');
    eventId = await box.eventWithThumbnail(fakeJpeg());
  });
  afterAll(async () => {
    await t?.close();
  });

  const routes = (): Array<[string, string]> => [
    ['GET', '/v1/events'],
    ['GET', `/v1/events/${eventId}`],
    ['GET', `/v1/events/${eventId}/thumbnail`],
    ['GET', '/v1/events/stream'],
    ['GET', '/v1/stats'],
    ['GET', '/v1/devices'],
    ['GET', `/v1/devices/${box.deviceId}`],
    ['DELETE', `/v1/devices/${box.deviceId}`],
    ['POST', `/v1/devices/${box.deviceId}/keys`],
    ['DELETE', `/v1/devices/${box.deviceId}/keys/k_x`],
    ['POST', '/v1/pairing-codes'],
    ['GET', '/v1/pairing-codes'],
    ['DELETE', '/v1/pairing-codes/ABCD-EFGH'],
  ];

  it('answers 401 unauthorized on every app endpoint without valid credentials', async () => {
    for (const [method, path] of routes()) {
      for (const auth of [undefined, 'Bearer vgt_nope', 'Basic abc', `Bearer vgt_${'A'.repeat(43)}`]) {
        const res = await fetch(t.url + path, { method, headers: auth ? { authorization: auth } : {} });
        expect(res.status, `${method} ${path} with ${auth}`).toBe(401);
        const body = (await res.json()) as { error: { code: string; request_id: string } };
        expect(body.error.code).toBe('unauthorized');
        expect(body.error.request_id).toBeTruthy();
      }
    }
    for (const open of ['/healthz', '/readyz', '/metrics']) expect((await fetch(t.url + open)).status, open).toBe(200);
  });

  it('keeps reader tokens to reading (403 forbidden for admin actions)', async () => {
    expect((await t.api('/v1/events', { token: t.tokens.reader })).status).toBe(200);
    expect((await t.api('/v1/devices', { token: t.tokens.reader })).status).toBe(200);
    for (const [method, path] of [
      ['POST', '/v1/pairing-codes'],
      ['GET', '/v1/pairing-codes'],
      ['DELETE', `/v1/devices/${box.deviceId}`],
      ['POST', `/v1/devices/${box.deviceId}/keys`],
    ] as const) {
      const res = await t.api(path, { method, token: t.tokens.reader });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    }
  });

  it('answers 404, never 403, for another tenant objects', async () => {
    const token = t.tokens.otherTenant; // admin of tenant "acme"
    for (const [method, path] of [
      ['GET', `/v1/events/${eventId}`],
      ['GET', `/v1/events/${eventId}/thumbnail`],
      ['GET', `/v1/devices/${box.deviceId}`],
      ['DELETE', `/v1/devices/${box.deviceId}`],
      ['POST', `/v1/devices/${box.deviceId}/keys`],
    ] as const) {
      const res = await t.api(path, { method, token });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
    }
    const list = (await (await t.api('/v1/events', { token })).json()) as { events: unknown[] };
    expect(list.events).toEqual([]);
    const devices = (await (await t.api('/v1/devices', { token })).json()) as { devices: unknown[] };
    expect(devices.devices).toEqual([]);
    const stats = (await (await t.api('/v1/stats', { token })).json()) as { total: number };
    expect(stats.total).toBe(0);
    // A code made by one tenant cannot be revoked by another.
    const created = (await (
      await t.api('/v1/pairing-codes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    ).json()) as { code: string };
    expect((await t.api(`/v1/pairing-codes/${created.code}`, { method: 'DELETE', token })).status).toBe(404);
    expect((await t.api(`/v1/pairing-codes/${created.code}`, { method: 'DELETE' })).status).toBe(200);
  });

  it('pairs a box into the tenant of the token that made the code', async () => {
    const acmeBox = await pairTestBox(t, 'acme-box', t.tokens.otherTenant);
    expect((await acmeBox.send(acmeBox.event({ label: 'fox' }))).status).toBe(200);
    const mine = (await (await t.api('/v1/events?label=fox')).json()) as { events: unknown[] };
    expect(mine.events).toEqual([]);
    const theirs = (await (await t.api('/v1/events?label=fox', { token: t.tokens.otherTenant })).json()) as {
      events: unknown[];
    };
    expect(theirs.events).toHaveLength(1);
  });

  it('stops accepting a revoked token', async () => {
    const { createApiToken } = await import('../auth/tokens.js');
    const { token, record } = await createApiToken(t.cloud.store, {
      tenantId: 'default',
      name: 'temp',
      role: 'reader',
    });
    expect((await t.api('/v1/events', { token })).status).toBe(200);
    expect(await t.cloud.store.revokeApiToken('default', record.id, Date.now())).toBe(true);
    expect((await t.api('/v1/events', { token })).status).toBe(401);
  });
});
