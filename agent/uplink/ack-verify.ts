import type { Clock } from '../../shared/clock/index.js';
import { isVigilError, VigilError } from '../errors.js';
import {
  MemoryNonceCache,
  parseMqttEnvelope,
  SigningErrorCode,
  verifySignedMessage,
  type DeviceCredentials,
} from '../../shared/signing/index.js';
import { validateAck, type Ack } from '../../firmware-protocol/messages.js';

/**
 * Acks over MQTT are signed by the collector with this device's own secret (method MQTT, path = the ack topic).
 * Anything else on the ack topic (forged, altered, for another device) is refused: a forged ack could make the box
 * forget an event the collector never stored.
 *
 * Timestamps: when the box's clock is far off, every genuine ack would fail the ±300 s check — including the one
 * telling the box its clock is wrong. So an ack whose signature is valid but whose timestamp is out of tolerance is
 * still returned, marked `stale`: the uplink applies only idempotent facts from it (accepted/duplicate, which can
 * only repeat something true) and its clock correction; a replayed old ack can do no harm beyond that.
 */
export class AckVerifier {
  private readonly nonces: MemoryNonceCache;

  constructor(
    private readonly creds: DeviceCredentials,
    private readonly clock: Clock,
    private readonly toleranceS = 300,
  ) {
    this.nonces = new MemoryNonceCache(clock);
  }

  async verify(topic: string, payload: Uint8Array): Promise<{ ack: Ack; stale: boolean }> {
    const { message, body } = parseMqttEnvelope(payload, topic);
    if (message.deviceId !== this.creds.deviceId) {
      throw new VigilError(
        SigningErrorCode.deviceMismatch,
        `ack envelope names device ${message.deviceId}, expected ${this.creds.deviceId}`,
      );
    }
    const keys = () => [{ keyId: this.creds.keyId, secret: this.creds.secret }];
    let stale = false;
    try {
      await verifySignedMessage(message, { keys, nonces: this.nonces, clock: this.clock, toleranceS: this.toleranceS });
    } catch (err) {
      if (!isVigilError(err, SigningErrorCode.timestamp)) throw err;
      // Signature and nonce still checked, against the message's own time.
      await verifySignedMessage(message, {
        keys,
        nonces: this.nonces,
        clock: { now: () => message.timestamp * 1000 },
        toleranceS: this.toleranceS,
      });
      stale = true;
    }
    let value: unknown;
    try {
      value = JSON.parse(body.toString('utf8'));
    } catch {
      throw new VigilError('invalid_json', 'ack body is not JSON');
    }
    return { ack: validateAck.parse(value, 'ack'), stale };
  }
}
