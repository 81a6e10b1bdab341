import { Type, type Static } from '@sinclair/typebox';
import { validator, type Validator } from '../../shared/schema/index.js';
import { CAMERA_NAME_PATTERN, ZONE_NAME_PATTERN } from '../patterns.js';

/**
 * What the box publishes on the owner's LAN broker (the `local_mqtt` integration), one TypeBox schema per payload,
 * exported to `firmware-protocol/local/schemas/` (`npm run protocol:export`). The topic layout is in README.md
 * beside this file. These payloads are unsigned and local: they never reach the collector.
 *
 * `ha-device-discovery` is Home Assistant's device-based MQTT discovery payload (`<discovery_prefix>/device/<id>/
 * config`) as HA documents it: abbreviated keys (`dev`, `o`, `cmps`, `p`, `uniq_id`, `stat_t`, …), `dev` and `o`
 * required at the root, each component with its platform `p` and a `unique_id`. Only the keys the box uses are
 * listed with their types; any other key is refused, so a typo fails the test instead of being ignored by HA.
 */

export const LocalEventSchema = Type.Object(
  {
    type: Type.Union([Type.Literal('new'), Type.Literal('update'), Type.Literal('end')], {
      description:
        'new when the event is announced, update on a change, end when the object left (or detection stopped)',
    }),
    id: Type.String({
      pattern: '^evt_[0-9A-HJKMNP-TV-Z]{26}$',
      description: 'Event id (evt_<ULID>), as the cloud has it',
    }),
    camera: Type.String({ pattern: CAMERA_NAME_PATTERN, description: 'Camera name' }),
    label: Type.String({ minLength: 1, description: "Object label, or 'motion' on a box without a detector" }),
    score: Type.Number({ minimum: 0, maximum: 1, description: 'Median of the last detection scores' }),
    top_score: Type.Number({ minimum: 0, maximum: 1, description: 'Highest median so far' }),
    box: Type.Tuple([Type.Number(), Type.Number(), Type.Number(), Type.Number()], {
      description: 'Latest box, normalised 0..1: [x1, y1, x2, y2]',
    }),
    zones: Type.Array(Type.String({ pattern: ZONE_NAME_PATTERN }), {
      uniqueItems: true,
      description: 'Zones the object entered so far, in order of entry',
    }),
    current_zones: Type.Array(Type.String({ pattern: ZONE_NAME_PATTERN }), {
      uniqueItems: true,
      description: 'Zones the object is in now',
    }),
    stationary: Type.Boolean({ description: 'The object has not moved for a while' }),
    started_at: Type.String({ format: 'date-time', description: 'First detection (UTC)' }),
    ended_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'Last detection (UTC); end only, else null',
    }),
    has_snapshot: Type.Boolean({
      description: 'A picture of this event is on `<prefix>/<camera>/<label>/snapshot` (retained JPEG)',
    }),
  },
  {
    $id: 'https://vigil.dev/schemas/local/event.json',
    title: 'LocalEvent',
    description: 'One event message on `<prefix>/events` (QoS 1, not retained).',
    additionalProperties: false,
  },
);
export type LocalEvent = Static<typeof LocalEventSchema>;

export const LocalReviewSchema = Type.Object(
  {
    type: Type.Union([Type.Literal('new'), Type.Literal('update'), Type.Literal('end')], {
      description: 'Lifecycle of the review item',
    }),
    id: Type.String({ minLength: 1, description: 'Review item id' }),
    camera: Type.String({ pattern: CAMERA_NAME_PATTERN, description: 'Camera name' }),
    severity: Type.Union([Type.Literal('alert'), Type.Literal('detection')], {
      description: 'alert (what the owner asked to be told about) or detection',
    }),
    labels: Type.Array(Type.String({ minLength: 1 }), { uniqueItems: true, description: 'Labels seen in the item' }),
    zones: Type.Array(Type.String({ pattern: ZONE_NAME_PATTERN }), {
      uniqueItems: true,
      description: 'Zones entered by objects of the item',
    }),
    objects: Type.Array(Type.String({ minLength: 1 }), { description: 'Event ids of the objects in the item' }),
    started_at: Type.String({ format: 'date-time', description: 'Start (UTC)' }),
    ended_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'End (UTC); end only, else null',
    }),
  },
  {
    $id: 'https://vigil.dev/schemas/local/review.json',
    title: 'LocalReview',
    description: 'One review message on `<prefix>/reviews` (QoS 1, not retained).',
    additionalProperties: false,
  },
);
export type LocalReview = Static<typeof LocalReviewSchema>;

export const LocalDiagnosticsSchema = Type.Object(
  {
    outbox_depth: Type.Integer({ minimum: 0, description: 'Items in the cloud outbox not yet acked' }),
    uplink: Type.Union(
      [Type.Literal('connected'), Type.Literal('connecting'), Type.Literal('paused'), Type.Literal('stopped')],
      { description: 'State of the cloud uplink' },
    ),
    cpu_temperature: Type.Union([Type.Number(), Type.Null()], {
      description: 'SoC temperature in °C when the box can read it, else null',
    }),
    local_dropped: Type.Integer({ minimum: 0, description: 'Local messages dropped (queue full) since the start' }),
  },
  {
    $id: 'https://vigil.dev/schemas/local/diagnostics.json',
    title: 'LocalDiagnostics',
    description: 'The box diagnostics on `<prefix>/diagnostics` (retained, every `diagnostics_interval_s`).',
    additionalProperties: false,
  },
);
export type LocalDiagnostics = Static<typeof LocalDiagnosticsSchema>;

// --- Home Assistant device discovery --------------------------------------------------------------------------

const ID = '^[a-zA-Z0-9_-]+$';
const Topic = (description: string) => Type.String({ minLength: 1, pattern: '^[^#+]+$', description });

export const HaDeviceSchema = Type.Object(
  {
    ids: Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], {
      description: 'identifiers: what makes the device one device in HA (every topic of the box sends the same)',
    }),
    name: Type.String({ minLength: 1, description: 'name of the device' }),
    mf: Type.Optional(Type.String({ description: 'manufacturer' })),
    mdl: Type.Optional(Type.String({ description: 'model' })),
    sw: Type.Optional(Type.String({ description: 'sw_version' })),
    hw: Type.Optional(Type.String({ description: 'hw_version' })),
    sn: Type.Optional(Type.String({ description: 'serial_number' })),
  },
  { additionalProperties: false, description: 'device (`dev`): required at the root of a device discovery payload' },
);

export const HaOriginSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'name of the software that published the discovery' }),
    sw: Type.Optional(Type.String({ description: 'sw_version' })),
    url: Type.Optional(Type.String({ pattern: '^https?://', description: 'support_url' })),
  },
  { additionalProperties: false, description: 'origin (`o`): required at the root of a device discovery payload' },
);

const Common = {
  p: Type.Union(
    [Type.Literal('binary_sensor'), Type.Literal('sensor'), Type.Literal('image'), Type.Literal('switch')],
    { description: 'platform (required per component)' },
  ),
  uniq_id: Type.String({ pattern: ID, description: 'unique_id (required per entity component; unique in HA)' }),
  name: Type.Union([Type.String({ minLength: 1 }), Type.Null()], {
    description: 'entity name (null: the device name)',
  }),
  obj_id: Type.Optional(Type.String({ pattern: ID, description: 'object_id: suggested entity id' })),
  ent_cat: Type.Optional(
    Type.Union([Type.Literal('diagnostic'), Type.Literal('config')], { description: 'entity_category' }),
  ),
  ic: Type.Optional(Type.String({ pattern: '^mdi:', description: 'icon' })),
  dev_cla: Type.Optional(Type.String({ minLength: 1, description: 'device_class' })),
};

export const HaComponentSchema = Type.Object(
  {
    ...Common,
    stat_t: Type.Optional(Topic('state_topic')),
    cmd_t: Type.Optional(Topic('command_topic (switch)')),
    img_t: Type.Optional(Topic('image_topic (image)')),
    cont_type: Type.Optional(Type.Literal('image/jpeg', { description: 'content_type of image_topic' })),
    val_tpl: Type.Optional(Type.String({ minLength: 1, description: 'value_template' })),
    pl_on: Type.Optional(Type.String({ description: 'payload_on' })),
    pl_off: Type.Optional(Type.String({ description: 'payload_off' })),
    stat_on: Type.Optional(Type.String({ description: 'state_on (switch)' })),
    stat_off: Type.Optional(Type.String({ description: 'state_off (switch)' })),
    unit_of_meas: Type.Optional(Type.String({ description: 'unit_of_measurement' })),
    stat_cla: Type.Optional(Type.Literal('measurement', { description: 'state_class' })),
    opt: Type.Optional(Type.Boolean({ description: 'optimistic (switch)' })),
    ret: Type.Optional(Type.Boolean({ description: 'retain (the command)' })),
  },
  { additionalProperties: false, description: 'One entity: platform, unique_id and its topics' },
);
export type HaComponent = Static<typeof HaComponentSchema>;

export const HaDeviceDiscoverySchema = Type.Object(
  {
    dev: HaDeviceSchema,
    o: HaOriginSchema,
    cmps: Type.Record(Type.String({ pattern: ID }), HaComponentSchema, {
      minProperties: 1,
      description: 'components (`cmps`): component id → entity config',
    }),
    avty_t: Topic('availability_topic shared by every component'),
    pl_avail: Type.String({ minLength: 1, description: 'payload_available' }),
    pl_not_avail: Type.String({ minLength: 1, description: 'payload_not_available' }),
    qos: Type.Optional(Type.Union([Type.Literal(0), Type.Literal(1), Type.Literal(2)], { description: 'qos' })),
  },
  {
    $id: 'https://vigil.dev/schemas/local/ha-device-discovery.json',
    title: 'HaDeviceDiscovery',
    description:
      'Home Assistant device-based discovery payload on `<discovery_prefix>/device/<object_id>/config` (retained; ' +
      'an empty retained payload removes its entities).',
    additionalProperties: false,
  },
);
export type HaDeviceDiscovery = Static<typeof HaDeviceDiscoverySchema>;

/** Every local payload kind with its schema (exported to schemas/<kind>.schema.json). */
export const LOCAL_KINDS = {
  event: LocalEventSchema,
  review: LocalReviewSchema,
  diagnostics: LocalDiagnosticsSchema,
  'ha-device-discovery': HaDeviceDiscoverySchema,
} as const;
export type LocalKind = keyof typeof LOCAL_KINDS;

export const validateLocalEvent: Validator<typeof LocalEventSchema> = validator(LocalEventSchema);
export const validateHaDiscovery: Validator<typeof HaDeviceDiscoverySchema> = validator(HaDeviceDiscoverySchema);
