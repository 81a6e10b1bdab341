import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VigilError } from '../errors.js';
import { mkdirPrivateSync, PRIVATE_FILE_MODE, tightenPath } from '../../shared/fs/index.js';

/**
 * Device secrets at rest: AES-256-GCM under a server key that is NOT in the database (config `secrets.key`, or a key
 * file in the data dir), so a database dump alone cannot sign as a device. The sealed form binds the device and key
 * id as associated data: a sealed secret copied onto another row does not open.
 *
 * Sealed format: `v1.<iv b64url>.<tag b64url>.<ciphertext b64url>`.
 */
export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32)
      throw new VigilError('config_invalid', `the secrets key must be 32 bytes, got ${key.length}`);
  }

  seal(plain: Buffer, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
    return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join(
      '.',
    );
  }

  open(sealed: string, context: string): Buffer {
    const [v, iv, tag, ct] = sealed.split('.');
    if (v !== 'v1' || !iv || !tag || ct === undefined)
      throw new VigilError('secret_unreadable', 'sealed secret has an unknown format');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]);
    } catch (err) {
      throw new VigilError(
        'secret_unreadable',
        'cannot open a sealed device secret: wrong secrets key (secrets.key / secrets.key file) or tampered data',
        { cause: err },
      );
    }
  }

  /**
   * A key for another purpose, derived from the server key: HMAC-SHA256(server key, "vigil-subkey:" + purpose).
   * The server key itself only seals; each other use (keyed hashes of pairing codes, …) gets its own subkey.
   */
  deriveKey(purpose: string): Buffer {
    return createHmac('sha256', this.key).update(`vigil-subkey:${purpose}`, 'utf8').digest();
  }
}

/** The AAD of a device key's sealed secret. */
export function deviceKeyContext(deviceId: string, keyId: string): string {
  return `vigil-device-key:${deviceId}:${keyId}`;
}

export const SECRETS_KEY_FILE = 'secrets.key';

/**
 * The server key: from config (base64) or `<dataDir>/secrets.key`, created once with mode 0600. The file is written
 * under a temporary name and hard-linked into place (fails if it exists), so two processes starting together agree
 * on one key and neither ever reads a half-written file. `create: false` (commands beside a running collector) refuses
 * to invent a key the collector does not have.
 */
export function loadSecretsKey(
  configured: string | undefined,
  dataDir: string,
  options: { create?: boolean } = {},
): Buffer {
  if (configured) {
    const key = Buffer.from(configured, 'base64');
    if (key.length !== 32) throw new VigilError('config_invalid', 'secrets.key must be base64 of exactly 32 bytes');
    return key;
  }
  const file = join(dataDir, SECRETS_KEY_FILE);
  if (options.create === false && !existsSync(file)) {
    throw new VigilError(
      'secrets_key_unavailable',
      `no secrets key: ${file} does not exist and secrets.key is not set; use the same config (secrets.key) or ` +
        'data dir as vigil-cloud serve',
      { details: { file } },
    );
  }
  mkdirPrivateSync(dataDir);
  const temp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    writeFileSync(temp, randomBytes(32).toString('base64') + '\n', { flag: 'wx', mode: PRIVATE_FILE_MODE });
    chmodSync(temp, PRIVATE_FILE_MODE); // 0600 exactly, whatever the umask
    linkSync(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
      throw new VigilError('secrets_key_unavailable', `cannot create ${file}: ${(err as Error).message}`, {
        cause: err,
      });
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // already gone
    }
  }
  // A key file left readable by others (by hand, or an older version) is made owner-only.
  tightenPath(file);
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new VigilError('secrets_key_unavailable', `${file} does not hold base64 of 32 bytes`);
  return key;
}
