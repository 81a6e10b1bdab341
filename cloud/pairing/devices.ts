import { randomBytes } from 'node:crypto';
import { newDeviceId, ulid } from '../../shared/ids/index.js';
import { devicePrefix } from '../../firmware-protocol/topics.js';
import type { PairingRequest, PairingResponse } from '../../firmware-protocol/messages.js';
import type { DeviceKeyRecord, Store } from '../store/store.js';
import { codeDigest } from './codes.js';
import { deviceKeyContext, type SecretBox } from './secret-box.js';

/**
 * Issuing device credentials: the exchange of a pairing code for a device id + key, and key rotation. A device
 * secret is 32 random bytes, sealed (cloud/pairing/secret-box.ts) before it reaches the store, and crosses the wire
 * exactly once, in the response that issues it.
 */
export function newKeyId(now = Date.now()): string {
  return `k_${ulid(now).toLowerCase()}`;
}

export interface IssuedKey {
  keyId: string;
  secret: Buffer;
  sealed: string;
}

export function issueKey(secrets: SecretBox, deviceId: string, now = Date.now()): IssuedKey {
  const keyId = newKeyId(now);
  const secret = randomBytes(32);
  return { keyId, secret, sealed: secrets.seal(secret, deviceKeyContext(deviceId, keyId)) };
}

export interface PairingEndpoints {
  /** Base URL boxes send HTTPS ingest to. */
  https: string;
  mqtt?: string | undefined;
}

/** Exchanges a pairing code (single use, in one transaction) for the device's credentials. */
export async function pairDevice(store: Store, secrets: SecretBox, request: PairingRequest, endpoints: PairingEndpoints, now = Date.now()): Promise<PairingResponse> {
  const deviceId = newDeviceId(now);
  const key = issueKey(secrets, deviceId, now);
  const { device } = await store.consumePairingCode({
    codeSha256: codeDigest(secrets, request.code),
    now,
    deviceId,
    deviceName: request.name ?? null,
    key: { keyId: key.keyId, secretSealed: key.sealed },
  });
  return {
    v: 1,
    device_id: device.id,
    key_id: key.keyId,
    secret_b64: key.secret.toString('base64'),
    endpoints: { https: endpoints.https, ...(endpoints.mqtt ? { mqtt: endpoints.mqtt } : {}) },
    topics: { prefix: devicePrefix(device.id) },
    server_time: new Date(now).toISOString(),
  };
}

/** Adds a key to a device (rotation). Undefined when the device is not in this tenant. */
export async function rotateDeviceKey(
  store: Store,
  secrets: SecretBox,
  tenantId: string,
  deviceId: string,
  now = Date.now(),
): Promise<{ keyId: string; secretB64: string; keys: DeviceKeyRecord[] } | undefined> {
  const key = issueKey(secrets, deviceId, now);
  const keys = await store.addDeviceKey(tenantId, deviceId, { keyId: key.keyId, secretSealed: key.sealed }, now);
  return keys && { keyId: key.keyId, secretB64: key.secret.toString('base64'), keys };
}
