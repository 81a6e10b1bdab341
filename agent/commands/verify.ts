import type { Clock } from '../../shared/clock/index.js';
import {
  MemoryNonceCache,
  parseMqttEnvelope,
  SigningErrorCode,
  verifySignedMessage,
  type DeviceCredentials,
} from '../../shared/signing/index.js';
import { COMMAND_MAX_BYTES, CLOCK_TOLERANCE_S } from '../../firmware-protocol/limits.js';
import { validateCommand, type Command } from '../../firmware-protocol/messages.js';
import { commandsTopic } from '../../firmware-protocol/topics.js';
import { isVigilError, VigilError } from '../errors.js';

/** A command that passed every check of its envelope and body. */
export interface VerifiedCommand {
  command: Command;
  /**
   * The envelope was good but its nonce was seen before (the same signed message again: an MQTT QoS 1 redelivery or
   * a replay). The executor treats it as a duplicate when the id was accepted before, else drops it.
   */
  replayed: boolean;
}

/**
 * Checks one signed command envelope (firmware-protocol PROTOCOL.md §6), in the protocol's order: envelope
 * well-formed (and at most COMMAND_MAX_BYTES), envelope device = this box, signature with this box's own key
 * (constant time; timestamp within ±300 s of the corrected clock; nonce not seen before), body a valid Command,
 * `device_id` = this box. Both transports sign the envelope with method MQTT and path = the box's commands topic,
 * so this is the one verifier. Throws a VigilError naming the reason (a signing code, `payload_too_large`,
 * `invalid_json`, `invalid_message`); the command must then be dropped without a result — it cannot be trusted to
 * name a real command.
 */
export class CommandVerifier {
  private readonly nonces: MemoryNonceCache;
  private readonly topic: string;

  constructor(
    private readonly creds: DeviceCredentials,
    private readonly clock: Clock,
    private readonly toleranceS = CLOCK_TOLERANCE_S,
  ) {
    this.nonces = new MemoryNonceCache(clock);
    this.topic = commandsTopic(creds.deviceId);
  }

  async verify(envelope: Uint8Array): Promise<VerifiedCommand> {
    if (envelope.length > COMMAND_MAX_BYTES) {
      const message = `command envelope is ${envelope.length} bytes; the protocol allows ${COMMAND_MAX_BYTES}`;
      throw new VigilError('payload_too_large', message);
    }
    const { message, body } = parseMqttEnvelope(envelope, this.topic);
    const own = this.creds.deviceId;
    if (message.deviceId !== own) {
      const what = `command envelope names device ${message.deviceId.slice(0, 80)}, this box is ${own}`;
      throw new VigilError(SigningErrorCode.deviceMismatch, what);
    }
    const keys = () => [{ keyId: this.creds.keyId, secret: this.creds.secret }];
    let replayed = false;
    try {
      await verifySignedMessage(message, { keys, nonces: this.nonces, clock: this.clock, toleranceS: this.toleranceS });
    } catch (err) {
      // The nonce is checked last, after the signature: a replayed nonce is a genuine message seen again.
      if (!isVigilError(err, SigningErrorCode.replay)) throw err;
      replayed = true;
    }
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch {
      throw new VigilError('invalid_json', 'command body is not JSON');
    }
    const command = validateCommand.parse(value, 'command');
    if (command.device_id !== own) {
      const what = `command ${command.id} is for device ${command.device_id}, this box is ${own}`;
      throw new VigilError(SigningErrorCode.deviceMismatch, what);
    }
    return { command, replayed };
  }
}
