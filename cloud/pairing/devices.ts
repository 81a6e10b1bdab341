import { randomBytes } from 'node:crypto';
import { newDeviceId, ulid } from '../../shared/ids/index.js';
import { devicePrefix } from '../../firmware-protocol/topics.js';
import type { MqttCredentials, PairingRequest, PairingResponse } from '../../firmware-protocol/messages.js';
import { describeError } from '../../shared/errors/index.js';
import type { Logger } from '../../shared/log/index.js';
import type { BrokerProvisioner } from '../broker/provisioner.js';
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

/** Broker logins of boxes (cloud/broker); absent or `none`: no login is issued. */
export interface DeviceBrokerAccess {
  broker?: Pick<BrokerProvisioner, 'issuesDeviceLogins' | 'issueDeviceLogin' | 'disableDevice'> | undefined;
  log?: Logger | undefined;
}

/**
 * A broker login for a box (pairing, key rotation), or undefined when the deployment issues none or the broker
 * cannot be reached: pairing never fails for the broker's sake (the code is used up by then); the box asks for a
 * login later with the signed POST /v1/devices/{id}/broker-credentials.
 */
async function brokerLogin(
  access: DeviceBrokerAccess,
  deviceId: string,
  why: string,
): Promise<MqttCredentials | undefined> {
  if (!access.broker?.issuesDeviceLogins) return undefined;
  try {
    return await access.broker.issueDeviceLogin(deviceId);
  } catch (err) {
    access.log?.error(
      { device_id: deviceId, err: describeError(err) },
      `no broker login issued at ${why}; the box will ask for one`,
    );
    return undefined;
  }
}

/** Disables a revoked box's broker login (it is disconnected at once). Failures are logged, never thrown. */
export async function disableBrokerLogin(access: DeviceBrokerAccess, deviceId: string): Promise<boolean> {
  if (!access.broker?.issuesDeviceLogins) return false;
  try {
    await access.broker.disableDevice(deviceId);
    return true;
  } catch (err) {
    access.log?.error(
      { device_id: deviceId, err: describeError(err) },
      `could not disable the revoked box's broker login: disable it by hand (mosquitto_ctrl dynsec disableClient ` +
        `${deviceId})`,
    );
    return false;
  }
}

/** Exchanges a pairing code (single use, in one transaction) for the device's credentials. */
export async function pairDevice(
  store: Store,
  secrets: SecretBox,
  request: PairingRequest,
  endpoints: PairingEndpoints,
  now = Date.now(),
  access: DeviceBrokerAccess = {},
): Promise<PairingResponse> {
  const deviceId = newDeviceId(now);
  const key = issueKey(secrets, deviceId, now);
  const { device } = await store.consumePairingCode({
    codeSha256: codeDigest(secrets, request.code),
    now,
    deviceId,
    deviceName: request.name ?? null,
    key: { keyId: key.keyId, secretSealed: key.sealed },
  });
  // Only boxes told to use the broker need a login on it.
  const login = endpoints.mqtt ? await brokerLogin(access, device.id, 'pairing') : undefined;
  return {
    v: 1,
    device_id: device.id,
    key_id: key.keyId,
    secret_b64: key.secret.toString('base64'),
    endpoints: { https: endpoints.https, ...(endpoints.mqtt ? { mqtt: endpoints.mqtt } : {}) },
    topics: { prefix: devicePrefix(device.id) },
    server_time: new Date(now).toISOString(),
    ...(login ? { mqtt_credentials: login } : {}),
  };
}

/**
 * Adds a key to a device (rotation) and, when the deployment issues broker logins, rotates its broker password too
 * (the old one stops working at once; the box, still holding an active signing key, asks for a new login when the
 * broker refuses it). Undefined when the device is not in this tenant.
 */
export async function rotateDeviceKey(
  store: Store,
  secrets: SecretBox,
  tenantId: string,
  deviceId: string,
  now = Date.now(),
  access: DeviceBrokerAccess = {},
): Promise<
  { keyId: string; secretB64: string; keys: DeviceKeyRecord[]; mqttCredentials?: MqttCredentials } | undefined
> {
  const key = issueKey(secrets, deviceId, now);
  const keys = await store.addDeviceKey(tenantId, deviceId, { keyId: key.keyId, secretSealed: key.sealed }, now);
  if (!keys) return undefined;
  const login = await brokerLogin(access, deviceId, 'key rotation');
  return {
    keyId: key.keyId,
    secretB64: key.secret.toString('base64'),
    keys,
    ...(login ? { mqttCredentials: login } : {}),
  };
}
