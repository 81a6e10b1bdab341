import { VigilError } from '../errors.js';
import { DEVICE_ID_RE } from '../../firmware-protocol/patterns.js';

/**
 * The HTTPS endpoints of the command channel (firmware-protocol PROTOCOL.md §6), as the box calls them:
 *
 *   GET  /v1/devices/{device_id}/commands?wait=S   (signed, empty body) → 200 CommandPoll   the long-poll
 *   POST /v1/devices/{device_id}/results           CommandResult → Ack (kind result)        signed
 */

function device(id: string): string {
  if (!DEVICE_ID_RE.test(id)) {
    throw new VigilError('invalid_device_id', `device id "${id.slice(0, 80)}" is not valid in a path`);
  }
  return id;
}

export function resultsPath(deviceId: string): string {
  return `/v1/devices/${device(deviceId)}/results`;
}

/** The long-poll's request-target (path and query: what is signed), waiting up to `waitS` seconds. */
export function commandsPollPath(deviceId: string, waitS: number): string {
  return `/v1/devices/${device(deviceId)}/commands?wait=${Math.max(0, Math.min(30, Math.round(waitS)))}`;
}
