import { VigilError } from './errors.js';
import { DEVICE_ID_RE, EVENT_ID_RE } from './patterns.js';

/**
 * MQTT topic layout of protocol v1. Every topic starts with `vigil/v1/{device_id}/`; the device id in the topic
 * must equal the device that signed the envelope (the verifier enforces it).
 *
 *   vigil/v1/{device_id}/events                  device → cloud  Event or EventBatch   QoS 1, signed
 *   vigil/v1/{device_id}/heartbeat               device → cloud  Heartbeat             QoS 0 or 1, signed
 *   vigil/v1/{device_id}/thumbnails/{event_id}   device → cloud  JPEG bytes            QoS 1, signed
 *   vigil/v1/{device_id}/acks                    cloud → device  Ack                   QoS 1, signed by the collector
 *   vigil/v1/{device_id}/availability            device (LWT)    Availability          QoS 1, retained, unsigned
 *   vigil/v1/{device_id}/commands                cloud → device  Command               QoS 1, signed by the collector
 *   vigil/v1/{device_id}/results                 device → cloud  CommandResult         QoS 1, signed
 */

export const TOPIC_ROOT = 'vigil';
export const PROTOCOL_VERSION = 1;
/** `vigil/v1`: prefix of every v1 topic. */
export const TOPIC_PREFIX = `${TOPIC_ROOT}/v${PROTOCOL_VERSION}`;
/** Shared-subscription group of the collectors (MQTT 5 `$share/{group}/…`, also understood by Mosquitto over 3.1.1). */
export const SHARED_GROUP = 'vigil-cloud';

export type TopicKind = 'events' | 'heartbeat' | 'thumbnail' | 'acks' | 'availability' | 'commands' | 'results';

export type ParsedTopic =
  | { kind: 'events'; deviceId: string }
  | { kind: 'heartbeat'; deviceId: string }
  | { kind: 'thumbnail'; deviceId: string; eventId: string }
  | { kind: 'acks'; deviceId: string }
  | { kind: 'availability'; deviceId: string }
  | { kind: 'commands'; deviceId: string }
  | { kind: 'results'; deviceId: string };

function badTopic(message: string, topic: string): VigilError {
  return new VigilError('invalid_topic', `${message} (topic "${topic.slice(0, 200)}")`, {
    details: { topic: topic.slice(0, 200) },
  });
}

function checkDevice(deviceId: string): string {
  if (!DEVICE_ID_RE.test(deviceId)) {
    throw new VigilError(
      'invalid_topic',
      `device id "${deviceId.slice(0, 80)}" cannot be used in a topic: 1-64 chars of [A-Za-z0-9_.-] starting ` +
        'alphanumeric (never / + #)',
    );
  }
  return deviceId;
}

function checkEvent(eventId: string): string {
  if (!EVENT_ID_RE.test(eventId))
    throw new VigilError('invalid_topic', `event id "${eventId.slice(0, 80)}" is not evt_<ULID>`);
  return eventId;
}

/** `vigil/v1/{device_id}`: the per-device prefix handed out at pairing. */
export function devicePrefix(deviceId: string): string {
  return `${TOPIC_PREFIX}/${checkDevice(deviceId)}`;
}

export function eventsTopic(deviceId: string): string {
  return `${devicePrefix(deviceId)}/events`;
}

export function heartbeatTopic(deviceId: string): string {
  return `${devicePrefix(deviceId)}/heartbeat`;
}

export function thumbnailTopic(deviceId: string, eventId: string): string {
  return `${devicePrefix(deviceId)}/thumbnails/${checkEvent(eventId)}`;
}

export function acksTopic(deviceId: string): string {
  return `${devicePrefix(deviceId)}/acks`;
}

export function availabilityTopic(deviceId: string): string {
  return `${devicePrefix(deviceId)}/availability`;
}

export function commandsTopic(deviceId: string): string {
  return `${devicePrefix(deviceId)}/commands`;
}

export function resultsTopic(deviceId: string): string {
  return `${devicePrefix(deviceId)}/results`;
}

/** Builds the topic of a parsed description (inverse of parseTopic). */
export function buildTopic(t: ParsedTopic): string {
  switch (t.kind) {
    case 'events':
      return eventsTopic(t.deviceId);
    case 'heartbeat':
      return heartbeatTopic(t.deviceId);
    case 'thumbnail':
      return thumbnailTopic(t.deviceId, t.eventId);
    case 'acks':
      return acksTopic(t.deviceId);
    case 'availability':
      return availabilityTopic(t.deviceId);
    case 'commands':
      return commandsTopic(t.deviceId);
    case 'results':
      return resultsTopic(t.deviceId);
  }
}

/**
 * Parses a v1 topic. Throws VigilError `invalid_topic` for anything else — including a topic with an unknown last
 * segment: a v1 collector drops (and logs) messages on topics it does not know rather than guessing.
 */
export function parseTopic(topic: string): ParsedTopic {
  const parts = topic.split('/');
  if (parts[0] !== TOPIC_ROOT || parts[1] !== `v${PROTOCOL_VERSION}`)
    throw badTopic(`topic must start with ${TOPIC_PREFIX}/`, topic);
  const deviceId = parts[2] ?? '';
  if (!DEVICE_ID_RE.test(deviceId)) throw badTopic('bad device id segment', topic);
  const rest = parts.slice(3);
  if (rest.length === 1) {
    switch (rest[0]) {
      case 'events':
        return { kind: 'events', deviceId };
      case 'heartbeat':
        return { kind: 'heartbeat', deviceId };
      case 'acks':
        return { kind: 'acks', deviceId };
      case 'availability':
        return { kind: 'availability', deviceId };
      case 'commands':
        return { kind: 'commands', deviceId };
      case 'results':
        return { kind: 'results', deviceId };
    }
  }
  if (rest.length === 2 && rest[0] === 'thumbnails') {
    const eventId = rest[1] ?? '';
    if (!EVENT_ID_RE.test(eventId)) throw badTopic('bad event id segment (expected evt_<ULID>)', topic);
    return { kind: 'thumbnail', deviceId, eventId };
  }
  throw badTopic('unknown v1 topic', topic);
}

/** Like parseTopic, but returns undefined instead of throwing. */
export function tryParseTopic(topic: string): ParsedTopic | undefined {
  try {
    return parseTopic(topic);
  } catch {
    return undefined;
  }
}

/** Plain (unshared) filters: the device subscribes to its acks; a monitor may subscribe to availability. */
export const TOPIC_FILTERS = {
  events: `${TOPIC_PREFIX}/+/events`,
  heartbeat: `${TOPIC_PREFIX}/+/heartbeat`,
  thumbnails: `${TOPIC_PREFIX}/+/thumbnails/+`,
  acks: `${TOPIC_PREFIX}/+/acks`,
  availability: `${TOPIC_PREFIX}/+/availability`,
  commands: `${TOPIC_PREFIX}/+/commands`,
  results: `${TOPIC_PREFIX}/+/results`,
} as const;

/**
 * Filters the collectors subscribe to. Events, heartbeats and thumbnails go to a shared subscription so that each
 * message reaches exactly one collector instance. Availability is subscribed to WITHOUT sharing: brokers do not
 * deliver retained messages to a new shared subscription (MQTT 5 §4.8.2), and every instance may want the state.
 */
export const COLLECTOR_SUBSCRIPTIONS = {
  events: `$share/${SHARED_GROUP}/${TOPIC_FILTERS.events}`,
  heartbeat: `$share/${SHARED_GROUP}/${TOPIC_FILTERS.heartbeat}`,
  thumbnails: `$share/${SHARED_GROUP}/${TOPIC_FILTERS.thumbnails}`,
  results: `$share/${SHARED_GROUP}/${TOPIC_FILTERS.results}`,
  availability: TOPIC_FILTERS.availability,
} as const;

/** The topic a device subscribes to for its acks (exact, no wildcard: a device sees only its own acks). */
export function deviceSubscription(deviceId: string): string {
  return acksTopic(deviceId);
}

/** The topics a device subscribes to: its acks and its commands (exact, no wildcard). */
export function deviceSubscriptions(deviceId: string): string[] {
  return [acksTopic(deviceId), commandsTopic(deviceId)];
}
