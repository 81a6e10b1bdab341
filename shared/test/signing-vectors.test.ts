import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../clock/index.js';
import { isVigilError } from '../errors/index.js';
import {
  computeSignature,
  MemoryNonceCache,
  parseHttpSignature,
  parseMqttEnvelope,
  sha256Hex,
  signHttpRequest,
  signMqttMessage,
  stringToSign,
  verifySignedMessage,
  type SignedMessage,
} from '../signing/index.js';
import { VECTORS_FILE, vectorsText, type SigningVector } from '../../firmware-protocol/vectors/generate.js';

const vectors = JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as SigningVector[];
const FIELD_ORDER = [
  'name',
  'secret_b64',
  'method',
  'path',
  'device_id',
  'timestamp',
  'nonce',
  'body_b64',
  'expected_signature',
  'now',
  'valid',
  'reason',
  'presented_signature',
  'content_sha256',
];

const body = (v: SigningVector): Buffer => Buffer.from(v.body_b64, 'base64');
const secret = (v: SigningVector): Buffer => Buffer.from(v.secret_b64, 'base64');
const fields = (v: SigningVector) => ({
  timestamp: v.timestamp,
  nonce: v.nonce,
  method: v.method,
  path: v.path,
  deviceId: v.device_id,
  bodySha256: sha256Hex(body(v)),
});

describe('signing test vectors (firmware-protocol/vectors/signing.json)', () => {
  it('are what the generator makes of its fixed inputs (run `npm run protocol:export` after changing them)', () => {
    expect(readFileSync(VECTORS_FILE, 'utf8')).toBe(vectorsText());
  });

  it('have exactly the documented fields, in order, and cover every required case', () => {
    for (const v of vectors) expect(Object.keys(v)).toEqual(FIELD_ORDER);
    const reasons = new Set(vectors.map((v) => v.reason));
    for (const r of [
      'body_hash_mismatch',
      'signature_mismatch',
      'timestamp_out_of_tolerance',
      'device_mismatch',
      'nonce_replayed',
    ])
      expect(reasons).toContain(r);
    expect(vectors.some((v) => v.valid && v.method === 'MQTT')).toBe(true);
    expect(vectors.some((v) => v.valid && v.body_b64 === '')).toBe(true);
    expect(vectors.some((v) => v.valid && v.path.includes('?'))).toBe(true);
    expect(vectors.some((v) => v.valid && v.method === 'PUT' && body(v)[0] === 0xff && body(v)[1] === 0xd8)).toBe(true);
    expect(vectors.filter((v) => v.valid).length).toBeGreaterThan(5);
    for (const v of vectors) expect(v.valid).toBe(v.reason === null);
  });

  it('computeSignature reproduces every expected_signature', () => {
    for (const v of vectors) expect(computeSignature(secret(v), fields(v)), v.name).toBe(v.expected_signature);
  });

  it('signHttpRequest and signMqttMessage reproduce every expected_signature on the wire', () => {
    for (const v of vectors) {
      const creds = { deviceId: v.device_id, keyId: 'k1', secret: secret(v) };
      if (v.method === 'MQTT') {
        const env = signMqttMessage(creds, v.path, body(v), { nonce: v.nonce, timestamp: v.timestamp });
        expect(env.sig, v.name).toBe(v.expected_signature);
        expect(env.body_b64).toBe(v.body_b64);
        expect(env.ts).toBe(v.timestamp);
      } else {
        const h = signHttpRequest(creds, v.method, v.path, body(v), { nonce: v.nonce, timestamp: v.timestamp });
        expect(h['X-Vigil-Signature'], v.name).toBe(`v1=${v.expected_signature}`);
        expect(h['X-Vigil-Content-SHA256']).toBe(sha256Hex(body(v)));
        expect(h['X-Vigil-Timestamp']).toBe(String(v.timestamp));
      }
    }
  });

  it('in order with one nonce cache: the valid vectors verify, the rest fail with exactly their reason', async () => {
    const clock = new ManualClock();
    const nonces = new MemoryNonceCache(clock);
    const verdicts: Array<[string, string | null]> = [];
    for (const v of vectors) {
      clock.set(v.now * 1000);
      const msg: SignedMessage = {
        deviceId: v.device_id,
        keyId: 'k1',
        timestamp: v.timestamp,
        nonce: v.nonce,
        method: v.method,
        path: v.path,
        claimedSha256: v.content_sha256,
        signature: v.presented_signature,
        actualSha256: sha256Hex(body(v)),
      };
      const keys = (id: string) => (id === v.device_id ? [{ keyId: 'k1', secret: secret(v) }] : undefined);
      try {
        const ok = await verifySignedMessage(msg, { keys, nonces, clock });
        expect(ok.deviceId).toBe(v.device_id);
        expect(ok.skewS).toBe(v.timestamp - v.now);
        verdicts.push([v.name, null]);
      } catch (err) {
        if (!isVigilError(err)) throw err;
        verdicts.push([v.name, err.code]);
      }
    }
    expect(verdicts).toEqual(vectors.map((v) => [v.name, v.reason]));
  });

  it('the vectors verify through the transports: HTTP headers and MQTT envelopes built from wire values', async () => {
    const clock = new ManualClock();
    const nonces = new MemoryNonceCache(clock);
    for (const v of vectors) {
      clock.set(v.now * 1000);
      let msg: SignedMessage;
      if (v.method === 'MQTT') {
        const env = {
          v: 1,
          device: v.device_id,
          kid: 'k1',
          ts: v.timestamp,
          nonce: v.nonce,
          sha256: v.content_sha256,
          sig: v.presented_signature,
          body_b64: v.body_b64,
        };
        msg = parseMqttEnvelope(Buffer.from(JSON.stringify(env)), v.path).message;
      } else {
        const headers = {
          'x-vigil-device': v.device_id,
          'x-vigil-key-id': 'k1',
          'x-vigil-timestamp': String(v.timestamp),
          'x-vigil-nonce': v.nonce,
          'x-vigil-content-sha256': v.content_sha256,
          'x-vigil-signature': `v1=${v.presented_signature}`,
        };
        msg = parseHttpSignature(headers, v.method, v.path, sha256Hex(body(v)));
      }
      const keys = (id: string) => (id === v.device_id ? [{ keyId: 'k1', secret: secret(v) }] : undefined);
      const outcome = await verifySignedMessage(msg, { keys, nonces, clock }).then(
        () => null,
        (err: unknown) => (isVigilError(err) ? err.code : 'thrown'),
      );
      expect(outcome, v.name).toBe(v.reason);
    }
  });

  it('the string to sign of the worked example in PROTOCOL.md is the one the signer builds', () => {
    const v = vectors.find((x) => x.name === 'http-post-event-json')!;
    const doc = readFileSync(new URL('../../firmware-protocol/PROTOCOL.md', import.meta.url), 'utf8');
    expect(doc).toContain('```\n' + stringToSign(fields(v)) + '\n```');
    expect(doc).toContain(v.expected_signature);
    expect(doc).toContain(body(v).toString('utf8'));
    expect(doc).toContain(`body (${body(v).length} bytes`);
  });
});
