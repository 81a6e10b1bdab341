import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validatePairingResponse } from '../../firmware-protocol/messages.js';
import { codeDigest, createPairingCode, normalizeCode } from '../pairing/codes.js';
import { deviceKeyContext, loadSecretsKey, SecretBox, SECRETS_KEY_FILE } from '../pairing/secret-box.js';
import { sqliteBackend, testBackends } from './support/backends.js';
import { TestBox } from './support/box.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';

const backends = await testBackends();

describe('secret box', () => {
  it('seals so that only the same key and the same device/key id open it', () => {
    const box = new SecretBox(randomBytes(32));
    const secret = randomBytes(32);
    const sealed = box.seal(secret, deviceKeyContext('dev_A', 'k1'));
    expect(sealed).not.toContain(secret.toString('base64'));
    expect(sealed).not.toContain(secret.toString('base64url'));
    expect(box.open(sealed, deviceKeyContext('dev_A', 'k1')).equals(secret)).toBe(true);
    expect(() => box.open(sealed, deviceKeyContext('dev_B', 'k1'))).toThrow(/cannot open/);
    expect(() => new SecretBox(randomBytes(32)).open(sealed, deviceKeyContext('dev_A', 'k1'))).toThrow(
      /wrong secrets key/,
    );
  });

  it('generates the key file once, owner-only, and reuses it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-key-'));
    try {
      const a = loadSecretsKey(undefined, dir);
      const b = loadSecretsKey(undefined, dir);
      expect(a.equals(b)).toBe(true);
      expect(a.length).toBe(32);
      expect(statSync(join(dir, SECRETS_KEY_FILE)).mode & 0o777).toBe(0o600);
      const configured = randomBytes(32);
      expect(loadSecretsKey(configured.toString('base64'), dir).equals(configured)).toBe(true);
      expect(() => loadSecretsKey(Buffer.alloc(16).toString('base64'), dir)).toThrow(/32 bytes/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('normalises codes so case and dashes do not matter', () => {
    expect(normalizeCode('k7qx-m2pd')).toBe('K7QXM2PD');
    const box = new SecretBox(randomBytes(32));
    expect(codeDigest(box, 'k7qx-m2pd')).toBe(codeDigest(box, 'K7QXM2PD'));
    // Keyed: another server key gives another stored form.
    expect(codeDigest(new SecretBox(randomBytes(32)), 'K7QXM2PD')).not.toBe(codeDigest(box, 'K7QXM2PD'));
  });
});

describe.each(backends)('pairing on $name', (backend) => {
  let t: TestCloud;
  beforeAll(async () => {
    t = await startTestCloud(backend, {
      overrides: { pairing: { attempts_burst: 1000, mqtt_url: 'mqtt://broker.example:1883' } },
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  const newCode = async (
    body: Record<string, unknown> = {},
  ): Promise<{ code: string; id: string; expires_at: string; state: string }> => {
    const res = await t.api('/v1/pairing-codes', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { code: string; id: string; expires_at: string; state: string };
  };
  const pair = (code: string, extra: Record<string, unknown> = {}): Promise<Response> =>
    fetch(t.url + '/v1/pair', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ v: 1, code, ...extra }),
    });
  const errorCode = async (res: Response): Promise<string> =>
    ((await res.json()) as { error: { code: string } }).error.code;

  it('exchanges a code once for a protocol PairingResponse whose key signs', async () => {
    const { code, state } = await newCode({ name: 'garage', ttl: '10m' });
    expect(code).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}$/);
    expect(state).toBe('pending');
    const res = await pair(code.toLowerCase().replace('-', ''), { hardware: 'rpi5' });
    expect(res.status).toBe(200);
    const body = validatePairingResponse.parse(await res.json());
    expect(body.endpoints).toEqual({ https: t.url, mqtt: 'mqtt://broker.example:1883' });
    expect(body.topics.prefix).toBe(`vigil/v1/${body.device_id}`);
    expect(Math.abs(Date.parse(body.server_time) - Date.now())).toBeLessThan(60_000);
    const box = new TestBox(t, {
      deviceId: body.device_id,
      keyId: body.key_id,
      secret: Buffer.from(body.secret_b64, 'base64'),
    });
    expect((await box.send(box.event())).status).toBe(200);
    const device = (await (await t.api(`/v1/devices/${body.device_id}`)).json()) as {
      name: string;
      keys: Array<{ key_id: string; status: string }>;
    };
    expect(device.name).toBe('garage');
    expect(device.keys).toEqual([expect.objectContaining({ key_id: body.key_id, status: 'active' })]);

    const again = await pair(code);
    expect(again.status).toBe(409);
    expect(await errorCode(again)).toBe('pairing_code_used');
    const listed = (await (await t.api('/v1/pairing-codes')).json()) as {
      pairing_codes: Array<Record<string, unknown>>;
    };
    expect(listed.pairing_codes.find((c) => c.device_id === body.device_id)).toMatchObject({
      state: 'used',
      name: 'garage',
    });
    expect(JSON.stringify(listed)).not.toContain(code);
  });

  it('never stores the device secret in the clear', async () => {
    const { code } = await newCode();
    const body = (await (await pair(code)).json()) as { device_id: string; secret_b64: string };
    const keys = await t.cloud.store.activeDeviceKeys(body.device_id);
    const sealed = keys?.[0]?.secretSealed ?? '';
    const secret = Buffer.from(body.secret_b64, 'base64');
    expect(sealed).toMatch(/^v1\./);
    for (const form of [secret.toString('base64'), secret.toString('base64url'), secret.toString('hex')])
      expect(sealed).not.toContain(form);
    // A database dump without the server key cannot recover it.
    expect(() =>
      new SecretBox(randomBytes(32)).open(sealed, deviceKeyContext(body.device_id, keys![0]!.keyId)),
    ).toThrow();
  });

  it('answers unknown 400, revoked 400, expired 410 and malformed requests 400', async () => {
    const unknown = await pair('ZZZZ-ZZZZ');
    expect([unknown.status, await errorCode(unknown)]).toEqual([400, 'pairing_code_invalid']);
    const revoked = await newCode();
    expect((await t.api(`/v1/pairing-codes/${revoked.code}`, { method: 'DELETE' })).status).toBe(200);
    const r = await pair(revoked.code);
    expect([r.status, await errorCode(r)]).toEqual([400, 'pairing_code_invalid']);
    const past = Date.now() - 3_600_000;
    const { code: old } = await createPairingCode(t.cloud.store, t.cloud.secrets, {
      tenantId: 'default',
      ttlMs: 60_000,
      now: past,
    });
    const expired = await pair(old);
    expect([expired.status, await errorCode(expired)]).toEqual([410, 'pairing_code_expired']);
    const bad = await pair('not a code');
    expect(bad.status).toBe(400);
    const badBody = (await bad.json()) as { error: { code: string; message: string } };
    expect(badBody.error.code).toBe('invalid_message');
    expect(badBody.error.message).toContain('/code');
    const ttl = await t.api('/v1/pairing-codes', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ttl: '30d' }),
    });
    expect(ttl.status).toBe(400);
  });

  it('lets exactly one of many simultaneous exchanges of a code win', async () => {
    const { code } = await newCode();
    const results = await Promise.all(Array.from({ length: 6 }, () => pair(code)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 409, 409, 409, 409, 409]);
    await Promise.all(results.map((r) => r.arrayBuffer()));
  });

  it('rotates keys: two active, the oldest retired by a third, revocation ends signing', async () => {
    const { code } = await newCode({ name: 'rotating' });
    const first = (await (await pair(code)).json()) as { device_id: string; key_id: string; secret_b64: string };
    const id = first.device_id;
    const k1 = new TestBox(t, { deviceId: id, keyId: first.key_id, secret: Buffer.from(first.secret_b64, 'base64') });
    const rotate = async (): Promise<TestBox> => {
      const res = await t.api(`/v1/devices/${id}/keys`, { method: 'POST' });
      expect(res.status).toBe(201);
      const body = (await res.json()) as { key_id: string; secret_b64: string };
      return new TestBox(t, { deviceId: id, keyId: body.key_id, secret: Buffer.from(body.secret_b64, 'base64') });
    };
    const k2 = await rotate();
    expect((await k1.send(k1.event())).status).toBe(200);
    expect((await k2.send(k2.event())).status).toBe(200);
    const k3 = await rotate();
    const old = await k1.send(k1.event());
    expect([old.status, (old.body.error as { code: string }).code]).toEqual([401, 'signature_mismatch']);
    expect((await k3.send(k3.event())).status).toBe(200);
    const keys = (
      (await (await t.api(`/v1/devices/${id}`)).json()) as { keys: Array<{ key_id: string; status: string }> }
    ).keys;
    expect(keys.map((k) => k.status)).toEqual(['retired', 'active', 'active']);

    expect((await t.api(`/v1/devices/${id}/keys/${k2.creds.keyId}`, { method: 'DELETE' })).status).toBe(200);
    expect((await k2.send(k2.event())).status).toBe(401);
    const last = await t.api(`/v1/devices/${id}/keys/${k3.creds.keyId}`, { method: 'DELETE' });
    expect([last.status, await errorCode(last)]).toEqual([409, 'last_active_key']);

    expect((await t.api(`/v1/devices/${id}`, { method: 'DELETE' })).status).toBe(200);
    const after = await k3.send(k3.event());
    expect(after.status).toBe(401);
    expect(['unknown_device', 'device_revoked']).toContain((after.body.error as { code: string }).code);
    const view = (await (await t.api(`/v1/devices/${id}`)).json()) as { state: string; revoked_at: string | null };
    expect(view.state).toBe('revoked');
    expect(view.revoked_at).not.toBeNull();
  });
});

describe('pairing attempt limit', () => {
  it('answers 429 with Retry-After once a client address exceeds its burst', async () => {
    const t = await startTestCloud(sqliteBackend, {
      overrides: { pairing: { attempts_burst: 3, attempts_per_minute: 1 } },
    });
    try {
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 5; i++) {
        const res = await fetch(t.url + '/v1/pair', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ v: 1, code: 'ZZZZ-ZZZZ' }),
        });
        statuses.push(res.status);
        if (res.status === 429) retryAfter = res.headers.get('retry-after');
        await res.arrayBuffer();
      }
      expect(statuses).toEqual([400, 400, 400, 429, 429]);
      expect(Number(retryAfter)).toBeGreaterThan(0);
    } finally {
      await t.close();
    }
  });
});
