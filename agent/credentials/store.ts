import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { VigilError } from '../errors.js';
import { validator } from '../../shared/schema/index.js';
import type { DeviceCredentials } from '../../shared/signing/index.js';
import { DEVICE_ID_PATTERN, KEY_ID_PATTERN } from '../../firmware-protocol/patterns.js';
import { writeFileAtomic } from '../../shared/fs/index.js';
import { CREDENTIALS_FILE_NAME } from '../config/schema.js';

/**
 * The box's credentials file (`<data_dir>/credentials.json`): the device id and the HMAC secret issued at
 * pairing, and the box's broker login when the deployment issues one (kept here, 0600, beside the secret). Written
 * atomically with mode 0600 (its directory 0700 when we create it); a file that group or others can read is refused
 * by the daemon and flagged by `doctor`, because anyone who reads it can speak as this box.
 */

export const StoredCredentialsSchema = Type.Object(
  {
    v: Type.Literal(1, { description: 'File format version.' }),
    device_id: Type.String({ pattern: DEVICE_ID_PATTERN, description: 'Device id issued by the collector.' }),
    key_id: Type.String({ pattern: KEY_ID_PATTERN, description: 'Id of the signing key.' }),
    secret_b64: Type.String({
      pattern: '^[A-Za-z0-9+/]{43}=$',
      description: 'The 32-byte HMAC secret, base64. Never logged.',
    }),
    cloud: Type.String({ pattern: '^https?://', description: 'The collector URL the box was paired with.' }),
    endpoints: Type.Object(
      {
        https: Type.String({ pattern: '^https?://', description: 'Where to send over HTTPS.' }),
        mqtt: Type.Optional(Type.String({ pattern: '^(mqtts?|wss?)://', description: 'Broker URL, when offered.' })),
      },
      { additionalProperties: false },
    ),
    paired_at: Type.String({ format: 'date-time', description: 'When pairing succeeded.' }),
    mqtt_credentials: Type.Optional(
      Type.Object(
        {
          username: Type.String({ minLength: 1, maxLength: 128, description: 'Broker username (the device id).' }),
          password: Type.String({ minLength: 1, maxLength: 256, description: 'Broker password. Never logged.' }),
          issued_at: Type.Optional(Type.String({ format: 'date-time', description: 'When the collector issued it.' })),
        },
        {
          additionalProperties: false,
          description: "The box's broker login (pairing, or POST /v1/devices/{id}/broker-credentials).",
        },
      ),
    ),
  },
  { additionalProperties: false, description: 'credentials.json' },
);
export type StoredCredentials = Static<typeof StoredCredentialsSchema>;

const checkStored = validator(StoredCredentialsSchema, { code: 'credentials_invalid', registry: VigilError });

export function credentialsPath(dataDir: string): string {
  return join(dataDir, CREDENTIALS_FILE_NAME);
}

/** The signing identity (decoded secret) from the stored form. */
export function identityOf(stored: StoredCredentials): DeviceCredentials {
  return { deviceId: stored.device_id, keyId: stored.key_id, secret: Buffer.from(stored.secret_b64, 'base64') };
}

/**
 * Writes the credentials file: 0600, atomically. A directory we create is 0700. When run as root (pairing with
 * sudo) the file is given to the data directory's owner, so the daemon's user can read it.
 */
export function writeCredentials(file: string, stored: StoredCredentials): void {
  checkStored.parse(stored, 'credentials');
  const dir = dirname(file);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(file, JSON.stringify(stored, null, 2) + '\n', { mode: 0o600 });
  chmodSync(file, 0o600); // the umask does not apply to chmod: 0600 exactly, whatever the umask
  if (process.getuid?.() === 0) {
    const owner = statSync(dir);
    if (owner.uid !== 0) chownSync(file, owner.uid, owner.gid);
  }
}

/** `<file>.bak-20260101T120000Z` (with -2, -3… if taken): where an old credentials file is kept. */
export function backupName(file: string, now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  let name = `${file}.bak-${stamp}`;
  for (let n = 2; existsSync(name); n++) name = `${file}.bak-${stamp}-${n}`;
  return name;
}

/** Moves the credentials file aside (keeping its mode); returns the backup's path, or undefined if there was none. */
export function backupCredentials(file: string, now = new Date()): string | undefined {
  if (!existsSync(file)) return undefined;
  const target = backupName(file, now);
  renameSync(file, target);
  return target;
}

export type InsecureModePolicy = 'fail' | 'warn';

export interface LoadedCredentials {
  file: string;
  stored: StoredCredentials;
  identity: DeviceCredentials;
  /** File mode bits, e.g. 0o600. */
  mode: number;
  /** Problems that did not stop loading (with policy `warn`). */
  warnings: string[];
}

export interface LoadCredentialsOptions {
  /** Read this file instead of `<dataDir>/credentials.json` (config `device.credentials`). */
  file?: string;
  /** `fail` (the daemon): refuse a file group or others can access. `warn` (doctor): load it and say so. */
  insecure?: InsecureModePolicy;
}

/**
 * Loads and checks the credentials: `not_paired` when absent, `credentials_invalid` when malformed,
 * `credentials_insecure` when group/other can access the file (policy `fail`).
 */
export function loadCredentials(dataDir: string, options: LoadCredentialsOptions = {}): LoadedCredentials {
  const file = options.file ?? credentialsPath(dataDir);
  if (!existsSync(file)) {
    throw new VigilError(
      'not_paired',
      `no credentials at ${file}: pair this box first (vigil-agent pair --cloud URL --code CODE)`,
      { details: { file } },
    );
  }
  const st = statSync(file);
  const mode = st.mode & 0o777;
  const warnings: string[] = [];
  if ((mode & 0o077) !== 0) {
    const message =
      `${file} has mode ${mode.toString(8).padStart(4, '0')}: group/others can read the device ` +
      `secret; run chmod 600 ${file}`;
    if ((options.insecure ?? 'fail') === 'fail')
      throw new VigilError('credentials_insecure', message, { details: { file, mode } });
    warnings.push(message);
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new VigilError('credentials_invalid', `${file} is not valid JSON: ${(err as Error).message}`, {
      details: { file },
    });
  }
  const stored = checkStored.parse(json, file);
  return { file, stored, identity: identityOf(stored), mode, warnings };
}

/** Removes the credentials file after keeping a backup; returns the backup path (undefined when not paired). */
export function removeCredentials(file: string, now = new Date()): string | undefined {
  return backupCredentials(file, now);
}

/**
 * Stores a new broker login in the credentials file (atomically, 0600), keeping everything else as it is on disk
 * now; returns the updated contents.
 */
export function storeBrokerLogin(
  file: string,
  login: { username: string; password: string },
  now = new Date(),
): StoredCredentials {
  const current = checkStored.parse(JSON.parse(readFileSync(file, 'utf8')), file);
  const updated: StoredCredentials = {
    ...current,
    mqtt_credentials: { username: login.username, password: login.password, issued_at: now.toISOString() },
  };
  writeCredentials(file, updated);
  return updated;
}
