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
 *   GET  /v1/devices/{device_id}/commands?wait=S              (empty) → CommandPoll              signed, long-poll
 *   POST /v1/devices/{device_id}/results                      CommandResult → Ack                signed
 */

export const HTTP_PATHS = {
  pair: '/v1/pair',
  events: '/v1/devices/:device_id/events',
  heartbeat: '/v1/devices/:device_id/heartbeat',
  thumbnail: '/v1/devices/:device_id/events/:event_id/thumbnail',
  brokerCredentials: '/v1/devices/:device_id/broker-credentials',
  commands: '/v1/devices/:device_id/commands',
  results: '/v1/devices/:device_id/results',
} as const;

/** How long the collector holds a command long-poll open when the box asks for no `wait`, and at most (seconds). */
export const COMMANDS_POLL_WAIT_DEFAULT_S = 25;
export const COMMANDS_POLL_WAIT_MAX_S = 30;

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

export function resultsPath(deviceId: string): string {
  return `/v1/devices/${device(deviceId)}/results`;
}

/** The command long-poll's request-target (path and query: what is signed), waiting up to `waitS` seconds. */
export function commandsPollPath(deviceId: string, waitS: number): string {
  const wait = Math.max(0, Math.min(COMMANDS_POLL_WAIT_MAX_S, Math.round(waitS)));
  return `/v1/devices/${device(deviceId)}/commands?wait=${wait}`;
}

export function pairPath(): string {
  return HTTP_PATHS.pair;
}
