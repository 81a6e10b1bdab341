/** Error codes the signature verifier throws; stable, listed in PROTOCOL.md (statuses: firmware-protocol/errors.ts). */
export const SigningErrorCode = {
  missing: 'signature_missing',
  malformed: 'signature_malformed',
  unknownDevice: 'unknown_device',
  deviceMismatch: 'device_mismatch',
  timestamp: 'timestamp_out_of_tolerance',
  bodyHash: 'body_hash_mismatch',
  mismatch: 'signature_mismatch',
  replay: 'nonce_replayed',
} as const;
