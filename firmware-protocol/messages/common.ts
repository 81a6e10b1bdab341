import { Type, type TObject, type TProperties } from '@sinclair/typebox';
import { LABEL_MAX, ZONES_MAX } from '../limits.js';
import {
  CAMERA_NAME_PATTERN,
  DEVICE_ID_PATTERN,
  EVENT_ID_PATTERN,
  SHA256_HEX_PATTERN,
  ZONE_NAME_PATTERN,
} from '../patterns.js';

/**
 * The pieces every message schema of protocol v1 is built from: the wire object (known fields strict, unknown fields
 * tolerated), the `$id`/title of a top-level kind, the `v: 1` field, and the field types several messages share
 * (date-time, device and event ids, camera and zone names, labels, scores, SHA-256 digests).
 */

/**
 * Largest value of any integer field: 2^53 - 1, the largest integer JavaScript (and so JSON readers in general) hold
 * exactly, and well inside a 64-bit database column. Larger ones are `invalid_message`, not a storage failure.
 */
export const INTEGER_MAX = Number.MAX_SAFE_INTEGER;

export const SCHEMA_ID_BASE = 'urn:vigil:protocol:v1:';

/** A wire object: known fields strict, unknown fields tolerated. */
export function wireObject<T extends TProperties>(
  properties: T,
  options: { description: string; $id?: string; title?: string; [k: string]: unknown },
): TObject<T> {
  return Type.Object(properties, { additionalProperties: true, ...options });
}

/**
 * The same object schema without its `$id`/`title`, to embed in another message (keeps exported files
 * self-contained).
 */
export function embed<T extends TProperties>(schema: TObject<T>, description: string): TObject<T> {
  const {
    $id: _id,
    title: _title,
    description: _d,
    type: _t,
    properties: _p,
    required: _r,
    ...options
  } = schema as TObject<T> & Record<string, unknown>;
  return Type.Object(schema.properties, { ...options, description });
}

export function top(kind: string, title: string): { $id: string; title: string } {
  return { $id: SCHEMA_ID_BASE + kind, title };
}

export const V = Type.Literal(1, {
  description:
    'Protocol version of this body. Always 1 in protocol v1; a reader rejects other values with `unsupported_version`.',
});

export const DateTime = (description: string) =>
  Type.String({
    format: 'date-time',
    description: `${description} ISO-8601 / RFC 3339 date-time in UTC, e.g. 2026-01-01T12:00:00.000Z.`,
  });
export const DeviceId = (description = 'Device id issued at pairing (`dev_<ULID>`); never contains / + # % ?.') =>
  Type.String({ pattern: DEVICE_ID_PATTERN, description });
export const EventId = (
  description = 'Event id: `evt_` + ULID, chosen by the box when the event starts and stable for its whole life.',
) => Type.String({ pattern: EVENT_ID_PATTERN, description });
export const Score = (description: string) => Type.Number({ minimum: 0, maximum: 1, description });
export const Sha256 = (description: string) => Type.String({ pattern: SHA256_HEX_PATTERN, description });
export const CameraName = () =>
  Type.String({
    pattern: CAMERA_NAME_PATTERN,
    description: 'Camera name as configured on the box: 1-64 chars of [A-Za-z0-9_-], starting alphanumeric.',
  });
export const Label = (description = `Detected class, e.g. person, car, dog (1-${LABEL_MAX} chars).`) =>
  Type.String({ minLength: 1, maxLength: LABEL_MAX, description });
/** A list of zone names: no repeats, at most ZONES_MAX. */
export const ZoneList = (description: string) =>
  Type.Array(Type.String({ pattern: ZONE_NAME_PATTERN, description: 'Zone name as configured on the box.' }), {
    maxItems: ZONES_MAX,
    uniqueItems: true,
    description,
  });
