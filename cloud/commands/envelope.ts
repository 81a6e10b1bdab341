import type { Clock } from '../../shared/clock/index.js';
import { signMqttMessage, type DeviceKey, type MqttEnvelope } from '../../shared/signing/index.js';
import { envelopeBytesFor, COMMAND_MAX_BYTES } from '../../firmware-protocol/limits.js';
import type { Command } from '../../firmware-protocol/messages.js';
import { commandsTopic } from '../../firmware-protocol/topics.js';
import type { CommandRecord } from './types.js';

/**
 * A command on the wire: the Command body of a record, signed like an Ack — the MQTT envelope with the device's own
 * key (its newest active one), method MQTT, path `vigil/v1/{device}/commands` — for both transports (published on
 * that topic, or handed out by the long-poll), so the box has one verifier. Signed afresh at every hand-out (new
 * timestamp and nonce); the box tells a repeat by the command id.
 */
export function commandBody(c: Pick<CommandRecord, 'id' | 'deviceId' | 'kind' | 'args' | 'createdAt' | 'expiresAt'>) {
  const body: Command = {
    v: 1,
    id: c.id,
    device_id: c.deviceId,
    kind: c.kind,
    args: c.args,
    issued_at: new Date(c.createdAt).toISOString(),
    expires_at: new Date(c.expiresAt).toISOString(),
  };
  return body;
}

/** True when the command's envelope fits COMMAND_MAX_BYTES (checked when it is issued). */
export function fitsEnvelope(body: Command): boolean {
  return envelopeBytesFor(Buffer.byteLength(JSON.stringify(body))) <= COMMAND_MAX_BYTES;
}

/** Keys of a device, newest first (the verifier sink's `activeKeys`); undefined for an unknown or revoked device. */
export type DeviceKeys = (deviceId: string) => Promise<DeviceKey[] | undefined>;

/** The signed envelope of a command; undefined when the device has no active key (revoked meanwhile). */
export async function signCommand(c: CommandRecord, keys: DeviceKeys, clock: Clock): Promise<MqttEnvelope | undefined> {
  const key = (await keys(c.deviceId))?.[0];
  if (!key) return undefined;
  const creds = { deviceId: c.deviceId, keyId: key.keyId, secret: key.secret };
  return signMqttMessage(creds, commandsTopic(c.deviceId), Buffer.from(JSON.stringify(commandBody(c))), { clock });
}
