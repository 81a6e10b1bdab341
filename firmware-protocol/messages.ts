import { Type, type Static, type TObject, type TProperties, type TSchema } from '@sinclair/typebox';
import { validator, type SchemaIssue, type Validator } from '../shared/schema/index.js';
import { VigilError } from './errors.js';
import {
  ATTRIBUTE_VALUE_MAX,
  ATTRIBUTES_MAX,
  BATCH_MAX_EVENTS,
  HEARTBEAT_CAMERAS_MAX,
  LABEL_MAX,
  THUMBNAIL_MAX_BYTES,
  THUMBNAIL_MAX_SIDE,
  ZONES_MAX,
} from './limits.js';

/**
 * Largest value of any integer field: 2^53 - 1, the largest integer JavaScript (and so JSON readers in general) hold
 * exactly, and well inside a 64-bit database column. Larger ones are `invalid_message`, not a storage failure.
 */
const INTEGER_MAX = Number.MAX_SAFE_INTEGER;
import {
  ATTRIBUTE_KEY_PATTERN,
  CAMERA_NAME_PATTERN,
  DEVICE_ID_PATTERN,
  EVENT_ID_PATTERN,
  KEY_ID_PATTERN,
  SHA256_HEX_PATTERN,
  ZONE_NAME_PATTERN,
} from './patterns.js';

/**
 * Message schemas of protocol v1 — the contract between the box (vigil-agent or any firmware) and the collector.
 * The descriptions ARE the documentation: `export-schemas.ts` writes them out as JSON Schema (draft-07) for
 * firmware teams, and PROTOCOL.md tabulates them.
 *
 * Forward compatibility: every wire object allows properties it does not define (`additionalProperties: true`):
 * a v1 reader ignores fields it does not know, so a later v1 may add optional fields. Every known field is
 * validated strictly. Every message body carries `v: 1`.
 */

export const SCHEMA_ID_BASE = 'urn:vigil:protocol:v1:';

/** A wire object: known fields strict, unknown fields tolerated. */
function wireObject<T extends TProperties>(
  properties: T,
  options: { description: string; $id?: string; title?: string; [k: string]: unknown },
): TObject<T> {
  return Type.Object(properties, { additionalProperties: true, ...options });
}

/** The same object schema without its `$id`/`title`, to embed in another message (keeps exported files self-contained). */
function embed<T extends TProperties>(schema: TObject<T>, description: string): TObject<T> {
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

function top(kind: string, title: string): { $id: string; title: string } {
  return { $id: SCHEMA_ID_BASE + kind, title };
}

const V = Type.Literal(1, {
  description:
    'Protocol version of this body. Always 1 in protocol v1; a reader rejects other values with `unsupported_version`.',
});

const DateTime = (description: string) =>
  Type.String({
    format: 'date-time',
    description: `${description} ISO-8601 / RFC 3339 date-time in UTC, e.g. 2026-01-01T12:00:00.000Z.`,
  });
const DeviceId = (description = 'Device id issued at pairing (`dev_<ULID>`); never contains / + # % ?.') =>
  Type.String({ pattern: DEVICE_ID_PATTERN, description });
const EventId = (
  description = 'Event id: `evt_` + ULID, chosen by the box when the event starts and stable for its whole life.',
) => Type.String({ pattern: EVENT_ID_PATTERN, description });
const Score = (description: string) => Type.Number({ minimum: 0, maximum: 1, description });
const Sha256 = (description: string) => Type.String({ pattern: SHA256_HEX_PATTERN, description });

// ---------------------------------------------------------------------------------------------------------------
// Thumbnail metadata
// ---------------------------------------------------------------------------------------------------------------

export const ThumbnailInfo = wireObject(
  {
    sha256: Sha256('Lowercase hex SHA-256 of the exact JPEG bytes that will be uploaded.'),
    size: Type.Integer({
      minimum: 1,
      maximum: THUMBNAIL_MAX_BYTES,
      description: `Size of the JPEG in bytes (at most ${THUMBNAIL_MAX_BYTES}).`,
    }),
    width: Type.Integer({ minimum: 1, maximum: THUMBNAIL_MAX_SIDE, description: 'Image width in pixels.' }),
    height: Type.Integer({ minimum: 1, maximum: THUMBNAIL_MAX_SIDE, description: 'Image height in pixels.' }),
    content_type: Type.Literal('image/jpeg', { description: 'Media type of the thumbnail; only image/jpeg in v1.' }),
  },
  {
    ...top('thumbnail-info', 'ThumbnailInfo'),
    description:
      "Announces a thumbnail in an event's `thumbnail` field, so the collector knows one will follow and can check it. The JPEG itself travels separately: HTTP `PUT /v1/devices/{device_id}/events/{event_id}/thumbnail` or MQTT `vigil/v1/{device_id}/thumbnails/{event_id}`.",
  },
);
export type ThumbnailInfo = Static<typeof ThumbnailInfo>;

// ---------------------------------------------------------------------------------------------------------------
// Event
// ---------------------------------------------------------------------------------------------------------------

export const EVENT_TYPES = ['new', 'update', 'end'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Why the box ended an event (Event.end_reason, only on type = end). */
export const EVENT_END_REASONS = ['left', 'agent_stop', 'agent_restart'] as const;
export type EventEndReason = (typeof EVENT_END_REASONS)[number];

const BoxSchema = Type.Array(
  Type.Number({
    minimum: 0,
    maximum: 1,
    description: 'Coordinate normalized to the frame: 0 = left/top edge, 1 = right/bottom edge.',
  }),
  {
    minItems: 4,
    maxItems: 4,
    description:
      'Bounding box [x1, y1, x2, y2] of the best detection, normalized 0..1 to the frame width/height, origin top-left. Rule (not expressible in JSON Schema, checked by the collector): x1 ≤ x2 and y1 ≤ y2.',
  },
);

const AttributeValue = Type.Union([Type.String({ maxLength: ATTRIBUTE_VALUE_MAX }), Type.Number(), Type.Boolean()], {
  description: `Attribute value: a string (≤ ${ATTRIBUTE_VALUE_MAX} chars), a number or a boolean.`,
});

/**
 * Rules that depend on `type` — expressed for JSON Schema readers with if/then (the TypeBox checker ignores these
 * keywords; `eventRuleIssues` enforces the same rules in code).
 */
const EVENT_TYPE_RULES = [
  { if: { properties: { type: { const: 'new' } }, required: ['type'] }, then: { properties: { rev: { const: 0 } } } },
  {
    if: { properties: { type: { enum: ['update', 'end'] } }, required: ['type'] },
    then: { properties: { rev: { minimum: 1 } } },
  },
  {
    if: { properties: { type: { const: 'end' } }, required: ['type'] },
    then: { required: ['ended_at'], properties: { ended_at: { type: 'string' } } },
  },
  {
    if: { properties: { end_reason: { type: 'string' } }, required: ['end_reason'] },
    then: { properties: { type: { const: 'end' } }, required: ['type'] },
  },
];

export const Event = wireObject(
  {
    v: V,
    id: EventId(),
    device_id: DeviceId('Device that produced the event; must equal the signing device.'),
    camera: Type.String({
      pattern: CAMERA_NAME_PATTERN,
      description: 'Camera name as configured on the box: 1-64 chars of [A-Za-z0-9_-], starting alphanumeric.',
    }),
    type: Type.Union(
      EVENT_TYPES.map((t) => Type.Literal(t)),
      {
        description:
          '`new` when the object first appears, `update` when its best detection/thumbnail/attributes change, `end` when it leaves or the event is closed.',
      },
    ),
    rev: Type.Integer({
      minimum: 0,
      maximum: INTEGER_MAX,
      description:
        'Revision of this event: 0 for `new`, +1 for each later message of the same event (`update` and `end` have rev ≥ 1). (id, rev) identifies one message: same id+rev with the same content is a duplicate, with different content a conflict.',
    }),
    label: Type.String({
      minLength: 1,
      maxLength: LABEL_MAX,
      description: `Detected class, e.g. person, car, dog (1-${LABEL_MAX} chars).`,
    }),
    score: Score('Confidence of the detection this message reports, 0..1.'),
    box: BoxSchema,
    started_at: DateTime('When the event started (first detection), box clock corrected by its offset.'),
    ended_at: Type.Optional(DateTime('When the event ended. Required when type = end; must not precede started_at.')),
    end_reason: Type.Optional(
      Type.Union(
        EVENT_END_REASONS.map((r) => Type.Literal(r)),
        {
          description:
            'Why the event ended; only allowed when type = end (optional there). left: the object left the view; agent_stop: the agent was stopped cleanly (SIGTERM) with the event open; agent_restart: the agent found the event still open after an unclean stop (crash, kill -9, power cut) and ended it at start-up, with ended_at = its last message time.',
        },
      ),
    ),
    duration_s: Type.Optional(
      Type.Number({ minimum: 0, description: 'Seconds from started_at to ended_at (or to now for an open event).' }),
    ),
    top_score: Type.Optional(Score('Highest score seen over the life of the event so far, 0..1.')),
    stationary: Type.Optional(
      Type.Boolean({ description: 'True when the object has not moved for a while (e.g. a parked car).' }),
    ),
    sent_at: Type.Optional(
      DateTime('When the box (re)sent this message; differs from started_at when the outbox held it.'),
    ),
    media_start: Type.Optional(DateTime('Start of the recorded media covering this event, if the box records.')),
    media_end: Type.Optional(DateTime('End of the recorded media covering this event, if the box records.')),
    thumbnail: Type.Optional(
      embed(ThumbnailInfo, 'Announces the thumbnail that will follow for this event (see ThumbnailInfo).'),
    ),
    zones: Type.Optional(
      Type.Array(Type.String({ pattern: ZONE_NAME_PATTERN, description: 'Zone name as configured on the box.' }), {
        maxItems: ZONES_MAX,
        uniqueItems: true,
        description: `Zones the object entered (at most ${ZONES_MAX}, no repeats).`,
      }),
    ),
    attributes: Type.Optional(
      Type.Record(Type.String({ pattern: ATTRIBUTE_KEY_PATTERN }), AttributeValue, {
        maxProperties: ATTRIBUTES_MAX,
        additionalProperties: false,
        description: `Extra facts about the object (e.g. color, speed), keys [a-z][a-z0-9_]* (≤ 64), at most ${ATTRIBUTES_MAX}.`,
      }),
    ),
  },
  {
    ...top('event', 'Event'),
    description:
      'One message of a detection event: `new`, then zero or more `update`s, then `end`, all with the same id. Sent on MQTT `vigil/v1/{device_id}/events` (alone or in an EventBatch) or HTTP `POST /v1/devices/{device_id}/events`. Rules beyond the schema: type=new ⇔ rev=0; type=end requires ended_at ≥ started_at; end_reason only on type=end; box x1 ≤ x2, y1 ≤ y2.',
    allOf: EVENT_TYPE_RULES,
  },
);
export type Event = Static<typeof Event>;

/** Cross-field rules of an Event that JSON Schema cannot (box ordering, time order) or TypeBox does not check. */
export function eventRuleIssues(e: Event, at = ''): SchemaIssue[] {
  const out: SchemaIssue[] = [];
  if (e.type === 'new' && e.rev !== 0) out.push({ path: `${at}/rev`, message: 'must be 0 when type is new' });
  if (e.type !== 'new' && e.rev < 1)
    out.push({ path: `${at}/rev`, message: `must be ≥ 1 when type is ${e.type} (0 is the new message)` });
  if (e.type === 'end' && e.ended_at === undefined)
    out.push({ path: `${at}/ended_at`, message: 'is required when type is end' });
  if (e.type !== 'end' && e.end_reason !== undefined)
    out.push({ path: `${at}/end_reason`, message: `is only allowed when type is end (type is ${e.type})` });
  const [x1, y1, x2, y2] = e.box;
  if (x1 !== undefined && x2 !== undefined && x1 > x2)
    out.push({ path: `${at}/box`, message: `x1 (${x1}) must be ≤ x2 (${x2})` });
  if (y1 !== undefined && y2 !== undefined && y1 > y2)
    out.push({ path: `${at}/box`, message: `y1 (${y1}) must be ≤ y2 (${y2})` });
  if (e.ended_at !== undefined && Date.parse(e.ended_at) < Date.parse(e.started_at))
    out.push({ path: `${at}/ended_at`, message: 'must not precede started_at' });
  if (e.media_start !== undefined && e.media_end !== undefined && Date.parse(e.media_end) < Date.parse(e.media_start)) {
    out.push({ path: `${at}/media_end`, message: 'must not precede media_start' });
  }
  return out;
}

export const EventBatch = wireObject(
  {
    v: V,
    events: Type.Array(embed(Event, 'One event message (see Event).'), {
      minItems: 1,
      maxItems: BATCH_MAX_EVENTS,
      description: `1-${BATCH_MAX_EVENTS} event messages, each acked individually by (id, rev). May mix events of different cameras of the same device.`,
    }),
  },
  {
    ...top('event-batch', 'EventBatch'),
    description:
      'Several event messages in one body, same topic/endpoint as a single Event (a reader tells them apart by the `events` array). The batch is not atomic: each item is accepted, duplicate or rejected on its own.',
  },
);
export type EventBatch = Static<typeof EventBatch>;

// ---------------------------------------------------------------------------------------------------------------
// Heartbeat
// ---------------------------------------------------------------------------------------------------------------

export const CAMERA_STATES = ['starting', 'running', 'stalled', 'reconnecting', 'stopped', 'error'] as const;
export type CameraState = (typeof CAMERA_STATES)[number];

const CameraStatus = wireObject(
  {
    name: Type.String({ pattern: CAMERA_NAME_PATTERN, description: 'Camera name as configured on the box.' }),
    state: Type.Union(
      CAMERA_STATES.map((s) => Type.Literal(s)),
      {
        description:
          'starting: opening the stream; running: frames arriving; stalled: no frame for longer than the stall timeout; reconnecting: stream lost, retrying with backoff; stopped: disabled by config; error: gave up (e.g. bad URL).',
      },
    ),
    fps: Type.Number({ minimum: 0, description: 'Frames per second actually analysed over the last interval.' }),
    last_frame_age_s: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], {
      description: 'Seconds since the last frame was received; null if none yet.',
    }),
    restarts: Type.Integer({
      minimum: 0,
      maximum: INTEGER_MAX,
      description: 'Times the camera pipeline was restarted since the agent started.',
    }),
  },
  { description: 'State of one camera pipeline.' },
);

export const OutboxStatus = wireObject(
  {
    depth: Type.Integer({
      minimum: 0,
      maximum: INTEGER_MAX,
      description: 'Items (event messages and thumbnails) waiting to be delivered.',
    }),
    oldest_pending_age_s: Type.Union([Type.Number({ minimum: 0 }), Type.Null()], {
      description: 'Age in seconds of the oldest waiting item; null when the outbox is empty.',
    }),
    dropped: Type.Integer({
      minimum: 0,
      maximum: INTEGER_MAX,
      description:
        'Items and event messages that will never be delivered, since the agent started: rejected as undeliverable, evicted by the disk cap, refused over the cap, or lost from memory on a full disk.',
    }),
    in_flight: Type.Integer({ minimum: 0, maximum: INTEGER_MAX, description: 'Items sent and awaiting their ack.' }),
    disk_full: Type.Optional(
      Type.Boolean({
        description:
          'True while the outbox volume is full: queued items are still sent, new events are still kept (without thumbnails; in memory when the disk cannot take even their record) and written once space is freed.',
      }),
    ),
    refused: Type.Optional(
      wireObject(
        {
          disk_full: Type.Integer({
            minimum: 0,
            maximum: INTEGER_MAX,
            description:
              'Event messages the full disk could not take when they came (kept in memory and written once space returned, unless the agent stopped first).',
          }),
          outbox_full: Type.Integer({
            minimum: 0,
            maximum: INTEGER_MAX,
            description:
              'Event messages refused because the outbox reached its size cap (lost; also counted in dropped).',
          }),
        },
        {
          description:
            'Event messages the outbox could not store when they came, by cause. Cumulative counts kept in the outbox database: a restart does not reset them.',
        },
      ),
    ),
    thumbnails_skipped: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: INTEGER_MAX,
        description:
          'Events queued without their thumbnail because it could not be written. Cumulative, kept in the outbox database.',
      }),
    ),
  },
  { description: 'State of the store-and-forward outbox.' },
);

export const Heartbeat = wireObject(
  {
    v: V,
    device_id: DeviceId('Device sending the heartbeat; must equal the signing device.'),
    sent_at: DateTime(
      'When the heartbeat was produced (box clock corrected by its offset). Also identifies the heartbeat in an ack.',
    ),
    uptime_s: Type.Number({ minimum: 0, description: 'Seconds since the agent process started.' }),
    version: Type.String({ minLength: 1, maxLength: 64, description: 'Agent/firmware version, e.g. 0.1.0.' }),
    outbox: OutboxStatus,
    cameras: Type.Array(CameraStatus, {
      maxItems: HEARTBEAT_CAMERAS_MAX,
      description: `One entry per configured camera (at most ${HEARTBEAT_CAMERAS_MAX}).`,
    }),
    disk_free_bytes: Type.Optional(
      Type.Integer({ minimum: 0, maximum: INTEGER_MAX, description: 'Free bytes on the volume holding the outbox.' }),
    ),
    last_ack_at: Type.Optional(
      Type.Union([DateTime('When the box last received an ack.'), Type.Null()], {
        description: 'When the box last received an ack (date-time), or null if never.',
      }),
    ),
    boot_id: Type.Optional(
      Type.String({
        pattern: '^[0-9A-Za-z_-]{1,64}$',
        description:
          'Random id the agent draws at every start (a ULID), the same in every heartbeat of one run. When it changes, the collector knows the box restarted and ends, after its quiet time, the events left open by the previous run that the box does not end itself.',
      }),
    ),
  },
  {
    ...top('heartbeat', 'Heartbeat'),
    description:
      'Periodic health report (default every 30 s). MQTT `vigil/v1/{device_id}/heartbeat` or HTTP `POST /v1/devices/{device_id}/heartbeat`. Not stored in the outbox: a lost heartbeat is replaced by the next one.',
  },
);
export type Heartbeat = Static<typeof Heartbeat>;

// ---------------------------------------------------------------------------------------------------------------
// Ack
// ---------------------------------------------------------------------------------------------------------------

export const ACK_KINDS = ['event', 'thumbnail', 'heartbeat'] as const;
export const ACK_STATUSES = ['accepted', 'duplicate', 'rejected'] as const;
export type AckKind = (typeof ACK_KINDS)[number];
export type AckStatus = (typeof ACK_STATUSES)[number];

export const AckItem = wireObject(
  {
    id: Type.String({
      minLength: 1,
      maxLength: 64,
      description:
        "What is acked: the event id for kind event and thumbnail; the heartbeat's `sent_at` for kind heartbeat.",
    }),
    rev: Type.Integer({
      minimum: 0,
      maximum: INTEGER_MAX,
      description: "The event message's rev for kind event; 0 for thumbnail and heartbeat.",
    }),
    kind: Type.Union(
      ACK_KINDS.map((k) => Type.Literal(k)),
      { description: 'Kind of item acked.' },
    ),
    status: Type.Union(
      ACK_STATUSES.map((s) => Type.Literal(s)),
      {
        description:
          'accepted: stored now; duplicate: already stored earlier (identical) — also final; rejected: will never be accepted as sent (see code). After accepted or duplicate the box deletes the item from its outbox; after rejected it moves it to its dead-letter store.',
      },
    ),
    code: Type.Optional(
      Type.String({
        pattern: '^[a-z][a-z0-9_]{0,63}$',
        description: 'Wire error code (see errors) when status is rejected.',
      }),
    ),
    message: Type.Optional(Type.String({ maxLength: 512, description: 'Human-readable reason, for logs only.' })),
  },
  { description: 'The fate of one item.' },
);
export type AckItem = Static<typeof AckItem>;

export const Ack = wireObject(
  {
    v: V,
    acks: Type.Array(AckItem, {
      maxItems: BATCH_MAX_EVENTS,
      description: 'One entry per item of the request/message being acked (empty only when nothing was acked).',
    }),
    server_time: DateTime('Collector clock when the ack was made; the box may use it to correct its clock offset.'),
  },
  {
    ...top('ack', 'Ack'),
    description:
      "Collector → device: the end-to-end receipt. HTTP: the 200 response body of an ingest request. MQTT: published at QoS 1 on `vigil/v1/{device_id}/acks` inside the signed envelope, signed by the collector with the device's own secret (method MQTT, path = the ack topic) so the device can reject forged acks. A broker PUBACK is NOT delivery; only an ack naming the item is.",
  },
);
export type Ack = Static<typeof Ack>;

// ---------------------------------------------------------------------------------------------------------------
// Availability
// ---------------------------------------------------------------------------------------------------------------

export const Availability = wireObject(
  {
    v: V,
    state: Type.Union([Type.Literal('online'), Type.Literal('offline')], {
      description:
        'online: published (retained) after connecting; offline: the Last Will, published by the broker when the connection dies, or by the box on clean shutdown.',
    }),
    at: DateTime(
      'When the box wrote this state (for the LWT: when the connection was made, as the will is registered then).',
    ),
  },
  {
    ...top('availability', 'Availability'),
    description:
      'Retained, unsigned, informational presence on `vigil/v1/{device_id}/availability` (QoS 1, retain). The broker publishes the offline will when the box disappears. Never trusted for anything but display: heartbeats are the signed liveness signal.',
  },
);
export type Availability = Static<typeof Availability>;

// ---------------------------------------------------------------------------------------------------------------
// Pairing
// ---------------------------------------------------------------------------------------------------------------

export const PairingRequest = wireObject(
  {
    v: V,
    code: Type.String({
      pattern: '^[A-Za-z0-9]{4}(?:-?[A-Za-z0-9]{4}){1,3}$',
      description:
        'One-time pairing code shown by the cloud app, e.g. K7QX-M2PD (case-insensitive; the dash is optional).',
    }),
    name: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'Name the owner gives the box, e.g. garage.' }),
    ),
    hardware: Type.Optional(
      Type.String({ minLength: 1, maxLength: 128, description: 'Hardware description, e.g. rpi5-8gb.' }),
    ),
    agent_version: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Agent/firmware version.' })),
  },
  {
    ...top('pairing-request', 'PairingRequest'),
    description: 'Box → collector: `POST /v1/pair` over HTTPS only, unsigned (the one-time code is the credential).',
  },
);
export type PairingRequest = Static<typeof PairingRequest>;

const MqttCredentials = (description: string) =>
  wireObject(
    {
      username: Type.String({
        minLength: 1,
        maxLength: 128,
        description: 'Broker username (the collector issues the device id). Client id MUST be the device id.',
      }),
      password: Type.String({ minLength: 16, maxLength: 256, description: 'Broker password, random. Never logged.' }),
    },
    { description },
  );

export const PairingResponse = wireObject(
  {
    v: V,
    device_id: DeviceId('The id the collector assigned to this box.'),
    key_id: Type.String({
      pattern: KEY_ID_PATTERN,
      description: 'Id of the issued key; sent as X-Vigil-Key-Id / envelope kid.',
    }),
    secret_b64: Type.String({
      pattern: '^[A-Za-z0-9+/]{43}=$',
      description:
        'The device secret: 32 random bytes, standard padded base64. The HMAC key is the DECODED bytes. Store it with owner-only permissions; never log it.',
    }),
    endpoints: wireObject(
      {
        https: Type.String({
          format: 'uri',
          pattern: '^https?://',
          description: "Base URL of the collector's HTTPS ingest, e.g. https://vigil.example.com.",
        }),
        mqtt: Type.Optional(
          Type.String({
            format: 'uri',
            pattern: '^(mqtts?|wss?)://',
            description: 'Broker URL, e.g. mqtts://mqtt.example.com:8883; absent when the deployment is HTTPS-only.',
          }),
        ),
      },
      { description: 'Where to send.' },
    ),
    topics: wireObject(
      {
        prefix: Type.String({
          pattern: '^vigil/v1/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
          description: 'Topic prefix of this device: vigil/v1/{device_id}.',
        }),
      },
      { description: 'MQTT topic layout.' },
    ),
    server_time: DateTime('Collector clock; the box sets its clock offset from it.'),
    mqtt_credentials: Type.Optional(
      MqttCredentials(
        "The box's own broker login (section 1.5), present when the deployment provisions broker access. Sent once: store it with the secret (owner-only). Absent: connect as the deployment documents, or ask later with `POST /v1/devices/{device_id}/broker-credentials`.",
      ),
    ),
  },
  {
    ...top('pairing-response', 'PairingResponse'),
    description: 'Collector → box: the 200 response of `POST /v1/pair`. The only time the secret crosses the wire.',
  },
);
export type PairingResponse = Static<typeof PairingResponse>;
export type MqttCredentials = NonNullable<PairingResponse['mqtt_credentials']>;

export const BrokerCredentials = wireObject(
  {
    v: V,
    device_id: DeviceId('The device the login belongs to (the signing device).'),
    mqtt_credentials: MqttCredentials(
      'A fresh broker login for this device. Any earlier password of this device stops working.',
    ),
  },
  {
    ...top('broker-credentials', 'BrokerCredentials'),
    description:
      'Collector → box: the 200 response of the signed `POST /v1/devices/{device_id}/broker-credentials` (empty body), for a box that has no broker login (paired before the deployment provisioned broker access) or whose login the broker refuses (after a key rotation).',
  },
);
export type BrokerCredentials = Static<typeof BrokerCredentials>;

// ---------------------------------------------------------------------------------------------------------------
// Error body
// ---------------------------------------------------------------------------------------------------------------

export const ErrorBody = wireObject(
  {
    error: wireObject(
      {
        code: Type.String({
          pattern: '^[a-z][a-z0-9_]{0,63}$',
          description: 'Stable snake_case error code (see the error catalogue).',
        }),
        message: Type.String({ maxLength: 2048, description: 'What is wrong and where, for humans and logs.' }),
        request_id: Type.String({
          minLength: 1,
          maxLength: 128,
          description: "Id of the request in the collector's logs.",
        }),
        details: Type.Optional(
          Type.Record(Type.String(), Type.Unknown(), {
            description:
              'Structured context, e.g. {skew_s, server_time} for timestamp_out_of_tolerance, {issues} for invalid_message.',
          }),
        ),
      },
      { description: 'The error.' },
    ),
  },
  {
    ...top('error', 'Error'),
    description: 'HTTP error response body (any 4xx/5xx from the collector). Content-Type application/json.',
  },
);
export type ErrorBody = Static<typeof ErrorBody>;

// ---------------------------------------------------------------------------------------------------------------
// MQTT signing envelope (shape defined by shared/signing; schema here for docs and non-TS readers)
// ---------------------------------------------------------------------------------------------------------------

export const MqttEnvelopeSchema = wireObject(
  {
    v: Type.Literal(1, { description: 'Envelope version; 1 = signing scheme v1.' }),
    device: DeviceId('Signing device id (for acks: the device the ack is for).'),
    kid: Type.String({ pattern: KEY_ID_PATTERN, description: 'Key id used to sign.' }),
    ts: Type.Integer({ minimum: 0, maximum: INTEGER_MAX, description: 'Unix time in seconds when signed.' }),
    nonce: Type.String({
      pattern: '^[A-Za-z0-9_-]{8,64}$',
      description: 'Fresh random nonce, 8-64 chars of [A-Za-z0-9_-] (the agent uses 16 random bytes base64url).',
    }),
    sha256: Sha256('Lowercase hex SHA-256 of the body bytes (the decoded body_b64).'),
    sig: Type.String({
      pattern: '^[A-Za-z0-9+/]{43}=$',
      description: 'base64 (standard, padded) HMAC-SHA256 over the string to sign; no v1= prefix.',
    }),
    body_b64: Type.String({
      format: 'byte',
      description: 'The message body (JSON bytes or JPEG bytes), standard padded base64.',
    }),
  },
  {
    ...top('envelope', 'MqttEnvelope'),
    description:
      'Every signed MQTT payload (events, heartbeats, thumbnails, acks) is this JSON object; the message itself is body_b64.',
  },
);
export type MqttEnvelopeMessage = Static<typeof MqttEnvelopeSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Validators
// ---------------------------------------------------------------------------------------------------------------

/** A validator that also applies cross-field rules after the schema passes. */
function withRules<T extends TSchema>(base: Validator<T>, rules: (value: Static<T>) => SchemaIssue[]): Validator<T> {
  const issues = (value: unknown, max = 10): SchemaIssue[] => {
    const schemaIssues = base.issues(value, max);
    if (schemaIssues.length > 0) return schemaIssues;
    return rules(value as Static<T>).slice(0, max);
  };
  return {
    schema: base.schema,
    check: (value: unknown): value is Static<T> => base.check(value) && rules(value as Static<T>).length === 0,
    issues,
    parse(value: unknown, where?: string): Static<T> {
      const found = issues(value);
      if (found.length === 0) return value as Static<T>;
      const prefix = where ? `${where}: ` : '';
      throw new VigilError('invalid_message', prefix + found.map((i) => `${i.path}: ${i.message}`).join('; '), {
        details: { issues: found },
      });
    },
  };
}

export const validateEvent = withRules(validator(Event), (e) => eventRuleIssues(e));
export const validateEventBatch = withRules(validator(EventBatch), (b) =>
  b.events.flatMap((e, i) => eventRuleIssues(e, `/events/${i}`)),
);
export const validateHeartbeat = validator(Heartbeat);
export const validateThumbnailInfo = validator(ThumbnailInfo);
export const validateAck = validator(Ack);
export const validateAvailability = validator(Availability);
export const validatePairingRequest = validator(PairingRequest);
export const validatePairingResponse = validator(PairingResponse);
export const validateBrokerCredentials = validator(BrokerCredentials);
export const validateErrorBody = validator(ErrorBody);
export const validateMqttEnvelope = validator(MqttEnvelopeSchema, {
  code: 'signature_malformed',
  registry: VigilError,
});

/** Every top-level message kind: its file name in schemas/ and examples/, schema and validator. */
export const MESSAGE_KINDS = {
  event: { schema: Event, validate: validateEvent },
  'event-batch': { schema: EventBatch, validate: validateEventBatch },
  heartbeat: { schema: Heartbeat, validate: validateHeartbeat },
  'thumbnail-info': { schema: ThumbnailInfo, validate: validateThumbnailInfo },
  ack: { schema: Ack, validate: validateAck },
  availability: { schema: Availability, validate: validateAvailability },
  'pairing-request': { schema: PairingRequest, validate: validatePairingRequest },
  'pairing-response': { schema: PairingResponse, validate: validatePairingResponse },
  'broker-credentials': { schema: BrokerCredentials, validate: validateBrokerCredentials },
  error: { schema: ErrorBody, validate: validateErrorBody },
  envelope: { schema: MqttEnvelopeSchema, validate: validateMqttEnvelope },
} as const;
export type MessageKind = keyof typeof MESSAGE_KINDS;

/** Outer shape of a batch, items unchecked: lets a collector accept the good items of a batch and reject the bad ones. */
const EventBatchShell = Type.Object(
  { v: V, events: Type.Array(Type.Unknown(), { minItems: 1, maxItems: BATCH_MAX_EVENTS }) },
  { additionalProperties: true },
);
const validateEventBatchShell = validator(EventBatchShell);

/** One event of an events body that failed validation; `id`/`rev` are echoed when readable so it can be acked. */
export interface RejectedEvent {
  index: number;
  id: string | undefined;
  rev: number | undefined;
  issues: SchemaIssue[];
}

/**
 * Splits the body of the events topic / endpoint (a single Event or an EventBatch) into valid events and rejected
 * items. Throws `invalid_message` only when the body as a whole is unusable (not an object, bad batch shape).
 */
export function splitEventsBody(value: unknown): { events: Event[]; rejected: RejectedEvent[] } {
  const isBatch = typeof value === 'object' && value !== null && !Array.isArray(value) && 'events' in value;
  const items = isBatch ? validateEventBatchShell.parse(value, 'event batch').events : [value];
  const events: Event[] = [];
  const rejected: RejectedEvent[] = [];
  items.forEach((item, index) => {
    const issues = validateEvent.issues(item);
    if (issues.length === 0) {
      events.push(item as Event);
      return;
    }
    const rec = typeof item === 'object' && item !== null ? (item as Record<string, unknown>) : {};
    rejected.push({
      index,
      id: typeof rec.id === 'string' ? rec.id : undefined,
      rev: typeof rec.rev === 'number' && Number.isInteger(rec.rev) ? rec.rev : undefined,
      issues: isBatch ? issues.map((i) => ({ ...i, path: `/events/${index}${i.path === '/' ? '' : i.path}` })) : issues,
    });
  });
  return { events, rejected };
}

/** Strict form: a single Event or an EventBatch normalized to a list; throws `invalid_message` on any bad item. */
export function parseEventsBody(value: unknown): Event[] {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && 'events' in value)
    return validateEventBatch.parse(value, 'event batch').events;
  return [validateEvent.parse(value, 'event')];
}
