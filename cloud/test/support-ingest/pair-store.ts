import { randomBytes } from 'node:crypto';
import type { DeviceCredentials } from '../../../shared/signing/index.js';
import { codeDigest } from '../../pairing/codes.js';
import { pairDevice } from '../../pairing/devices.js';
import type { SecretBox } from '../../pairing/secret-box.js';
import type { Store } from '../../store/index.js';

/**
 * Pairs a box straight through the store (a fresh pairing code, then pairDevice), with the secrets box the
 * collector will use: the restart tests' boxes, the store-backed sink's, the ingest bench's.
 */
export async function pairThroughStore(
  store: Store,
  secrets: SecretBox,
  now: number = Date.now(),
): Promise<DeviceCredentials> {
  const code = randomBytes(4).toString('hex').toUpperCase();
  await store.createPairingCode({
    tenantId: 'default',
    name: null,
    codeSha256: codeDigest(secrets, code),
    hint: '',
    now,
    expiresAt: now + 60_000,
  });
  const p = await pairDevice(store, secrets, { v: 1, code }, { https: 'http://127.0.0.1' }, now);
  return { deviceId: p.device_id, keyId: p.key_id, secret: Buffer.from(p.secret_b64, 'base64') };
}
