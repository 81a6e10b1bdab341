import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  backupCredentials,
  backupName,
  credentialsPath,
  loadCredentials,
  removeCredentials,
  writeCredentials,
  type StoredCredentials,
} from '../credentials/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-creds-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const STORED: StoredCredentials = {
  v: 1,
  device_id: 'dev_01JGZ5ZQ7P4M3N2K1H0G9F8E7D',
  key_id: 'k1',
  secret_b64: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=',
  cloud: 'https://vigil.example.com',
  endpoints: { https: 'https://vigil.example.com', mqtt: 'mqtts://mqtt.example.com:8883' },
  paired_at: '2026-01-01T10:00:00.000Z',
};

describe('credentials file', () => {
  it('is written with mode 0600 whatever the umask, in a 0700 directory it creates, with no temp file left', () => {
    const old = process.umask(0);
    try {
      const data = join(dir, 'data');
      writeCredentials(credentialsPath(data), STORED);
      expect(statSync(credentialsPath(data)).mode & 0o777).toBe(0o600);
      expect(statSync(data).mode & 0o777).toBe(0o700);
      expect(readdirSync(data)).toEqual(['credentials.json']);
    } finally {
      process.umask(old);
    }
  });

  it('loads into a signing identity with the decoded 32-byte secret', () => {
    writeCredentials(credentialsPath(dir), STORED);
    const loaded = loadCredentials(dir);
    expect(loaded.stored).toEqual(STORED);
    expect(loaded.identity.deviceId).toBe(STORED.device_id);
    expect(loaded.identity.keyId).toBe('k1');
    expect(loaded.identity.secret).toEqual(Buffer.from([...Array(32).keys()]));
    expect(loaded.mode).toBe(0o600);
    expect(loaded.warnings).toEqual([]);
  });

  it('refuses a file group or others can read (daemon), and only warns with policy warn (doctor)', () => {
    const file = credentialsPath(dir);
    writeCredentials(file, STORED);
    chmodSync(file, 0o640);
    expect(() => loadCredentials(dir)).toThrow(
      expect.objectContaining({ code: 'credentials_insecure', message: expect.stringContaining('mode 0640') }),
    );
    chmodSync(file, 0o604);
    expect(() => loadCredentials(dir)).toThrow(expect.objectContaining({ code: 'credentials_insecure' }));
    const warned = loadCredentials(dir, { insecure: 'warn' });
    expect(warned.warnings).toHaveLength(1);
    expect(warned.warnings[0]).toContain(`chmod 600 ${file}`);
    expect(warned.identity.deviceId).toBe(STORED.device_id);
  });

  it('says not_paired when absent and credentials_invalid when malformed, naming the field', () => {
    expect(() => loadCredentials(dir)).toThrow(
      expect.objectContaining({ code: 'not_paired', message: expect.stringContaining('vigil-agent pair') }),
    );
    const file = credentialsPath(dir);
    writeFileSync(file, '{"v":1,', { mode: 0o600 });
    expect(() => loadCredentials(dir)).toThrow(expect.objectContaining({ code: 'credentials_invalid' }));
    writeFileSync(file, JSON.stringify({ ...STORED, secret_b64: 'short' }), { mode: 0o600 });
    expect(() => loadCredentials(dir)).toThrow(
      expect.objectContaining({ code: 'credentials_invalid', message: expect.stringContaining('secret_b64') }),
    );
  });

  it('reads an explicit file (config device.credentials)', () => {
    const other = join(dir, 'elsewhere', 'box.json');
    writeCredentials(other, STORED);
    expect(loadCredentials('/nonexistent', { file: other }).file).toBe(other);
  });

  it('keeps backups under unique names, with the mode kept', () => {
    const file = credentialsPath(dir);
    const at = new Date('2026-03-04T05:06:07.890Z');
    writeCredentials(file, STORED);
    const first = backupCredentials(file, at);
    expect(first).toBe(`${file}.bak-20260304T050607Z`);
    writeCredentials(file, STORED);
    const second = removeCredentials(file, at);
    expect(second).toBe(`${file}.bak-20260304T050607Z-2`);
    expect(backupName(file, at)).toBe(`${file}.bak-20260304T050607Z-3`);
    expect(statSync(second as string).mode & 0o777).toBe(0o600);
    expect(removeCredentials(file)).toBeUndefined();
    expect(readdirSync(dir).sort()).toEqual([
      'credentials.json.bak-20260304T050607Z',
      'credentials.json.bak-20260304T050607Z-2',
    ]);
  });
});
