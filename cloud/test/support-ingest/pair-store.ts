import { randomBytes } from 'node:crypto';
import type { DeviceCredentials } from '../../../shared/signing/index.js';
import { codeDigest } from '../../pairing/codes.js';
import { pairDevice } from '../../pairing/devices.js';
import type { SecretBox } from '../../pairing/secret-box.js';
import type { Store } from '../../store/index.js';

/**
 * Pairs a box straight through the store (a fresh pairing code, then pairDevice), with the secrets box the
 * collector will use: the restart tests' boxes, paired before any collector runs.
 */
export async function pairThroughStore(store: Store, secrets: SecretBox): Promise<DeviceCredentials> {
  const code = randomBytes(4).toString('hex').toUpperCase();
  await store.createPairingCode({
    tenantId: 'default',
    name: null,
    codeSha256: codeDigest(secrets, code),
    hint: '',
    now: Date.now(),
    expiresAt: Date.now() + 60_000,
  });
  const p = await pairDevice(store, secrets, { v: 1, code }, { https: 'http://127.0.0.1' });
  return { deviceId: p.device_id, keyId: p.key_id, secret: Buffer.from(p.secret_b64, 'base64') };
}
