import { CAMERA_NAME_MAX, DEVICE_ID_MAX, ZONE_NAME_MAX } from './limits.js';

/**
 * Identifier patterns of protocol v1. Every identifier that appears in a topic or URL path is restricted to
 * characters that need no escaping there: no `/`, `+`, `#` (MQTT), no `%`, `?` (HTTP).
 */

/** Device ids: the collector issues `dev_<ULID>`; any 1-64 chars of [A-Za-z0-9_.-] starting alphanumeric are valid. */
export const DEVICE_ID_PATTERN = `^[A-Za-z0-9][A-Za-z0-9_.-]{0,${DEVICE_ID_MAX - 1}}$`;
/** Event ids: `evt_` + a ULID (26 Crockford base32 characters, upper case). */
export const EVENT_ID_PATTERN = '^evt_[0-9A-HJKMNP-TV-Z]{26}$';
/** Review item ids: `rev_` + a ULID, chosen by the box when the item starts. */
export const REVIEW_ID_PATTERN = '^rev_[0-9A-HJKMNP-TV-Z]{26}$';
/** Command ids: `cmd_` + a ULID, chosen by the collector when it issues the command. */
export const COMMAND_ID_PATTERN = '^cmd_[0-9A-HJKMNP-TV-Z]{26}$';
/** Command kinds: lower-case words joined by `_` (known ones in messages/command.ts). */
export const COMMAND_KIND_PATTERN = '^[a-z][a-z0-9_]{0,31}$';
/** Model registry ids: `mdl_` + a ULID. */
export const MODEL_ID_PATTERN = '^mdl_[0-9A-HJKMNP-TV-Z]{26}$';
/** Camera names as configured on the box. */
export const CAMERA_NAME_PATTERN = `^[A-Za-z0-9][A-Za-z0-9_-]{0,${CAMERA_NAME_MAX - 1}}$`;
/** Zone names as configured on the box. */
export const ZONE_NAME_PATTERN = `^[A-Za-z0-9][A-Za-z0-9_-]{0,${ZONE_NAME_MAX - 1}}$`;
/** Signing key ids. */
export const KEY_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
/** Attribute keys. */
export const ATTRIBUTE_KEY_PATTERN = '^[a-z][a-z0-9_]{0,63}$';
/** Lowercase hex SHA-256. */
export const SHA256_HEX_PATTERN = '^[0-9a-f]{64}$';

export const DEVICE_ID_RE = new RegExp(DEVICE_ID_PATTERN);
export const EVENT_ID_RE = new RegExp(EVENT_ID_PATTERN);
export const REVIEW_ID_RE = new RegExp(REVIEW_ID_PATTERN);
export const CAMERA_NAME_RE = new RegExp(CAMERA_NAME_PATTERN);
export const COMMAND_ID_RE = new RegExp(COMMAND_ID_PATTERN);
export const MODEL_ID_RE = new RegExp(MODEL_ID_PATTERN);

export function isDeviceId(value: string): boolean {
  return DEVICE_ID_RE.test(value);
}

export function isEventId(value: string): boolean {
  return EVENT_ID_RE.test(value);
}

export function isReviewId(value: string): boolean {
  return REVIEW_ID_RE.test(value);
}
