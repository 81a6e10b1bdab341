import type { Clock } from '../../../shared/clock/index.js';
import { silentLogger, type Logger } from '../../../shared/log/index.js';
import { signHttpRequest, type DeviceCredentials } from '../../../shared/signing/index.js';
import { createApiToken } from '../../auth/tokens.js';
import { cloudConfig } from '../../config.js';
import { createCloud, type Cloud, type CloudOptions } from '../../server/app.js';
import type { TestBackend, TestDatabase } from './backends.js';

/**
 * A collector running in-process on a random port over a test backend, with tokens for two tenants.
 *
 *   const t = await startTestCloud(backend);
 *   const res = await t.api('/v1/events');             // admin token of tenant "default"
 *   await t.close();
 */
export interface TestCloud {
  cloud: Cloud;
  db: TestDatabase;
  url: string;
  tokens: { admin: string; reader: string; otherTenant: string };
  /** fetch against the collector with a Bearer token (default: the admin token). */
  api(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>;
  /** Pairs a box through POST /v1/pair; returns its credentials. */
  pairDevice(name?: string, tenantToken?: string): Promise<DeviceCredentials>;
  /** A signed ingest request as a box makes it. */
  signedFetch(
    creds: DeviceCredentials,
    method: string,
    path: string,
    body: Buffer,
    contentType?: string,
  ): Promise<Response>;
  close(): Promise<void>;
}

export interface TestCloudOptions {
  /** Config keys on top of the test defaults. */
  overrides?: Record<string, unknown>;
  logger?: Logger;
  clock?: Clock;
  /** Reuse this database instead of opening a fresh one (a second collector); it is not cleaned up by close(). */
  db?: TestDatabase;
  /** Verify-then-notify parts to inject (e.g. a push service). */
  notify?: CloudOptions['notify'];
}

export async function startTestCloud(backend: TestBackend, options: TestCloudOptions = {}): Promise<TestCloud> {
  const shared = options.db !== undefined;
  const db = options.db ?? (await backend.open());
  const config = cloudConfig({
    ...db.config,
    server: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
    pairing: { attempts_burst: 1000, global_attempts_burst: 10_000 },
    // The key must be shared by collectors on one database; tests pin it.
    secrets: { key: Buffer.alloc(32, 7).toString('base64') },
    ...(options.overrides ?? {}),
  });
  let cloud: Cloud;
  try {
    cloud = await createCloud(config, {
      logger: options.logger ?? silentLogger(),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.notify ? { notify: options.notify } : {}),
    });
  } catch (err) {
    if (!shared) await db.cleanup();
    throw err;
  }
  const admin = (await createApiToken(cloud.store, { tenantId: 'default', name: 'admin', role: 'admin' })).token;
  // (tokens are per collector instance; a second collector on a shared database creates its own)
  const reader = (await createApiToken(cloud.store, { tenantId: 'default', name: 'reader', role: 'reader' })).token;
  const otherTenant = (await createApiToken(cloud.store, { tenantId: 'acme', name: 'acme admin', role: 'admin' }))
    .token;
  const api = (path: string, init: RequestInit & { token?: string | null } = {}): Promise<Response> => {
    const { token, ...rest } = init;
    const headers = new Headers(rest.headers);
    const t = token === undefined ? admin : token;
    if (t !== null) headers.set('authorization', `Bearer ${t}`);
    return fetch(cloud.url + path, { ...rest, headers });
  };
  return {
    cloud,
    db,
    url: cloud.url,
    tokens: { admin, reader, otherTenant },
    api,
    async pairDevice(name = 'box', tenantToken = admin) {
      const created = await api('/v1/pairing-codes', {
        method: 'POST',
        token: tenantToken,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      if (created.status !== 201) throw new Error(`pairing code: ${created.status} ${await created.text()}`);
      const { code } = (await created.json()) as { code: string };
      const paired = await fetch(cloud.url + '/v1/pair', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ v: 1, code }),
      });
      if (paired.status !== 200) throw new Error(`pair: ${paired.status} ${await paired.text()}`);
      const r = (await paired.json()) as { device_id: string; key_id: string; secret_b64: string };
      return { deviceId: r.device_id, keyId: r.key_id, secret: Buffer.from(r.secret_b64, 'base64') };
    },
    signedFetch(creds, method, path, body, contentType = 'application/json') {
      const headers = { ...signHttpRequest(creds, method, path, body), 'content-type': contentType };
      return fetch(cloud.url + path, { method, headers, body });
    },
    async close() {
      await cloud.close();
      if (!shared) await db.cleanup();
    },
  };
}
