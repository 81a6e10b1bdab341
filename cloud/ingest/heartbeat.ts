import { validateHeartbeat, type AckItem } from '../../firmware-protocol/messages.js';
import type { ResolvedIngestDeps } from './deps.js';
import { checkVersion, decodeJsonBody, wireError } from './errors.js';

/** Heartbeat body: validated, recorded with the signature's clock skew, acked by its `sent_at`. Throws wire errors. */
export async function ingestHeartbeat(
  deps: ResolvedIngestDeps,
  deviceId: string,
  body: Uint8Array,
  skewS: number,
  receivedAtMs: number,
): Promise<AckItem> {
  const limit = deps.config.body_limits.heartbeat_bytes;
  if (body.length > limit)
    throw wireError('payload_too_large', `heartbeat body is ${body.length} bytes; the limit is ${limit}`, { limit });
  const value = decodeJsonBody(body, 'heartbeat');
  checkVersion(value, 'heartbeat');
  const hb = validateHeartbeat.check(value) ? value : validateHeartbeat.parse(value, 'heartbeat');
  if (hb.device_id !== deviceId)
    throw wireError('device_mismatch', `heartbeat /device_id is ${hb.device_id}, but it is signed by ${deviceId}`);
  await deps.sink.recordHeartbeat(deviceId, hb, skewS, receivedAtMs);
  deps.metrics.counts.heartbeats++;
  deps.sink.publish({ type: 'heartbeat', deviceId, receivedAtMs, skewS });
  return { id: hb.sent_at, rev: 0, kind: 'heartbeat', status: 'accepted' };
}
