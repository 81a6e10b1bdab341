import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock/index.js';
import { isVigilError } from '../../shared/errors/index.js';
import { parseHttpSignature, sha256Hex, signHttpRequest, type DeviceCredentials } from '../../shared/signing/index.js';
import { DeviceVerifier } from '../verify/index.js';
import { MemorySink } from './support-ingest/memory-sink.js';

const body = Buffer.from('{"v":1}');

function message(creds: DeviceCredentials, clock: ManualClock, o: { nonce?: string; path?: string } = {}) {
  const path = o.path ?? `/v1/devices/${creds.deviceId}/events`;
  const headers = Object.fromEntries(
    Object.entries(signHttpRequest(creds, 'POST', path, body, { clock, ...(o.nonce ? { nonce: o.nonce } : {}) })).map(
      ([k, v]) => [k.toLowerCase(), v],
    ),
  );
  return parseHttpSignature(headers, 'POST', path, sha256Hex(body));
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return isVigilError(err) ? err.code : String(err);
  }
}

describe('DeviceVerifier', () => {
  it('returns the matching key as credentials and the skew; notes contact at most once per interval', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const sink = new MemorySink();
    const dev = sink.addDevice();
    const v = new DeviceVerifier({ sink, clock, contactIntervalMs: 10_000 });
    const deviceClock = new ManualClock(clock.now() + 42_000);
    const ok = await v.verify(message(dev, deviceClock), 'http');
    expect(ok.skewS).toBe(42);
    expect(ok.credentials).toEqual(dev);
    await v.verify(message(dev, clock), 'http');
    clock.advance(10_000);
    await v.verify(message(dev, clock), 'mqtt');
    await new Promise((r) => setImmediate(r));
    expect(sink.contacts.map((c) => [c.contact.transport, c.contact.skewS])).toEqual([
      ['http', 42],
      ['mqtt', 0],
    ]);
  });

  it('accepts either active key during rotation, and signs replies with the one that matched', async () => {
    const clock = new ManualClock();
    const sink = new MemorySink();
    const dev = sink.addDevice();
    const next = { keyId: 'k2', secret: randomBytes(32) };
    sink.devices.get(dev.deviceId)!.keys.push(next);
    const v = new DeviceVerifier({ sink, clock });
    // Signed with the new key but naming the old key id: still accepted (the id is a hint, not signed).
    const r = await v.verify(message({ ...dev, secret: next.secret }, clock), 'http');
    expect(r.credentials.keyId).toBe('k2');
  });

  it('uses the configured tolerance and the sink nonce store (shared replay window)', async () => {
    const clock = new ManualClock();
    const sink = new MemorySink(clock);
    const dev = sink.addDevice();
    const strict = new DeviceVerifier({ sink, clock, toleranceS: 10 });
    expect(await code(strict.verify(message(dev, new ManualClock(clock.now() - 11_000)), 'http'))).toBe(
      'timestamp_out_of_tolerance',
    );
    expect(await code(strict.verify(message(dev, new ManualClock(clock.now() - 10_000)), 'http'))).toBe('ok');
    const m = message(dev, clock, { nonce: 'shared-nonce-1' });
    expect(await code(strict.verify(m, 'http'))).toBe('ok');
    // A second collector over the same sink sees the nonce.
    const other = new DeviceVerifier({ sink, clock, toleranceS: 10 });
    expect(await code(other.verify(m, 'http'))).toBe('nonce_replayed');
    expect(sink.nonces.get(`${dev.deviceId}|shared-nonce-1`)).toBe((Math.floor(clock.now() / 1000) + 11) * 1000);
  });

  it('deferNonce reject: the storing claim is the one replay check (no lookup); allow looks the nonce up', async () => {
    const clock = new ManualClock();
    const sink = new MemorySink(clock);
    const dev = sink.addDevice();
    expect(await sink.rememberNonce(dev.deviceId, 'deferred-nonce-1', clock.now() + 60_000)).toBe(true);
    let lookups = 0;
    const recorded = sink.nonceRecorded.bind(sink);
    sink.nonceRecorded = (deviceId, nonce) => {
      lookups++;
      return recorded(deviceId, nonce);
    };
    const v = new DeviceVerifier({ sink, clock });
    const m = message(dev, clock, { nonce: 'deferred-nonce-1' });
    // Nothing recorded by verify itself: the claim comes back for the store's transaction, which refuses the replay.
    const r = await v.verify(m, 'http', { deferNonce: 'reject' });
    expect([r.nonce?.nonce, r.nonce?.onReplay, lookups]).toEqual(['deferred-nonce-1', 'reject', 0]);
    expect(await code(v.verify(m, 'mqtt', { deferNonce: 'allow' }))).toBe('nonce_replayed');
    expect(lookups).toBe(1);
  });

  it('authenticateStale recognises a genuine but stale message and nothing forged', async () => {
    const clock = new ManualClock();
    const sink = new MemorySink();
    const dev = sink.addDevice();
    const v = new DeviceVerifier({ sink, clock });
    const stale = message(dev, new ManualClock(clock.now() - 3_600_000));
    expect(await code(v.verify(stale, 'mqtt'))).toBe('timestamp_out_of_tolerance');
    expect((await v.authenticateStale(stale))?.keyId).toBe(dev.keyId);
    expect(await v.authenticateStale(message({ ...dev, secret: randomBytes(32) }, clock))).toBeUndefined();
    expect(await v.authenticateStale({ ...stale, actualSha256: sha256Hex('other') })).toBeUndefined();
    sink.revoke(dev.deviceId);
    expect(await v.authenticateStale(stale)).toBeUndefined();
  });
});
