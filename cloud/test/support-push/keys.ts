import { randomBytes } from 'node:crypto';
import { exportPKCS8, generateKeyPair, type CryptoKey } from 'jose';
import webpush from 'web-push';

/** Credentials as the providers hand them out, made fresh per test run. */

export interface ApnsTestKey {
  teamId: string;
  keyId: string;
  /** The .p8 file's content (PKCS#8 PEM, P-256). */
  pem: string;
  publicKey: CryptoKey;
}

export async function apnsTestKey(teamId = 'TEAM123456', keyId = 'KEY1234567'): Promise<ApnsTestKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { teamId, keyId, pem: await exportPKCS8(privateKey), publicKey };
}

export interface FcmTestAccount {
  /** What the Firebase console's "Generate new private key" downloads (fields the sender reads, plus a few). */
  json: {
    type: 'service_account';
    project_id: string;
    private_key_id: string;
    private_key: string;
    client_email: string;
    token_uri: string;
  };
  publicKey: CryptoKey;
}

export async function fcmTestAccount(tokenUri: string, projectId = 'vigil-test'): Promise<FcmTestAccount> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  return {
    json: {
      type: 'service_account',
      project_id: projectId,
      private_key_id: randomBytes(20).toString('hex'),
      private_key: await exportPKCS8(privateKey),
      client_email: `vigil-push@${projectId}.iam.gserviceaccount.com`,
      token_uri: tokenUri,
    },
    publicKey,
  };
}

export function vapidTestKeys(): { publicKey: string; privateKey: string } {
  return webpush.generateVAPIDKeys();
}

/** A random APNs device token (32 bytes, hex). */
export function apnsDeviceToken(): string {
  return randomBytes(32).toString('hex');
}

/** Something shaped like an FCM registration token. */
export function fcmRegistrationToken(): string {
  return `${randomBytes(11).toString('base64url')}:APA91b${randomBytes(100).toString('base64url')}`;
}
