import type { DeviceKey } from '../../shared/signing/index.js';

/**
 * What the verifier needs from the collector's storage: the devices' keys, the replay window shared by every
 * collector on one database, and where contact notes go. The ingest sink provides it (cloud/ingest/sink.ts
 * IngestSink extends it; the collector's implementation is cloud/server/ingest-sink.ts).
 */
export interface VerifierSink {
  /**
   * The device's active signing keys (decrypted secrets), at most two during key rotation.
   * `undefined` (or an empty list) when the device is unknown or revoked: ingest answers `unknown_device`.
   * Called for every signed message, so implementations may cache briefly (a revocation must take effect within a
   * few seconds).
   */
  activeKeys(deviceId: string): Promise<DeviceKey[] | undefined>;

  /**
   * Records a nonce for the replay window. Returns `true` when it was new, `false` when the same (device, nonce)
   * is already recorded and not yet expired (`expiresAtMs` in epoch milliseconds). Must be atomic across collectors
   * sharing a database (e.g. `INSERT … ON CONFLICT DO NOTHING` and check the row count), so two collectors cannot both
   * accept one replayed message. Expired rows may be purged at any time.
   */
  rememberNonce(deviceId: string, nonce: string, expiresAtMs: number): Promise<boolean>;

  /**
   * Read-only: is this nonce recorded and not yet expired? Lets the verifier reject a replay at the usual point
   * (before rate limiting and parsing) while the nonce itself is recorded later, atomically with the request's
   * writes (VerifyOptions.deferNonce; the ingest sink's `storeSignedEventMessages`).
   */
  nonceRecorded(deviceId: string, nonce: string): Promise<boolean>;

  /**
   * Notes that a device was seen with a verified signature (any message, not just heartbeats), with the clock skew
   * of that message. The verifier calls it at most once per device per `ingest.contact_interval_ms` (default 10 s),
   * fire-and-forget (errors are logged, never fail the request).
   */
  noteContact(deviceId: string, contact: DeviceContact): Promise<void>;
}

/** A verified request's nonce, still to be recorded (with the request's writes). */
export interface NonceClaim {
  nonce: string;
  /** Epoch ms after which the timestamp check alone rejects a replay, so the record may go. */
  expiresAtMs: number;
  /** What a nonce found already recorded at store time means: `reject` (HTTP) or `allow` (MQTT redelivery). */
  onReplay: 'reject' | 'allow';
}

export interface DeviceContact {
  skewS: number;
  atMs: number;
  transport: 'http' | 'mqtt';
  keyId: string;
}
