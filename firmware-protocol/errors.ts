import { defineErrors, type ErrorSpec, type RetryAdvice as AnyRetryAdvice } from '../shared/errors/index.js';
import { SigningErrorCode } from '../shared/signing/codes.js';

/**
 * Catalogue of wire error codes (protocol v1). A code appears in an HTTP error body (`error.code`) or in a
 * rejected ack item (`code`). Codes are stable: never reworded, never reused with another meaning.
 *
 * `retry` tells a device what to do with the item that caused it:
 * - `adjust_and_retry`: fix the cause (e.g. clock offset) and send the same item again;
 * - `retry_later`: transient; keep the item in the outbox and retry with backoff;
 * - `drop`: the item can never be accepted as sent; move it to the dead-letter store and log it;
 * - `re_pair`: the device's credentials are no longer valid; stop sending and pair again.
 */
export type RetryAdvice = Exclude<AnyRetryAdvice, 'fix_config'>;

export interface WireErrorInfo {
  /** HTTP status the collector answers with. */
  status: number;
  /** What it means, for firmware authors. */
  meaning: string;
  retry: RetryAdvice;
}

export const WireErrorCode = {
  ...SigningErrorCode,
  invalidJson: 'invalid_json',
  invalidMessage: 'invalid_message',
  payloadTooLarge: 'payload_too_large',
  unsupportedMediaType: 'unsupported_media_type',
  eventConflict: 'event_conflict',
  unknownEvent: 'unknown_event',
  thumbnailMismatch: 'thumbnail_mismatch',
  rateLimited: 'rate_limited',
  pairingCodeInvalid: 'pairing_code_invalid',
  pairingCodeExpired: 'pairing_code_expired',
  pairingCodeUsed: 'pairing_code_used',
  unauthorized: 'unauthorized',
  forbidden: 'forbidden',
  notFound: 'not_found',
  methodNotAllowed: 'method_not_allowed',
  deviceRevoked: 'device_revoked',
  unsupportedVersion: 'unsupported_version',
  deadLettered: 'dead_lettered',
  internal: 'internal_error',
  unavailable: 'service_unavailable',
} as const;

export type WireErrorCodeValue = (typeof WireErrorCode)[keyof typeof WireErrorCode];

export const WIRE_ERRORS: Readonly<Record<WireErrorCodeValue, WireErrorInfo>> = {
  signature_missing: {
    status: 401,
    meaning: 'A signature header (HTTP) or envelope field (MQTT) is absent.',
    retry: 'drop',
  },
  signature_malformed: {
    status: 401,
    meaning:
      'A signature header or envelope field is present but not in the v1 format (timestamp digits, nonce ' +
      'characters, 64 hex digits, 44-character base64, `v1=` prefix). MQTT envelopes that are not JSON also get ' +
      'this code.',
    retry: 'drop',
  },
  unknown_device: { status: 401, meaning: 'The signing device id is unknown or has no active key.', retry: 're_pair' },
  device_mismatch: {
    status: 403,
    meaning: 'The path or topic names a different device than the one that signed the message.',
    retry: 'drop',
  },
  timestamp_out_of_tolerance: {
    status: 401,
    meaning:
      'The signed timestamp differs from the collector clock by more than the tolerance (default ±300 s). The ' +
      'HTTP response carries a `Date` header; the device corrects its clock offset and retries.',
    retry: 'adjust_and_retry',
  },
  body_hash_mismatch: {
    status: 401,
    meaning:
      'The SHA-256 of the received body differs from the claimed X-Vigil-Content-SHA256 / envelope `sha256` (body ' +
      'altered or truncated in transit).',
    retry: 'retry_later',
  },
  signature_mismatch: {
    status: 401,
    meaning: 'The HMAC does not match any active key of the device.',
    retry: 're_pair',
  },
  nonce_replayed: {
    status: 401,
    meaning:
      'The nonce was already used by this device within the replay window. A device must use a fresh nonce for ' +
      'every send, including retries.',
    retry: 'retry_later',
  },
  invalid_json: { status: 400, meaning: 'The body is not valid UTF-8 JSON.', retry: 'drop' },
  invalid_message: {
    status: 400,
    meaning:
      'The body is JSON but violates the message schema; the message names the field (JSON pointer) and the rule.',
    retry: 'drop',
  },
  payload_too_large: { status: 413, meaning: 'The body exceeds the limit for its kind (see Limits).', retry: 'drop' },
  unsupported_media_type: {
    status: 415,
    meaning:
      'Wrong Content-Type (JSON endpoints need application/json, thumbnails image/jpeg) or a thumbnail that is ' +
      'not a JPEG.',
    retry: 'drop',
  },
  event_conflict: {
    status: 409,
    meaning: 'An event message with the same id and rev but different content was already accepted.',
    retry: 'drop',
  },
  unknown_event: {
    status: 404,
    meaning: 'A thumbnail or update refers to an event id the collector has never received; send the event first.',
    retry: 'retry_later',
  },
  thumbnail_mismatch: {
    status: 409,
    meaning: "The thumbnail bytes do not match the sha256/size announced in the event's `thumbnail` field.",
    retry: 'drop',
  },
  rate_limited: {
    status: 429,
    meaning: 'Too many requests from this device; honour Retry-After (seconds).',
    retry: 'retry_later',
  },
  pairing_code_invalid: { status: 400, meaning: 'The pairing code does not exist.', retry: 'drop' },
  pairing_code_expired: {
    status: 410,
    meaning: 'The pairing code existed but has expired; create a new one.',
    retry: 'drop',
  },
  pairing_code_used: { status: 409, meaning: 'The pairing code was already used by another device.', retry: 'drop' },
  unauthorized: {
    status: 401,
    meaning: 'A user/API request lacks valid credentials (not used for device signatures, which have their own codes).',
    retry: 'drop',
  },
  forbidden: { status: 403, meaning: 'Authenticated but not allowed to do this.', retry: 'drop' },
  not_found: { status: 404, meaning: 'No such endpoint or resource.', retry: 'drop' },
  method_not_allowed: { status: 405, meaning: 'The endpoint exists but not with this HTTP method.', retry: 'drop' },
  device_revoked: {
    status: 403,
    meaning: 'The device was revoked by its owner; its keys no longer work.',
    retry: 're_pair',
  },
  unsupported_version: {
    status: 400,
    meaning: 'The message carries a `v` this collector does not speak.',
    retry: 'drop',
  },
  dead_lettered: {
    status: 422,
    meaning:
      "The collector failed on this message repeatedly (its fault, not the box's) and moved it, bytes and error, " +
      'to its dead-letter table for an operator. Resending cannot help: the box drops the item (an MQTT ack names ' +
      'it `rejected` with this code).',
    retry: 'drop',
  },
  internal_error: { status: 500, meaning: 'The collector failed; the item was not stored.', retry: 'retry_later' },
  service_unavailable: {
    status: 503,
    meaning: 'The collector is overloaded or its store is down; honour Retry-After.',
    retry: 'retry_later',
  },
};

export function wireErrorInfo(code: string): WireErrorInfo | undefined {
  return (WIRE_ERRORS as Record<string, WireErrorInfo | undefined>)[code];
}

/** HTTP status for a wire code; 500 for codes outside the catalogue. */
export function statusForCode(code: string): number {
  return wireErrorInfo(code)?.status ?? 500;
}

export function isWireErrorCode(code: string): code is WireErrorCodeValue {
  return wireErrorInfo(code) !== undefined;
}

/**
 * Codes of the protocol library itself (topic and path builders): a caller passed an id that cannot be used on the
 * wire. They never reach a device (the collector answers such input with a wire code), hence not in WIRE_ERRORS.
 */
const LIBRARY_ERRORS = {
  invalid_topic: { status: 400, retry: 'drop', message: 'not a Vigil MQTT topic, or an id that cannot be used in one' },
  invalid_device_id: { status: 400, retry: 'drop', message: 'not a device id that can be used in a path' },
  invalid_event_id: { status: 400, retry: 'drop', message: 'not an event id (evt_<ULID>)' },
} as const satisfies Record<string, ErrorSpec>;

function wireSpecs(): Record<WireErrorCodeValue, ErrorSpec> {
  const out = {} as Record<WireErrorCodeValue, ErrorSpec>;
  for (const [code, info] of Object.entries(WIRE_ERRORS) as [WireErrorCodeValue, WireErrorInfo][]) {
    out[code] = { status: info.status, retry: info.retry, message: info.meaning };
  }
  return out;
}

/**
 * The protocol registry: every wire code with the catalogue's status and advice (the catalogue is the source of
 * truth; cloud/errors.ts and agent/errors.ts include this table unchanged), plus the protocol library's own codes.
 */
export const PROTOCOL_ERRORS = { ...wireSpecs(), ...LIBRARY_ERRORS };

export type ProtocolErrorCode = keyof typeof PROTOCOL_ERRORS;

/** The VigilError of the protocol library and of shared/ code that throws wire codes (signing, schema checks). */
export class VigilError extends defineErrors(PROTOCOL_ERRORS) {}
