import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock/index.js';
import { isVigilError } from '../errors/index.js';
import {
  deviceIdInPath,
  MemoryNonceCache,
  parseHttpSignature,
  parseMqttEnvelope,
  sha256Hex,
  signHttpRequest,
  signMqttMessage,
  SigningErrorCode,
  verifySignedMessage,
  type DeviceKey,
  type SignedMessage,
} from '../signing/index.js';

const T0 = Date.UTC(2026, 0, 1, 12);
const DEV = 'dev_01JGZ5ZQ7P4M3N2K1H0G9F8E7D';
const OTHER = 'dev_01JGZ63E7Z5B1X9V8T6S4R2Q0P';
const K1: DeviceKey = { keyId: 'k1', secret: Buffer.alloc(32, 1) };
const K2: DeviceKey = { keyId: 'k2', secret: Buffer.alloc(32, 2) };
const K3: DeviceKey = { keyId: 'k3', secret: Buffer.alloc(32, 3) };
const PATH = `/v1/devices/${DEV}/events`;
const BODY = Buffer.from('{"v":1}');

function lower(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | null> {
  try {
    await (typeof p === 'function' ? p() : p);
    return null;
  } catch (err) {
    if (isVigilError(err)) return err.code;
    throw err;
  }
}

function setup(keys: DeviceKey[] = [K1]) {
  const clock = new ManualClock(T0);
  const nonces = new MemoryNonceCache(clock);
  const verify = (msg: SignedMessage, toleranceS?: number) =>
    verifySignedMessage(msg, {
      keys: (id) => (id === DEV ? keys : undefined),
      nonces,
      clock,
      ...(toleranceS === undefined ? {} : { toleranceS }),
    });
  return { clock, nonces, verify };
}

describe('HTTP signing round trip', () => {
  it('parseHttpSignature(signHttpRequest(…)) verifies, with Node-style lower-case headers or as sent', async () => {
    const { clock, verify } = setup();
    const headers = signHttpRequest({ deviceId: DEV, ...K1 }, 'post', PATH, BODY, { clock });
    expect(headers['X-Vigil-Signature']).toMatch(/^v1=[A-Za-z0-9+/]{43}=$/);
    expect(headers['X-Vigil-Nonce']).toMatch(/^[A-Za-z0-9_-]{22}$/);
    for (const h of [lower(headers), headers]) {
      const msg = parseHttpSignature(h, 'POST', PATH, sha256Hex(BODY));
      expect(msg.method).toBe('POST');
      expect(msg.timestamp).toBe(T0 / 1000);
      if (h === headers) continue; // the same nonce twice would be a replay
      await expect(verify(msg)).resolves.toMatchObject({ deviceId: DEV, keyId: 'k1', skewS: 0 });
    }
  });

  it('each missing header gives signature_missing naming it', async () => {
    const headers = lower(
      signHttpRequest({ deviceId: DEV, ...K1 }, 'POST', PATH, BODY, { timestamp: T0 / 1000, nonce: 'abcdefgh12' }),
    );
    for (const name of Object.keys(headers)) {
      const { [name]: _gone, ...rest } = headers;
      const err = await codeOf(() => parseHttpSignature(rest, 'POST', PATH, sha256Hex(BODY)));
      expect(err, name).toBe(SigningErrorCode.missing);
    }
    try {
      parseHttpSignature({}, 'POST', PATH, sha256Hex(BODY));
    } catch (err) {
      expect(String((err as Error).message)).toContain('X-Vigil-Content-SHA256');
    }
  });

  it('malformed headers give signature_malformed', async () => {
    const good = lower(
      signHttpRequest({ deviceId: DEV, ...K1 }, 'POST', PATH, BODY, { timestamp: T0 / 1000, nonce: 'abcdefgh12' }),
    );
    const bad: Array<[string, string]> = [
      ['x-vigil-signature', good['x-vigil-signature']!.slice(3)], // no v1= prefix
      ['x-vigil-signature', 'v2=' + good['x-vigil-signature']!.slice(3)],
      ['x-vigil-signature', 'v1=short'],
      ['x-vigil-timestamp', '1767268800.5'],
      ['x-vigil-timestamp', '-1'],
      ['x-vigil-timestamp', 'Thu, 01 Jan 2026 12:00:00 GMT'],
      ['x-vigil-nonce', 'short'],
      ['x-vigil-nonce', 'has space in it'],
      ['x-vigil-content-sha256', sha256Hex(BODY).toUpperCase()],
      ['x-vigil-content-sha256', 'abc'],
    ];
    for (const [name, value] of bad) {
      expect(
        await codeOf(() => parseHttpSignature({ ...good, [name]: value }, 'POST', PATH, sha256Hex(BODY))),
        `${name}=${value}`,
      ).toBe(SigningErrorCode.malformed);
    }
  });

  it('signs the query string: the same request with another query fails', async () => {
    const { clock, verify } = setup();
    const headers = lower(
      signHttpRequest({ deviceId: DEV, ...K1 }, 'GET', `${PATH}?limit=5`, Buffer.alloc(0), { clock }),
    );
    const msg = parseHttpSignature(headers, 'GET', `${PATH}?limit=500`, sha256Hex(Buffer.alloc(0)));
    expect(await codeOf(verify(msg))).toBe(SigningErrorCode.mismatch);
  });
});

describe('MQTT envelope round trip', () => {
  const topic = `vigil/v1/${DEV}/events`;

  it('parseMqttEnvelope(signMqttMessage(…)) returns the body and verifies', async () => {
    const { clock, verify } = setup();
    const body = Buffer.from([0xff, 0xd8, 0x00, 0x80, 0xff, 0xd9]);
    const env = signMqttMessage({ deviceId: DEV, ...K1 }, topic, body, { clock });
    const { message, body: decoded } = parseMqttEnvelope(Buffer.from(JSON.stringify(env)), topic);
    expect(decoded.equals(body)).toBe(true);
    expect(message).toMatchObject({ method: 'MQTT', path: topic, deviceId: DEV, keyId: 'k1' });
    await expect(verify(message)).resolves.toMatchObject({ deviceId: DEV });
  });

  it('an envelope moved to another topic of the same device fails the signature', async () => {
    const { clock, verify } = setup();
    const env = signMqttMessage({ deviceId: DEV, ...K1 }, topic, BODY, { clock });
    const { message } = parseMqttEnvelope(Buffer.from(JSON.stringify(env)), `vigil/v1/${DEV}/heartbeat`);
    expect(await codeOf(verify(message))).toBe(SigningErrorCode.mismatch);
  });

  it('missing envelope fields → signature_missing; malformed ones → signature_malformed', async () => {
    const env = signMqttMessage({ deviceId: DEV, ...K1 }, topic, BODY, {
      timestamp: T0 / 1000,
      nonce: 'abcdefgh12',
    }) as unknown as Record<string, unknown>;
    for (const f of ['device', 'kid', 'ts', 'nonce', 'sha256', 'sig', 'body_b64']) {
      const copy = { ...env };
      delete copy[f];
      expect(await codeOf(() => parseMqttEnvelope(Buffer.from(JSON.stringify(copy)), topic)), f).toBe(
        SigningErrorCode.missing,
      );
    }
    const bad: Array<Record<string, unknown>> = [
      { v: 2 },
      { ts: '1767268800' },
      { ts: 1.5 },
      { sig: 'x' },
      { body_b64: 'not base64!' },
      { body_b64: 'abc' },
      { nonce: 'a' },
      { device: 7 },
    ];
    for (const patch of bad) {
      expect(
        await codeOf(() => parseMqttEnvelope(Buffer.from(JSON.stringify({ ...env, ...patch })), topic)),
        JSON.stringify(patch),
      ).toBe(SigningErrorCode.malformed);
    }
    expect(await codeOf(() => parseMqttEnvelope(Buffer.from('not json'), topic))).toBe(SigningErrorCode.malformed);
    expect(await codeOf(() => parseMqttEnvelope(Buffer.from('[1,2]'), topic))).toBe(SigningErrorCode.malformed);
  });

  it('an ack the collector signs with the device secret verifies on the device, bound to its topic', async () => {
    const { clock, verify } = setup();
    const ackTopic = `vigil/v1/${DEV}/acks`;
    const env = signMqttMessage({ deviceId: DEV, ...K1 }, ackTopic, BODY, { clock });
    await expect(verify(parseMqttEnvelope(Buffer.from(JSON.stringify(env)), ackTopic).message)).resolves.toMatchObject({
      deviceId: DEV,
    });
    // Forged: another device's key publishing on this device's ack topic.
    const forged = signMqttMessage({ deviceId: OTHER, ...K2 }, ackTopic, BODY, { clock });
    expect(await codeOf(verify(parseMqttEnvelope(Buffer.from(JSON.stringify(forged)), ackTopic).message))).toBe(
      SigningErrorCode.deviceMismatch,
    );
  });
});

describe('verifier rules', () => {
  const sign = (
    keys: DeviceKey,
    opts: { timestamp?: number; nonce?: string; deviceId?: string; path?: string } = {},
  ) => {
    const h = lower(
      signHttpRequest({ deviceId: opts.deviceId ?? DEV, ...keys }, 'POST', opts.path ?? PATH, BODY, {
        timestamp: opts.timestamp ?? T0 / 1000,
        ...(opts.nonce ? { nonce: opts.nonce } : {}),
      }),
    );
    return parseHttpSignature(h, 'POST', opts.path ?? PATH, sha256Hex(BODY));
  };

  it('key rotation: with two active keys a signature by either is accepted and names the matching key', async () => {
    const { verify } = setup([K1, K2]);
    await expect(verify(sign(K1))).resolves.toMatchObject({ keyId: 'k1' });
    await expect(verify(sign(K2))).resolves.toMatchObject({ keyId: 'k2' });
    // A stale key id header still verifies when the secret is another active key.
    const msg = { ...sign(K2), keyId: 'k1' };
    await expect(verify(msg)).resolves.toMatchObject({ keyId: 'k2' });
    expect(await codeOf(verify(sign(K3)))).toBe(SigningErrorCode.mismatch);
  });

  it('a retired key is rejected once it is no longer active', async () => {
    const { verify } = setup([K2]);
    expect(await codeOf(verify(sign(K1)))).toBe(SigningErrorCode.mismatch);
  });

  it('unknown or revoked devices get unknown_device; an empty key list counts as revoked', async () => {
    const clock = new ManualClock(T0);
    const nonces = new MemoryNonceCache(clock);
    const msg = sign(K1);
    expect(await codeOf(verifySignedMessage(msg, { keys: () => undefined, nonces, clock }))).toBe(
      SigningErrorCode.unknownDevice,
    );
    expect(await codeOf(verifySignedMessage(msg, { keys: async () => [], nonces, clock }))).toBe(
      SigningErrorCode.unknownDevice,
    );
  });

  it('tolerance is inclusive and configurable; the error carries the skew and server time', async () => {
    const { verify } = setup();
    await expect(verify(sign(K1, { timestamp: T0 / 1000 - 300 }))).resolves.toMatchObject({ skewS: -300 });
    expect(await codeOf(verify(sign(K1, { timestamp: T0 / 1000 + 301 })))).toBe(SigningErrorCode.timestamp);
    expect(await codeOf(verify(sign(K1, { timestamp: T0 / 1000 - 61 }), 60))).toBe(SigningErrorCode.timestamp);
    try {
      await verify(sign(K1, { timestamp: 0 }));
      expect.unreachable();
    } catch (err) {
      expect(isVigilError(err, SigningErrorCode.timestamp)).toBe(true);
      expect((err as { status: number }).status).toBe(401);
      expect((err as { details: Record<string, unknown> }).details).toMatchObject({
        skew_s: -(T0 / 1000),
        server_time: T0 / 1000,
        reason: 'expired',
      });
    }
  });

  it('a forged message does not poison the nonce cache: the genuine message with that nonce still passes', async () => {
    const { verify, nonces } = setup();
    const genuine = sign(K1, { nonce: 'shared-nonce-1' });
    const forged = sign(K3, { nonce: 'shared-nonce-1' });
    expect(await codeOf(verify(forged))).toBe(SigningErrorCode.mismatch);
    expect(nonces.size).toBe(0);
    await expect(verify(genuine)).resolves.toMatchObject({ deviceId: DEV });
    expect(await codeOf(verify(genuine))).toBe(SigningErrorCode.replay);
  });

  it('nonce cache: a nonce expires at timestamp + tolerance + 1 s, when the timestamp check takes over', async () => {
    const clock = new ManualClock(T0);
    const cache = new MemoryNonceCache(clock);
    const exp = T0 + 301_000;
    expect(cache.remember(DEV, 'n-12345678', exp)).toBe(true);
    expect(cache.remember(DEV, 'n-12345678', exp)).toBe(false);
    expect(cache.remember(OTHER, 'n-12345678', exp)).toBe(true); // per device
    clock.set(exp - 1);
    expect(cache.remember(DEV, 'n-12345678', exp)).toBe(false);
    clock.set(exp);
    expect(cache.remember(DEV, 'n-12345678', exp + 10_000)).toBe(true);
    // Sweeping drops expired entries once a minute has passed.
    clock.advance(120_000);
    cache.remember(DEV, 'other-nonce', clock.now() + 1000);
    expect(cache.size).toBe(1);
  });

  it('a replay after the window is rejected by the timestamp, not accepted because the nonce expired', async () => {
    const { clock, verify } = setup();
    const msg = sign(K1, { nonce: 'replay-me-1' });
    await verify(msg);
    clock.advance(301_000);
    expect(await codeOf(verify(msg))).toBe(SigningErrorCode.timestamp);
  });
});

describe('path/topic → device binding', () => {
  it('finds the device in HTTP paths (with or without query) and topics', () => {
    expect(deviceIdInPath(`/v1/devices/${DEV}/events`)).toBe(DEV);
    expect(deviceIdInPath(`/v1/devices/${DEV}?x=1`)).toBe(DEV);
    expect(deviceIdInPath(`vigil/v1/${DEV}/thumbnails/evt_x`)).toBe(DEV);
    expect(deviceIdInPath('/v1/pair')).toBeUndefined();
  });

  it('does not throw on a malformed percent-escape in a path (the raw segment is compared)', async () => {
    expect(deviceIdInPath('/v1/devices/%E0%A4%A/events')).toBe('%E0%A4%A');
    const { verify } = setup();
    const h = lower(
      signHttpRequest({ deviceId: DEV, ...K1 }, 'POST', '/v1/devices/%E0%A4%A/events', BODY, { timestamp: T0 / 1000 }),
    );
    expect(await codeOf(verify(parseHttpSignature(h, 'POST', '/v1/devices/%E0%A4%A/events', sha256Hex(BODY))))).toBe(
      SigningErrorCode.deviceMismatch,
    );
  });

  it("does not percent-decode MQTT topics: vigil/v1/dev%5FA/… is not dev_A's topic", async () => {
    expect(deviceIdInPath('vigil/v1/dev%5FA/events')).toBe('dev%5FA');
    const clock = new ManualClock(T0);
    const env = signMqttMessage({ deviceId: 'dev_A', ...K1 }, 'vigil/v1/dev%5FA/events', BODY, { clock });
    const { message } = parseMqttEnvelope(Buffer.from(JSON.stringify(env)), 'vigil/v1/dev%5FA/events');
    const code = await codeOf(
      verifySignedMessage(message, { keys: () => [K1], nonces: new MemoryNonceCache(clock), clock }),
    );
    expect(code).toBe(SigningErrorCode.deviceMismatch);
  });
});
