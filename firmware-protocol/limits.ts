/**
 * Wire limits of protocol v1. Both sides enforce them: the agent never produces a message above a limit (it splits
 * batches, re-encodes thumbnails smaller), the collector rejects one with `payload_too_large` (413).
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** Longest camera name (`camera` field, topic-safe characters). */
export const CAMERA_NAME_MAX = 64;
/** Longest detection label (`label` field). */
export const LABEL_MAX = 64;
/** Longest device id (`device_id`, topic segment). */
export const DEVICE_ID_MAX = 64;
/** Longest zone name and most zones per event. */
export const ZONE_NAME_MAX = 64;
export const ZONES_MAX = 16;
/** Most attributes per event, longest attribute key and string value. */
export const ATTRIBUTES_MAX = 32;
export const ATTRIBUTE_KEY_MAX = 64;
export const ATTRIBUTE_VALUE_MAX = 256;
/**
 * Most objects (event ids) and most labels one review message lists. A review item that grows past it keeps the
 * first objects that joined and still counts the later ones in its severity, labels and zones.
 */
export const REVIEW_OBJECTS_MAX = 64;
/** Most cameras one heartbeat reports. */
export const HEARTBEAT_CAMERAS_MAX = 64;

/** One event message (or review message) serialized as JSON (UTF-8 bytes). */
export const EVENT_MAX_BYTES = 16 * KiB;
/** Events per batch. */
export const BATCH_MAX_EVENTS = 100;
/** One batch serialized as JSON; 100 events of the maximum size would not fit, so the agent also splits on bytes. */
export const BATCH_MAX_BYTES = 512 * KiB;
/** One heartbeat serialized as JSON. */
export const HEARTBEAT_MAX_BYTES = 32 * KiB;
/** One JPEG thumbnail. */
export const THUMBNAIL_MAX_BYTES = 2 * MiB;
/** Largest thumbnail side in pixels. */
export const THUMBNAIL_MAX_SIDE = 8192;
/**
 * Largest thumbnail in pixels (width × height): a 4096 × 4096 picture, or a whole 4K UHD frame (3840 × 2160), fits.
 * Bounds what decoding one costs the collector (re-classification decodes every thumbnail).
 */
export const THUMBNAIL_MAX_PIXELS = 4096 * 4096;
/**
 * Deepest nesting of arrays and objects in a JSON body (an Event is 3 deep, a Heartbeat 3, an EventBatch 4). Checked
 * before the body is parsed; unknown fields nested deeper are refused with `invalid_message`.
 */
export const JSON_MAX_DEPTH = 32;
/** Arguments of one command (top-level properties of `args`). */
export const COMMAND_ARGS_MAX_PROPERTIES = 32;
/** Commands one long-poll answer hands out. */
export const COMMANDS_PER_POLL_MAX = 32;
/** One signed command envelope (MQTT payload or one entry of a poll answer). */
export const COMMAND_MAX_BYTES = 16 * KiB;
/**
 * One CommandResult as JSON, the same as a thumbnail so its MQTT envelope fits MQTT_ENVELOPE_MAX_BYTES: a snapshot's
 * JPEG travels base64 inside it (the box sizes snapshots to fit).
 */
export const COMMAND_RESULT_MAX_BYTES = THUMBNAIL_MAX_BYTES;
/** Any other small JSON body (pairing, acks, errors). */
export const SMALL_JSON_MAX_BYTES = 16 * KiB;

/**
 * Bytes of an MQTT envelope besides `body_b64`: the other fields (`v`, `device`, `kid`, `ts`, `nonce`, `sha256`,
 * `sig`) and JSON punctuation take about 300 bytes with maximal ids; 1 KiB leaves room for fields a later v1 adds.
 */
export const ENVELOPE_OVERHEAD_BYTES = 1 * KiB;

/** Size of an MQTT envelope carrying `bodyBytes` bytes: the body travels base64-encoded (4/3, padded). */
export function envelopeBytesFor(bodyBytes: number): number {
  return 4 * Math.ceil(bodyBytes / 3) + ENVELOPE_OVERHEAD_BYTES;
}

/** Largest MQTT envelope a collector must accept: a maximal thumbnail (2 MiB → 2,796,204 base64 chars) + overhead. */
export const MQTT_ENVELOPE_MAX_BYTES = envelopeBytesFor(
  Math.max(THUMBNAIL_MAX_BYTES, BATCH_MAX_BYTES, HEARTBEAT_MAX_BYTES, COMMAND_RESULT_MAX_BYTES),
);

/** Default allowed clock difference between a signed message's timestamp and the verifier, seconds. */
export const CLOCK_TOLERANCE_S = 300;

/** All limits in one object, for docs and for the collector's config defaults. */
export const LIMITS = {
  CAMERA_NAME_MAX,
  LABEL_MAX,
  DEVICE_ID_MAX,
  ZONE_NAME_MAX,
  ZONES_MAX,
  ATTRIBUTES_MAX,
  ATTRIBUTE_KEY_MAX,
  ATTRIBUTE_VALUE_MAX,
  REVIEW_OBJECTS_MAX,
  HEARTBEAT_CAMERAS_MAX,
  EVENT_MAX_BYTES,
  BATCH_MAX_EVENTS,
  BATCH_MAX_BYTES,
  HEARTBEAT_MAX_BYTES,
  THUMBNAIL_MAX_BYTES,
  THUMBNAIL_MAX_SIDE,
  THUMBNAIL_MAX_PIXELS,
  JSON_MAX_DEPTH,
  SMALL_JSON_MAX_BYTES,
  COMMAND_ARGS_MAX_PROPERTIES,
  COMMANDS_PER_POLL_MAX,
  COMMAND_MAX_BYTES,
  COMMAND_RESULT_MAX_BYTES,
  ENVELOPE_OVERHEAD_BYTES,
  MQTT_ENVELOPE_MAX_BYTES,
  CLOCK_TOLERANCE_S,
} as const;
