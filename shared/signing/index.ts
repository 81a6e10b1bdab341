import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock } from '../clock/index.js';
import { VigilError } from '../../firmware-protocol/errors.js';
import { SigningErrorCode } from './codes.js';

/**
 * Signing scheme v1 (firmware-protocol/PROTOCOL.md, "Signing"): HMAC-SHA256 over a canonical string, per-device
 * secret issued at pairing.
 *
 *   VIGIL-HMAC-SHA256 \n <unix seconds> \n <nonce> \n <METHOD or MQTT> \n <path?query or topic> \n <device id>
 *     \n <hex sha256(body)>
 *
 * Signature = base64 (standard, padded) of HMAC-SHA256(secret bytes, that string). HTTP carries it in X-Vigil-*
 * headers (`X-Vigil-Signature: v1=<base64>`); MQTT wraps the body in a JSON envelope.
 *
 * Verification order: well-formed → device known → timestamp within tolerance → body hash → signature (any active
 * key, constant time) → nonce unseen. The nonce is remembered only once the signature is good, so forged traffic
 * cannot poison the nonce cache.
 */

export const SIGNING_ALGORITHM = 'VIGIL-HMAC-SHA256';
export const SIGNATURE_PREFIX = 'v1=';
export const DEFAULT_TOLERANCE_S = 300;
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

export const HEADER = {
  device: 'x-vigil-device',
  keyId: 'x-vigil-key-id',
  timestamp: 'x-vigil-timestamp',
  nonce: 'x-vigil-nonce',
  contentSha256: 'x-vigil-content-sha256',
  signature: 'x-vigil-signature',
} as const;

export { SigningErrorCode };

export interface SigningFields {
  /** Unix time in seconds. */
  timestamp: number;
  nonce: string;
  /** HTTP method in upper case, or `MQTT`. */
  method: string;
  /** HTTP path with query string, or the MQTT topic. */
  path: string;
  deviceId: string;
  /** Lowercase hex SHA-256 of the exact body bytes. */
  bodySha256: string;
}

export interface DeviceKey {
  keyId: string;
  secret: Buffer;
}

export interface DeviceCredentials extends DeviceKey {
  deviceId: string;
}

export function sha256Hex(body: Uint8Array | string): string {
  return createHash('sha256').update(body).digest('hex');
}

export function stringToSign(f: SigningFields): string {
  return [SIGNING_ALGORITHM, String(f.timestamp), f.nonce, f.method, f.path, f.deviceId, f.bodySha256].join('\n');
}

export function computeSignature(secret: Uint8Array, f: SigningFields): string {
  return createHmac('sha256', secret).update(stringToSign(f), 'utf8').digest('base64');
}

export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

export interface SignOptions {
  /** Clock for the timestamp; the agent passes its skew-corrected clock. */
  clock?: Clock;
  /** Fixed nonce/timestamp, for test vectors only. */
  nonce?: string;
  timestamp?: number;
}

function fieldsFor(
  creds: DeviceCredentials,
  method: string,
  path: string,
  body: Uint8Array,
  o: SignOptions,
): SigningFields {
  return {
    timestamp: o.timestamp ?? Math.floor((o.clock ?? systemClock).now() / 1000),
    nonce: o.nonce ?? newNonce(),
    method,
    path,
    deviceId: creds.deviceId,
    bodySha256: sha256Hex(body),
  };
}

/** Headers that sign one HTTP request. `pathWithQuery` is exactly what goes on the request line. */
export function signHttpRequest(
  creds: DeviceCredentials,
  method: string,
  pathWithQuery: string,
  body: Uint8Array,
  options: SignOptions = {},
): Record<string, string> {
  const f = fieldsFor(creds, method.toUpperCase(), pathWithQuery, body, options);
  return {
    'X-Vigil-Device': creds.deviceId,
    'X-Vigil-Key-Id': creds.keyId,
    'X-Vigil-Timestamp': String(f.timestamp),
    'X-Vigil-Nonce': f.nonce,
    'X-Vigil-Content-SHA256': f.bodySha256,
    'X-Vigil-Signature': SIGNATURE_PREFIX + computeSignature(creds.secret, f),
  };
}

/** The MQTT envelope: the signed body travels base64-encoded inside it. */
export interface MqttEnvelope {
  v: 1;
  device: string;
  kid: string;
  ts: number;
  nonce: string;
  sha256: string;
  sig: string;
  body_b64: string;
}

export function signMqttMessage(
  creds: DeviceCredentials,
  topic: string,
  body: Uint8Array,
  options: SignOptions = {},
): MqttEnvelope {
  const f = fieldsFor(creds, 'MQTT', topic, body, options);
  return {
    v: 1,
    device: creds.deviceId,
    kid: creds.keyId,
    ts: f.timestamp,
    nonce: f.nonce,
    sha256: f.bodySha256,
    sig: computeSignature(creds.secret, f),
    body_b64: Buffer.from(body).toString('base64'),
  };
}

/** Everything a verifier needs from one signed message, whichever transport brought it. */
export interface SignedMessage {
  deviceId: string;
  keyId: string;
  timestamp: number;
  nonce: string;
  method: string;
  path: string;
  /** The body hash the sender claims (header / envelope). */
  claimedSha256: string;
  /** base64 signature, without the `v1=` prefix. */
  signature: string;
  /** Hash of the bytes actually received; computed by the caller when it streams the body. */
  actualSha256: string;
}

type SigningCode = (typeof SigningErrorCode)[keyof typeof SigningErrorCode];

/** A signing error; its HTTP status is the wire catalogue's (firmware-protocol/errors.ts). */
function fail(code: SigningCode, message: string, details?: Record<string, unknown>): VigilError {
  return new VigilError(code, message, { details });
}

type HeaderBag = Record<string, string | string[] | undefined>;

function header(headers: HeaderBag, name: string): string | undefined {
  // Header names are case-insensitive (RFC 9110): Node lower-cases them, other sources may not.
  let v = headers[name];
  if (v === undefined) {
    const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
    v = key === undefined ? undefined : headers[key];
  }
  return Array.isArray(v) ? v[0] : v;
}

function parseTimestamp(raw: string, where: string): number {
  if (!/^\d{1,12}$/.test(raw))
    throw fail(
      SigningErrorCode.malformed,
      `${where} must be unix seconds as a decimal integer, got "${raw.slice(0, 32)}"`,
    );
  return Number(raw);
}

function checkCommon(
  nonce: string,
  claimedSha256: string,
  signature: string,
  where: { nonce: string; sha: string; sig: string },
): void {
  if (!NONCE_PATTERN.test(nonce))
    throw fail(SigningErrorCode.malformed, `${where.nonce} must be 8-64 characters of [A-Za-z0-9_-]`);
  if (!/^[0-9a-f]{64}$/.test(claimedSha256))
    throw fail(SigningErrorCode.malformed, `${where.sha} must be 64 lowercase hex digits`);
  if (!/^[A-Za-z0-9+/]{43}=$/.test(signature))
    throw fail(SigningErrorCode.malformed, `${where.sig} must be a base64 HMAC-SHA256 (44 characters)`);
}

/**
 * Reads the X-Vigil-* headers of an HTTP request. `actualSha256` is the hash of the body as received.
 * Throws `signature_missing` / `signature_malformed` (401).
 */
export function parseHttpSignature(
  headers: HeaderBag,
  method: string,
  pathWithQuery: string,
  actualSha256: string,
): SignedMessage {
  const names = [HEADER.device, HEADER.keyId, HEADER.timestamp, HEADER.nonce, HEADER.contentSha256, HEADER.signature];
  const missing = names.filter((n) => !header(headers, n));
  if (missing.length > 0)
    throw fail(SigningErrorCode.missing, `missing signature header(s): ${missing.map(canonicalHeader).join(', ')}`, {
      missing,
    });
  const rawSig = header(headers, HEADER.signature)!;
  if (!rawSig.startsWith(SIGNATURE_PREFIX))
    throw fail(
      SigningErrorCode.malformed,
      `X-Vigil-Signature must start with "${SIGNATURE_PREFIX}" (signing scheme v1)`,
    );
  const msg: SignedMessage = {
    deviceId: header(headers, HEADER.device)!,
    keyId: header(headers, HEADER.keyId)!,
    timestamp: parseTimestamp(header(headers, HEADER.timestamp)!, 'X-Vigil-Timestamp'),
    nonce: header(headers, HEADER.nonce)!,
    method: method.toUpperCase(),
    path: pathWithQuery,
    claimedSha256: header(headers, HEADER.contentSha256)!,
    signature: rawSig.slice(SIGNATURE_PREFIX.length),
    actualSha256,
  };
  checkCommon(msg.nonce, msg.claimedSha256, msg.signature, {
    nonce: 'X-Vigil-Nonce',
    sha: 'X-Vigil-Content-SHA256',
    sig: 'X-Vigil-Signature',
  });
  return msg;
}

function canonicalHeader(lower: string): string {
  return lower
    .replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase())
    .replace('Sha256', 'SHA256');
}

/**
 * Decodes an MQTT envelope; returns the signed message and the body bytes. Throws `signature_malformed` /
 * `signature_missing`.
 */
export function parseMqttEnvelope(payload: Uint8Array, topic: string): { message: SignedMessage; body: Buffer } {
  let env: unknown;
  try {
    env = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    throw fail(SigningErrorCode.malformed, 'MQTT payload is not a JSON signing envelope');
  }
  if (typeof env !== 'object' || env === null || Array.isArray(env))
    throw fail(SigningErrorCode.malformed, 'MQTT envelope must be a JSON object');
  const e = env as Record<string, unknown>;
  const fields = ['v', 'device', 'kid', 'ts', 'nonce', 'sha256', 'sig', 'body_b64'];
  const missing = fields.filter((f) => e[f] === undefined);
  if (missing.length > 0)
    throw fail(SigningErrorCode.missing, `MQTT envelope lacks field(s): ${missing.join(', ')}`, { missing });
  if (e.v !== 1) throw fail(SigningErrorCode.malformed, `MQTT envelope /v must be 1, got ${JSON.stringify(e.v)}`);
  for (const f of ['device', 'kid', 'nonce', 'sha256', 'sig', 'body_b64']) {
    if (typeof e[f] !== 'string') throw fail(SigningErrorCode.malformed, `MQTT envelope /${f} must be a string`);
  }
  if (typeof e.ts !== 'number' || !Number.isInteger(e.ts) || e.ts < 0)
    throw fail(SigningErrorCode.malformed, 'MQTT envelope /ts must be unix seconds (integer)');
  const b64 = e.body_b64 as string;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0)
    throw fail(SigningErrorCode.malformed, 'MQTT envelope /body_b64 must be standard padded base64');
  const body = Buffer.from(b64, 'base64');
  const message: SignedMessage = {
    deviceId: e.device as string,
    keyId: e.kid as string,
    timestamp: e.ts,
    nonce: e.nonce as string,
    method: 'MQTT',
    path: topic,
    claimedSha256: e.sha256 as string,
    signature: e.sig as string,
    actualSha256: sha256Hex(body),
  };
  checkCommon(message.nonce, message.claimedSha256, message.signature, {
    nonce: 'MQTT envelope /nonce',
    sha: 'MQTT envelope /sha256',
    sig: 'MQTT envelope /sig',
  });
  return { message, body };
}

/** Remembers nonces per device for the replay window. The collector backs it with its database when scaled out. */
export interface NonceCache {
  /** Records the nonce; returns false when it was already recorded and has not expired. */
  remember(deviceId: string, nonce: string, expiresAtMs: number): boolean | Promise<boolean>;
}

/** In-process nonce cache with lazy expiry. */
export class MemoryNonceCache implements NonceCache {
  private readonly seen = new Map<string, number>();
  private lastSweep = 0;
  constructor(private readonly clock: Clock = systemClock) {}

  remember(deviceId: string, nonce: string, expiresAtMs: number): boolean {
    const now = this.clock.now();
    if (now - this.lastSweep > 60_000) {
      for (const [k, exp] of this.seen) if (exp <= now) this.seen.delete(k);
      this.lastSweep = now;
    }
    const key = `${deviceId}\u0000${nonce}`;
    const exp = this.seen.get(key);
    if (exp !== undefined && exp > now) return false;
    this.seen.set(key, expiresAtMs);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}

export interface VerifyOptions {
  /** Active keys of a device (up to two during rotation); undefined when the device is unknown or revoked. */
  keys: (deviceId: string) => DeviceKey[] | undefined | Promise<DeviceKey[] | undefined>;
  nonces: NonceCache;
  clock?: Clock;
  /** Allowed difference between the message timestamp and the verifier's clock, seconds (default 300). */
  toleranceS?: number;
}

export interface Verified {
  deviceId: string;
  keyId: string;
  /** Sender's clock minus the verifier's clock, seconds. */
  skewS: number;
}

/** Device id a path or topic is about: `/v1/devices/{id}/…` or `vigil/v1/{id}/…`. */
export function deviceIdInPath(path: string): string | undefined {
  const http = /^\/v1\/devices\/([^/?]+)/.exec(path)?.[1];
  if (http !== undefined) {
    // A malformed escape must not throw a URIError out of the verifier; the raw segment then fails the comparison.
    try {
      return decodeURIComponent(http);
    } catch {
      return http;
    }
  }
  // MQTT topics are not URL-encoded: `vigil/v1/dev%5FA/…` is not device dev_A's topic.
  return /^vigil\/v1\/([^/]+)\//.exec(path)?.[1];
}

/** Verifies a signed message. Resolves with the device and key, or throws a VigilError with a SigningErrorCode. */
export async function verifySignedMessage(msg: SignedMessage, options: VerifyOptions): Promise<Verified> {
  const clock = options.clock ?? systemClock;
  const tolerance = options.toleranceS ?? DEFAULT_TOLERANCE_S;
  const pathDevice = deviceIdInPath(msg.path);
  if (pathDevice !== undefined && pathDevice !== msg.deviceId) {
    throw fail(SigningErrorCode.deviceMismatch, `device ${msg.deviceId} cannot write under ${pathDevice}`, {
      device_id: msg.deviceId,
    });
  }
  const keys = await options.keys(msg.deviceId);
  if (!keys || keys.length === 0)
    throw fail(SigningErrorCode.unknownDevice, `unknown or revoked device ${msg.deviceId}`);
  const nowS = Math.floor(clock.now() / 1000);
  const skewS = msg.timestamp - nowS;
  if (Math.abs(skewS) > tolerance) {
    throw fail(
      SigningErrorCode.timestamp,
      `timestamp ${msg.timestamp} is ${Math.abs(skewS)} s ${skewS < 0 ? 'in the past' : 'in the future'}; allowed ` +
        `±${tolerance} s`,
      {
        skew_s: skewS,
        server_time: nowS,
        reason: skewS < 0 ? 'expired' : 'future',
      },
    );
  }
  if (msg.claimedSha256 !== msg.actualSha256)
    throw fail(SigningErrorCode.bodyHash, 'body does not match its SHA-256 (X-Vigil-Content-SHA256 / sha256)');
  const fields: SigningFields = { ...msg, bodySha256: msg.actualSha256 };
  const presented = Buffer.from(msg.signature, 'base64');
  // Try the named key first, then the other active ones (rotation: a box may still sign with the previous key id).
  const ordered = [...keys.filter((k) => k.keyId === msg.keyId), ...keys.filter((k) => k.keyId !== msg.keyId)];
  const match = ordered.find((k) => {
    const expected = createHmac('sha256', k.secret).update(stringToSign(fields), 'utf8').digest();
    return expected.length === presented.length && timingSafeEqual(expected, presented);
  });
  if (!match) throw fail(SigningErrorCode.mismatch, 'signature does not match any active key of this device');
  // After timestamp + tolerance the timestamp check alone rejects a replay, so the nonce need not be kept longer.
  const fresh = await options.nonces.remember(msg.deviceId, msg.nonce, (msg.timestamp + tolerance + 1) * 1000);
  if (!fresh) throw fail(SigningErrorCode.replay, `nonce already used within the replay window`);
  return { deviceId: msg.deviceId, keyId: match.keyId, skewS };
}
