import { expect } from 'vitest';
import {
  parseMqttEnvelope,
  signHttpRequest,
  verifySignedMessage,
  type DeviceCredentials,
  type MqttEnvelope,
  type NonceCache,
} from '../../../shared/signing/index.js';
import {
  validateCommand,
  validateCommandPoll,
  type Command,
  type CommandResult,
} from '../../../firmware-protocol/messages.js';
import { commandsTopic } from '../../../firmware-protocol/topics.js';

/**
 * The box's side of the command channel, for the collector's tests: its signed long-poll and its results.
 */

/**
 * The box's signed long-poll `GET {base}/v1/devices/{id}/commands?wait=…`: the answer's status and the commands in
 * it, each verified as a box verifies them (signed with the box's key, nonce unseen in `nonces`). A status other
 * than 200 comes back with no commands.
 */
export async function pollCommands(
  base: string,
  creds: DeviceCredentials,
  waitS: number,
  nonces: NonceCache,
): Promise<{ status: number; commands: Command[] }> {
  const path = `/v1/devices/${creds.deviceId}/commands?wait=${waitS}`;
  const res = await fetch(base + path, { headers: signHttpRequest(creds, 'GET', path, Buffer.alloc(0)) });
  if (res.status !== 200) return { status: res.status, commands: [] };
  const answer = validateCommandPoll.parse(await res.json());
  const commands: Command[] = [];
  for (const env of answer.commands as MqttEnvelope[]) {
    const { message, body } = parseMqttEnvelope(Buffer.from(JSON.stringify(env)), commandsTopic(creds.deviceId));
    await verifySignedMessage(message, { keys: () => [creds], nonces });
    commands.push(validateCommand.parse(JSON.parse(body.toString('utf8'))));
  }
  return { status: 200, commands };
}

/** `pollCommands` that must answer 200: its commands. */
export async function polledCommands(
  base: string,
  creds: DeviceCredentials,
  waitS: number,
  nonces: NonceCache,
): Promise<Command[]> {
  const { status, commands } = await pollCommands(base, creds, waitS, nonces);
  expect(status).toBe(200);
  return commands;
}

/** The box's result for `c`: `done`, finished now; `o` adds to it or overrides it. */
export function commandResult(c: Command, o: Partial<CommandResult> = {}): CommandResult {
  return {
    v: 1,
    kind: 'command_result',
    command_id: c.id,
    device_id: c.device_id,
    command_kind: c.kind,
    status: 'done',
    finished_at: new Date().toISOString(),
    ...o,
  };
}
