import { createHmac, timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock } from '../../shared/clock/index.js';
import { isVigilError } from '../../shared/errors/index.js';
import type { Logger } from '../../shared/log/index.js';
import { silentLogger } from '../../shared/log/index.js';
import {
  DEFAULT_TOLERANCE_S,
  SigningErrorCode,
  stringToSign,
  verifySignedMessage,
  type DeviceCredentials,
  type DeviceKey,
  type SignedMessage,
} from '../../shared/signing/index.js';
import type { NonceClaim, VerifierSink } from './sink.js';

export type { DeviceContact, NonceClaim, VerifierSink } from './sink.js';

/**
 * Verification of device-signed messages for the collector: signing v1 (shared/signing) with the device keys and the
 * nonce store both taken from the sink (./sink.ts), so every collector sharing one database shares one replay window
 * and sees a revocation at once. The verifier also reports each device's clock skew to the status store (throttled).
 */
export interface VerifierOptions {
  sink: VerifierSink;
  clock?: Clock;
  /** ± seconds between a message timestamp and this collector's clock; also the replay window. */
  toleranceS?: number;
  /** Least time between two contact notes for one device (ms). */
  contactIntervalMs?: number;
  log?: Logger;
}

/** A verified message: who signed it, with which key (the collector signs that device's MQTT acks with it). */
export interface VerifiedDevice {
  deviceId: string;
  /** The key that matched, as credentials for signing replies to this device. */
  credentials: DeviceCredentials;
  /** Device clock minus collector clock, seconds. */
  skewS: number;
  /**
   * With `deferNonce`: the nonce, NOT yet recorded (and with `allow`, checked unused). Whoever asked for it must
   * record it, e.g. `sink.storeSignedEventMessages(…, nonce)`.
   */
  nonce?: NonceClaim;
}

export interface VerifyOptions {
  /**
   * Leave recording the nonce to the caller, in the transaction that stores the request (one commit instead of two,
   * and nothing left behind when storing fails). `reject` / `allow` is what a nonce found recorded at store time
   * means (see NonceClaim). With `allow` the nonce is also looked up now (read-only) and a recorded one refused
   * here; with `reject` the store's claim is the one check.
   */
  deferNonce?: NonceClaim['onReplay'];
}

export class DeviceVerifier {
  readonly clock: Clock;
  readonly toleranceS: number;
  private readonly contactIntervalMs: number;
  private readonly lastContact = new Map<string, number>();
  private readonly log: Logger;

  constructor(private readonly options: VerifierOptions) {
    this.clock = options.clock ?? systemClock;
    this.toleranceS = options.toleranceS ?? DEFAULT_TOLERANCE_S;
    this.contactIntervalMs = options.contactIntervalMs ?? 10_000;
    this.log = options.log ?? silentLogger();
  }

  /**
   * Verifies in the order of shared/signing (device → timestamp → body hash → HMAC → nonce); the nonce is burnt
   * only when the signature is good. Throws VigilError with a SigningErrorCode.
   */
  async verify(msg: SignedMessage, transport: 'http' | 'mqtt', options: VerifyOptions = {}): Promise<VerifiedDevice> {
    let keys: DeviceKey[] | undefined;
    let claim: NonceClaim | undefined;
    const sink = this.options.sink;
    const defer = options.deferNonce;
    const verified = await verifySignedMessage(msg, {
      keys: async (deviceId) => (keys = await sink.activeKeys(deviceId)),
      nonces: {
        // Reached only for a good signature, so forged traffic never records nor even looks up a nonce.
        remember: async (deviceId, nonce, expiresAtMs) => {
          if (defer === undefined) return sink.rememberNonce(deviceId, nonce, expiresAtMs);
          claim = { nonce, expiresAtMs, onReplay: defer };
          // `reject`: the claim in the storing transaction refuses a replay (nonce_replayed) with nothing written,
          // so a read here would only repeat that check, one statement more per request on the hot path.
          if (defer === 'reject') return true;
          return !(await sink.nonceRecorded(deviceId, nonce));
        },
      },
      clock: this.clock,
      toleranceS: this.toleranceS,
    });
    const key = keys?.find((k) => k.keyId === verified.keyId);
    // Cannot happen: verifySignedMessage matched it.
    if (!key) throw new Error(`verifier: matched key ${verified.keyId} vanished`);
    this.noteContact(verified.deviceId, verified.skewS, transport, key.keyId);
    return {
      deviceId: verified.deviceId,
      credentials: { deviceId: verified.deviceId, keyId: key.keyId, secret: key.secret },
      skewS: verified.skewS,
      ...(claim ? { nonce: claim } : {}),
    };
  }

  /**
   * For a message rejected as `timestamp_out_of_tolerance`: checks its HMAC alone (no nonce, no time window) and
   * returns the matching credentials, so MQTT ingest can send that device a signed `rejected` ack carrying
   * `server_time` — the only way a box without a hardware clock learns its offset over MQTT. Returns undefined for
   * anything not signed by an active key of the device.
   */
  async authenticateStale(msg: SignedMessage): Promise<DeviceCredentials | undefined> {
    if (msg.claimedSha256 !== msg.actualSha256) return undefined;
    const keys = await this.options.sink.activeKeys(msg.deviceId);
    if (!keys) return undefined;
    const presented = Buffer.from(msg.signature, 'base64');
    const text = stringToSign({ ...msg, bodySha256: msg.actualSha256 });
    for (const k of keys) {
      const expected = createHmac('sha256', k.secret).update(text, 'utf8').digest();
      if (expected.length === presented.length && timingSafeEqual(expected, presented)) {
        return { deviceId: msg.deviceId, keyId: k.keyId, secret: k.secret };
      }
    }
    return undefined;
  }

  private noteContact(deviceId: string, skewS: number, transport: 'http' | 'mqtt', keyId: string): void {
    const now = this.clock.now();
    const last = this.lastContact.get(deviceId);
    if (last !== undefined && now - last < this.contactIntervalMs) return;
    this.lastContact.set(deviceId, now);
    if (this.lastContact.size > 100_000) this.lastContact.clear();
    this.options.sink.noteContact(deviceId, { skewS, atMs: now, transport, keyId }).catch((err: unknown) => {
      this.log.warn({ err, device_id: deviceId }, 'could not record device contact');
    });
  }
}

/**
 * True for errors that mean "not signed by this device" (forged or broken), as opposed to a valid but stale/replayed
 * message.
 */
export function isAuthenticationFailure(err: unknown): boolean {
  return (
    isVigilError(err) &&
    [
      SigningErrorCode.missing,
      SigningErrorCode.malformed,
      SigningErrorCode.unknownDevice,
      SigningErrorCode.bodyHash,
      SigningErrorCode.mismatch,
      SigningErrorCode.deviceMismatch,
    ].includes(err.code as never)
  );
}
