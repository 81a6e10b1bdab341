import { randomBytes } from 'node:crypto';
import type { Clock } from '../../../shared/clock/index.js';
import { newDeviceId, ulid } from '../../../shared/ids/index.js';
import { signMqttMessage, type DeviceCredentials } from '../../../shared/signing/index.js';
import type { Command } from '../../../firmware-protocol/messages.js';
import { commandsTopic } from '../../../firmware-protocol/topics.js';

/** Commands as the collector issues them, for the agent's command tests (PROTOCOL.md §6). */

export function testDevice(): DeviceCredentials {
  return { deviceId: newDeviceId(), keyId: 'k1', secret: randomBytes(32) };
}

export function commandId(nowMs = Date.now()): string {
  return `cmd_${ulid(nowMs)}`;
}

/** A Command for `deviceId`, issued now by `clock`, expiring in `ttlMs` (default 60 s). */
export function makeCommand(deviceId: string, clock: Clock, over: Partial<Command> & { ttlMs?: number } = {}): Command {
  const { ttlMs = 60_000, ...rest } = over;
  const now = clock.now();
  return {
    v: 1,
    id: commandId(now),
    device_id: deviceId,
    kind: 'status',
    args: {},
    issued_at: new Date(now).toISOString(),
    expires_at: new Date(now + ttlMs).toISOString(),
    ...rest,
  };
}

/**
 * The signed envelope of a command as the collector sends it on both transports: method MQTT, path = the box's
 * commands topic, signed with `creds` (the box's own key; another key to forge). `topicDevice` names the topic's
 * device when it differs (a command for another box).
 */
export function signCommand(
  creds: DeviceCredentials,
  command: Command | Record<string, unknown>,
  clock: Clock,
  topicDevice = creds.deviceId,
): Buffer {
  const body = Buffer.from(JSON.stringify(command), 'utf8');
  const env = signMqttMessage(creds, commandsTopic(topicDevice), body, { clock });
  return Buffer.from(JSON.stringify(env), 'utf8');
}

/** A logger destination that keeps the JSON lines. */
export function logLines(): { lines: string[]; write: (line: string) => void } {
  const lines: string[] = [];
  return { lines, write: (l: string) => void lines.push(l) };
}
