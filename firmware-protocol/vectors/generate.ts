import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  computeSignature,
  sha256Hex,
  signMqttMessage,
  SigningErrorCode,
  type MqttEnvelope,
  type SigningFields,
} from '../../shared/signing/index.js';

/**
 * Generates vectors/signing.json — the signing scheme v1 test vectors — from fixed inputs (deterministic: running
 * it twice gives the same bytes). Run: `npm run protocol:export`.
 *
 * Each vector: `expected_signature` is the correct signature of the vector's own fields (secret, method, path,
 * device_id, timestamp, nonce, sha256(body)), so every correct implementation reproduces it, valid or not.
 * `presented_signature` and `content_sha256` are what arrives on the wire (they differ from the correct values in
 * the attack vectors). A verifier processes the vectors IN ORDER with ONE nonce cache, its clock at `now`, the
 * device's only active key being `secret_b64`, and must accept the valid ones and reject the others with `reason`.
 */

export interface SigningVector {
  name: string;
  secret_b64: string;
  method: string;
  path: string;
  device_id: string;
  timestamp: number;
  nonce: string;
  body_b64: string;
  expected_signature: string;
  now: number;
  valid: boolean;
  reason: string | null;
  presented_signature: string;
  content_sha256: string;
}

const here = dirname(fileURLToPath(import.meta.url));
export const VECTORS_FILE = join(here, 'signing.json');
const EXAMPLES = join(here, '..', 'examples');

export const DEVICE = 'dev_01JGZ5ZQ7P4M3N2K1H0G9F8E7D';
export const OTHER_DEVICE = 'dev_01JGZ63E7Z5B1X9V8T6S4R2Q0P';
export const EVENT = 'evt_01JGZ60B4W2Y8T6R5Q3P1N9M7K';
/** Device secret: bytes 0x00..0x1f. */
export const SECRET = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
/** Another secret (the other device's, and the "wrong key"): bytes 0x20..0x3f. */
export const OTHER_SECRET = Buffer.from(Array.from({ length: 32 }, (_, i) => 32 + i));
/** 2026-01-01T12:00:00Z. */
export const NOW = 1767268800;

/** A 64-byte JPEG-like body: SOI + APP0/JFIF header, bytes covering 0x00 and 0x80..0xff, EOI. */
export const JPEG_BODY = Buffer.concat([
  Buffer.from([
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
    0x00,
  ]),
  Buffer.from(Array.from({ length: 42 }, (_, i) => (i * 37 + 11) & 0xff)),
  Buffer.from([0xff, 0xd9]),
]);

/** An example message as compact JSON bytes (what a sender puts on the wire). */
function example(name: string): Buffer {
  const o = JSON.parse(readFileSync(join(EXAMPLES, `${name}.json`), 'utf8')) as unknown;
  return Buffer.from(JSON.stringify(o), 'utf8');
}

/** Deterministic nonce per label: 22 chars of base64url (what 16 random bytes give). */
function nonce(label: string): string {
  return createHash('sha256').update(`vigil-vector-nonce:${label}`).digest('base64url').slice(0, 22);
}

interface Spec {
  name: string;
  method: string;
  path: string;
  device?: string;
  secret?: Buffer;
  timestamp?: number;
  nonce?: string;
  body: Buffer;
  now?: number;
  reason?: string;
  /** What the attacker changes on the wire. */
  presented?: (correct: SigningFields) => { signature?: string; contentSha256?: string };
}

function vector(s: Spec): SigningVector {
  const secret = s.secret ?? SECRET;
  const fields: SigningFields = {
    timestamp: s.timestamp ?? NOW - 3,
    nonce: s.nonce ?? nonce(s.name),
    method: s.method,
    path: s.path,
    deviceId: s.device ?? DEVICE,
    bodySha256: sha256Hex(s.body),
  };
  const expected = computeSignature(secret, fields);
  const attack = s.presented?.(fields) ?? {};
  return {
    name: s.name,
    secret_b64: secret.toString('base64'),
    method: fields.method,
    path: fields.path,
    device_id: fields.deviceId,
    timestamp: fields.timestamp,
    nonce: fields.nonce,
    body_b64: s.body.toString('base64'),
    expected_signature: expected,
    now: s.now ?? NOW,
    valid: s.reason === undefined,
    reason: s.reason ?? null,
    presented_signature: attack.signature ?? expected,
    content_sha256: attack.contentSha256 ?? fields.bodySha256,
  };
}

export function buildVectors(): SigningVector[] {
  const eventNew = example('event-new');
  const eventUpdate = example('event-update'); // announces JPEG_BODY as its thumbnail
  const batch = example('event-batch');
  const heartbeat = example('heartbeat');
  const ack = example('ack');
  const command = example('command');
  const result = example('command-result');
  const tamperedUpdate = Buffer.from(eventUpdate.toString('utf8').replace('"label":"person"', '"label":"cat"'), 'utf8');
  const replayNonce = nonce('replay');

  return [
    vector({ name: 'http-post-event-json', method: 'POST', path: `/v1/devices/${DEVICE}/events`, body: eventNew }),
    vector({
      name: 'http-put-thumbnail-jpeg',
      method: 'PUT',
      path: `/v1/devices/${DEVICE}/events/${EVENT}/thumbnail`,
      body: JPEG_BODY,
    }),
    vector({ name: 'http-empty-body', method: 'GET', path: `/v1/devices/${DEVICE}/acks`, body: Buffer.alloc(0) }),
    vector({
      name: 'http-query-string',
      method: 'GET',
      path: `/v1/devices/${DEVICE}/acks?since=1767268000&limit=50`,
      body: Buffer.alloc(0),
    }),
    vector({ name: 'http-post-heartbeat', method: 'POST', path: `/v1/devices/${DEVICE}/heartbeat`, body: heartbeat }),
    vector({ name: 'mqtt-events-batch', method: 'MQTT', path: `vigil/v1/${DEVICE}/events`, body: batch }),
    vector({
      name: 'mqtt-thumbnail-jpeg',
      method: 'MQTT',
      path: `vigil/v1/${DEVICE}/thumbnails/${EVENT}`,
      body: JPEG_BODY,
    }),
    vector({ name: 'mqtt-ack-signed-by-collector', method: 'MQTT', path: `vigil/v1/${DEVICE}/acks`, body: ack }),
    vector({
      name: 'timestamp-300s-old-accepted',
      method: 'POST',
      path: `/v1/devices/${DEVICE}/events`,
      body: eventUpdate,
      timestamp: NOW - 300,
    }),
    vector({
      name: 'timestamp-300s-ahead-accepted',
      method: 'POST',
      path: `/v1/devices/${DEVICE}/events`,
      body: eventUpdate,
      timestamp: NOW + 300,
    }),
    vector({
      name: 'tampered-body',
      method: 'POST',
      path: `/v1/devices/${DEVICE}/events`,
      body: tamperedUpdate,
      reason: SigningErrorCode.bodyHash,
      // The sender signed the original body and claimed its hash; the body was altered in transit.
      presented: (f) => ({
        signature: computeSignature(SECRET, { ...f, bodySha256: sha256Hex(eventUpdate) }),
        contentSha256: sha256Hex(eventUpdate),
      }),
    }),
    vector({
      name: 'wrong-key',
      method: 'POST',
      path: `/v1/devices/${DEVICE}/events`,
      body: eventNew,
      reason: SigningErrorCode.mismatch,
      presented: (f) => ({ signature: computeSignature(OTHER_SECRET, f) }),
    }),
    vector({
      name: 'path-substituted',
      method: 'POST',
      path: `/v1/devices/${DEVICE}/events`,
      body: heartbeat,
      reason: SigningErrorCode.mismatch,
      // Signed for the heartbeat endpoint, replayed against the events endpoint.
      presented: (f) => ({ signature: computeSignature(SECRET, { ...f, path: `/v1/devices/${DEVICE}/heartbeat` }) }),
    }),
    vector({
      name: 'timestamp-expired',
      method: 'POST',
      path: `/v1/devices/${DEVICE}/events`,
      body: eventNew,
      timestamp: NOW - 301,
      reason: SigningErrorCode.timestamp,
    }),
    vector({
      name: 'timestamp-future',
      method: 'POST',
      path: `/v1/devices/${DEVICE}/events`,
      body: eventNew,
      timestamp: NOW + 301,
      reason: SigningErrorCode.timestamp,
    }),
    vector({
      name: 'device-mismatch-http',
      method: 'POST',
      path: `/v1/devices/${DEVICE}/events`,
      device: OTHER_DEVICE,
      secret: OTHER_SECRET,
      body: eventNew,
      reason: SigningErrorCode.deviceMismatch,
    }),
    vector({
      name: 'device-mismatch-mqtt',
      method: 'MQTT',
      path: `vigil/v1/${DEVICE}/events`,
      device: OTHER_DEVICE,
      secret: OTHER_SECRET,
      body: batch,
      reason: SigningErrorCode.deviceMismatch,
    }),
    vector({
      name: 'replay-first-use',
      method: 'POST',
      path: `/v1/devices/${DEVICE}/events`,
      body: eventUpdate,
      nonce: replayNonce,
      timestamp: NOW - 10,
    }),
    vector({
      name: 'replay-second-use',
      method: 'POST',
      path: `/v1/devices/${DEVICE}/events`,
      body: eventUpdate,
      nonce: replayNonce,
      timestamp: NOW - 10,
      now: NOW + 5,
      reason: SigningErrorCode.replay,
    }),
    vector({
      name: 'same-nonce-other-device',
      method: 'POST',
      path: `/v1/devices/${OTHER_DEVICE}/events`,
      device: OTHER_DEVICE,
      secret: OTHER_SECRET,
      body: eventNew,
      nonce: replayNonce,
      now: NOW + 5,
    }),
    // Commands (PROTOCOL.md §6.1): signed by the collector with the device key, same envelope on MQTT and in the
    // HTTPS long-poll answer; the long-poll request and the result are signed by the box.
    vector({
      name: 'mqtt-command-signed-by-collector',
      method: 'MQTT',
      path: `vigil/v1/${DEVICE}/commands`,
      body: command,
    }),
    vector({
      name: 'http-get-commands-long-poll',
      method: 'GET',
      path: `/v1/devices/${DEVICE}/commands?wait=25`,
      body: Buffer.alloc(0),
    }),
    vector({ name: 'mqtt-command-result', method: 'MQTT', path: `vigil/v1/${DEVICE}/results`, body: result }),
    vector({
      name: 'command-signed-with-other-key',
      method: 'MQTT',
      path: `vigil/v1/${DEVICE}/commands`,
      body: command,
      reason: SigningErrorCode.mismatch,
      presented: (f) => ({ signature: computeSignature(OTHER_SECRET, f) }),
    }),
  ];
}

/** examples/command-poll.json: a long-poll answer holding the envelope of `mqtt-command-signed-by-collector`. */
export function commandPollExample(): { v: 1; commands: MqttEnvelope[] } {
  const v = buildVectors().find((x) => x.name === 'mqtt-command-signed-by-collector');
  if (!v) throw new Error('vector mqtt-command-signed-by-collector missing');
  const envelope = signMqttMessage(
    { deviceId: v.device_id, keyId: 'k1', secret: SECRET },
    v.path,
    Buffer.from(v.body_b64, 'base64'),
    { nonce: v.nonce, timestamp: v.timestamp },
  );
  return { v: 1, commands: [envelope] };
}

export const COMMAND_POLL_EXAMPLE_FILE = join(EXAMPLES, 'command-poll.json');

export function commandPollExampleText(): string {
  return JSON.stringify(commandPollExample(), null, 2) + '\n';
}

/** examples/envelope.json: the MQTT envelope of the `mqtt-thumbnail-jpeg` vector, key id k1. */
export function envelopeExample(): MqttEnvelope {
  const v = buildVectors().find((x) => x.name === 'mqtt-thumbnail-jpeg');
  if (!v) throw new Error('vector mqtt-thumbnail-jpeg missing');
  return signMqttMessage(
    { deviceId: v.device_id, keyId: 'k1', secret: SECRET },
    v.path,
    Buffer.from(v.body_b64, 'base64'),
    { nonce: v.nonce, timestamp: v.timestamp },
  );
}

export const ENVELOPE_EXAMPLE_FILE = join(EXAMPLES, 'envelope.json');

export function envelopeExampleText(): string {
  return JSON.stringify(envelopeExample(), null, 2) + '\n';
}

/** The file's exact text: 2-space JSON + newline. */
export function vectorsText(): string {
  return JSON.stringify(buildVectors(), null, 2) + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(VECTORS_FILE, vectorsText());
  writeFileSync(ENVELOPE_EXAMPLE_FILE, envelopeExampleText());
  writeFileSync(COMMAND_POLL_EXAMPLE_FILE, commandPollExampleText());
  process.stdout.write(`wrote ${VECTORS_FILE}\nwrote ${ENVELOPE_EXAMPLE_FILE}\nwrote ${COMMAND_POLL_EXAMPLE_FILE}\n`);
}
