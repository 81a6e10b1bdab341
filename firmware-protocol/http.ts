import { VigilError } from './errors.js';
import { DEVICE_ID_RE, EVENT_ID_RE } from './patterns.js';

/**
 * HTTPS endpoints of protocol v1. Device ids and event ids contain only URL-safe characters, so paths need no
 * percent-encoding; the signed path is exactly the request-target (path + `?query` if any).
 *
 *   POST /v1/pair                                             PairingRequest → PairingResponse   unsigned
 *   POST /v1/devices/{device_id}/events                       Event | EventBatch → Ack           signed
 *   POST /v1/devices/{device_id}/heartbeat                    Heartbeat → Ack                    signed
 *   PUT  /v1/devices/{device_id}/events/{event_id}/thumbnail  JPEG → Ack                         signed
 *   POST /v1/devices/{device_id}/broker-credentials           (empty) → BrokerCredentials        signed
 */

export const HTTP_PATHS = {
  pair: '/v1/pair',
  events: '/v1/devices/:device_id/events',
  heartbeat: '/v1/devices/:device_id/heartbeat',
  thumbnail: '/v1/devices/:device_id/events/:event_id/thumbnail',
  brokerCredentials: '/v1/devices/:device_id/broker-credentials',
} as const;

export const CONTENT_TYPE = { json: 'application/json', jpeg: 'image/jpeg' } as const;

function device(id: string): string {
  if (!DEVICE_ID_RE.test(id))
    throw new VigilError(
      'invalid_device_id',
      `device id "${id.slice(0, 80)}" is not valid in a path (1-64 chars of [A-Za-z0-9_.-])`,
    );
  return id;
}

export function eventsPath(deviceId: string): string {
  return `/v1/devices/${device(deviceId)}/events`;
}

export function heartbeatPath(deviceId: string): string {
  return `/v1/devices/${device(deviceId)}/heartbeat`;
}

export function thumbnailPath(deviceId: string, eventId: string): string {
  if (!EVENT_ID_RE.test(eventId))
    throw new VigilError('invalid_event_id', `event id "${eventId.slice(0, 80)}" is not evt_<ULID>`);
  return `/v1/devices/${device(deviceId)}/events/${eventId}/thumbnail`;
}

export function brokerCredentialsPath(deviceId: string): string {
  return `/v1/devices/${device(deviceId)}/broker-credentials`;
}

export function pairPath(): string {
  return HTTP_PATHS.pair;
}
