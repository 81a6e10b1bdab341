import { existsSync, readFileSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { errors as undiciErrors } from 'undici';
import { OffsetClock } from '../../shared/clock/index.js';
import { describeError, VigilError } from '../errors.js';
import { CONTENT_TYPE, pairPath } from '../../firmware-protocol/http.js';
import {
  validatePairingRequest,
  validatePairingResponse,
  type Heartbeat,
  type PairingRequest,
  type PairingResponse,
} from '../../firmware-protocol/messages.js';
import { tlsHint, type ClientTls } from '../uplink/https-client.js';
import { HttpsTransport } from '../uplink/https-transport.js';
import { postOnce, type PostAnswer } from './post-once.js';
import { identityOf, type StoredCredentials } from './store.js';

/**
 * The box side of pairing (PROTOCOL.md §8): exchange a one-time code for credentials over HTTPS, then prove them
 * with one signed request the collector must ack.
 */

export interface PairingClientOptions {
  /** Collector base URL, e.g. https://vigil.example.com. */
  cloud: string;
  code: string;
  name?: string | undefined;
  hardware?: string | undefined;
  agentVersion: string;
  timeoutMs?: number;
  /** uplink.ca_file / cert_file / key_file, loaded (agent/uplink/https-client.ts): the daemon's TLS settings. */
  tls?: ClientTls | undefined;
}

/** `https://host/base/` → `https://host/base`; anything but an http(s) URL is `invalid_argument`. */
export function normaliseCloudUrl(cloud: string): string {
  let url: URL;
  try {
    url = new URL(cloud);
  } catch {
    throw new VigilError('invalid_argument', `--cloud must be the collector URL (https://…), got "${cloud}"`, {
      details: { exitCode: 2 },
    });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new VigilError(
      'invalid_argument',
      `--cloud must be an https:// (or http:// on a test network) URL, got "${cloud}"`,
      { details: { exitCode: 2 } },
    );
  }
  return url.origin + url.pathname.replace(/\/+$/, '');
}

/** A short hardware description: the device-tree model (Raspberry Pi etc.), the DMI product name, else os/arch. */
export function hardwareDescription(): string {
  for (const file of ['/sys/firmware/devicetree/base/model', '/sys/class/dmi/id/product_name']) {
    try {
      if (!existsSync(file)) continue;
      const text = readFileSync(file, 'utf8').replace(/\0/g, '').trim();
      if (text) return `${text} (${arch()})`.slice(0, 128);
    } catch {
      // unreadable: try the next source
    }
  }
  return `${platform()}-${arch()}`;
}

/** The PairingRequest body, checked against the protocol schema before anything is sent. */
export function pairingRequest(o: PairingClientOptions): PairingRequest {
  const code = o.code.trim();
  const body: PairingRequest = { v: 1, code, agent_version: o.agentVersion };
  if (o.name !== undefined) body.name = o.name;
  if (o.hardware !== undefined) body.hardware = o.hardware;
  const issues = validatePairingRequest.issues(body);
  if (issues.length > 0) {
    const first = issues[0]!;
    const what =
      first.path === '/code'
        ? `--code "${code}" is not a pairing code (8 letters/digits, e.g. K7QX-M2PD)`
        : `${first.path.slice(1)}: ${first.message}`;
    throw new VigilError('invalid_argument', what, { details: { exitCode: 2 } });
  }
  return body;
}

function unreachable(url: string, err: unknown): VigilError {
  const timeout =
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    (err as Error).name === 'TimeoutError';
  const cause = (err as { cause?: unknown }).cause;
  const reason = timeout ? 'no answer in time' : describeError(cause ?? err);
  const hint = tlsHint(err);
  return new VigilError(
    'cloud_unreachable',
    `cannot reach the collector at ${url}: ${reason}${hint ? ` (${hint})` : ''}`,
    { details: { url }, cause: err },
  );
}

/** POST /v1/pair. Collector errors come back as VigilErrors with the collector's code and message. */
export async function requestPairing(o: PairingClientOptions): Promise<PairingResponse> {
  const base = normaliseCloudUrl(o.cloud);
  const body = pairingRequest(o);
  const url = base + pairPath();
  const timeoutMs = o.timeoutMs ?? 15_000;
  let answer: PostAnswer;
  try {
    // The same TLS settings as the daemon: uplink.ca_file, client certificate.
    const headers = { 'content-type': CONTENT_TYPE.json };
    answer = await postOnce({
      url,
      headers,
      body: JSON.stringify(body),
      tls: o.tls,
      timeoutMs,
      connectTimeoutMs: timeoutMs,
    });
  } catch (err) {
    throw unreachable(url, err);
  }
  const { status, text, json } = answer;
  if (status !== 200) {
    const e = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    if (typeof e?.code === 'string') {
      throw VigilError.received(e.code, typeof e.message === 'string' ? e.message : `HTTP ${status}`, status, {
        details: { url, status },
      });
    }
    throw new VigilError(
      'pairing_failed',
      `the collector at ${url} answered HTTP ${status}${text ? `: ${text.slice(0, 200).replace(/\s+/g, ' ')}` : ''}`,
      { details: { url, status } },
    );
  }
  const issues = validatePairingResponse.issues(json);
  if (issues.length > 0) {
    throw new VigilError(
      'pairing_failed',
      `the collector at ${url} sent an invalid pairing ` +
        `response: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
      { details: { url } },
    );
  }
  return validatePairingResponse.parse(json);
}

/** Username and password only (a later v1 may add fields the credentials file does not keep). */
function pick(login: { username: string; password: string }): { username: string; password: string } {
  return { username: login.username, password: login.password };
}

/** What pairing stores, from the collector's answer. */
export function storedFromResponse(cloud: string, res: PairingResponse, now = new Date()): StoredCredentials {
  return {
    v: 1,
    device_id: res.device_id,
    key_id: res.key_id,
    secret_b64: res.secret_b64,
    cloud: normaliseCloudUrl(cloud),
    endpoints: res.endpoints.mqtt
      ? { https: res.endpoints.https, mqtt: res.endpoints.mqtt }
      : { https: res.endpoints.https },
    paired_at: now.toISOString(),
    // The box's broker login, when the deployment issues one (sent once: kept with the secret).
    ...(res.mqtt_credentials
      ? { mqtt_credentials: { ...pick(res.mqtt_credentials), issued_at: now.toISOString() } }
      : {}),
  };
}

export interface VerifyOptions {
  agentVersion: string;
  /** Collector clock in ms (pairing response `server_time`): a box with a wrong clock still signs acceptably. */
  serverTimeMs?: number | undefined;
  timeoutMs?: number;
  /** The daemon's TLS settings (see PairingClientOptions.tls). */
  tls?: ClientTls | undefined;
}

export interface Verification {
  url: string;
  /** The collector's ack of the heartbeat. */
  status: 'accepted' | 'duplicate';
  /** Clock correction applied, ms. */
  offsetMs: number;
}

/**
 * Proves the credentials: one signed Heartbeat to `POST /v1/devices/{id}/heartbeat` at `endpoints.https`; the
 * collector must ack it. Fails with `pairing_unverified` saying why (wrong secret, unreachable endpoint, …).
 */
export async function verifyCredentials(stored: StoredCredentials, o: VerifyOptions): Promise<Verification> {
  const clock = new OffsetClock();
  if (o.serverTimeMs !== undefined) clock.offsetMs = o.serverTimeMs - Date.now();
  const transport = new HttpsTransport({
    baseUrl: stored.endpoints.https,
    identity: identityOf(stored),
    clock,
    timeoutMs: o.timeoutMs ?? 15_000,
    connections: 1,
    tls: o.tls,
  });
  const url = stored.endpoints.https;
  try {
    for (let attempt = 0; ; attempt++) {
      const heartbeat: Heartbeat = {
        v: 1,
        device_id: stored.device_id,
        sent_at: new Date(clock.now()).toISOString(),
        uptime_s: 0,
        version: o.agentVersion,
        outbox: { depth: 0, oldest_pending_age_s: null, dropped: 0, in_flight: 0 },
        cameras: [],
        last_ack_at: null,
      };
      const result = await transport.sendHeartbeat(Buffer.from(JSON.stringify(heartbeat)));
      if (result.failure) {
        const f = result.failure;
        // Clock skew (PROTOCOL.md §7): adopt the collector's clock and try once more.
        if (f.code === 'timestamp_out_of_tolerance' && f.serverTimeMs !== undefined && attempt === 0) {
          clock.offsetMs = f.serverTimeMs - Date.now();
          continue;
        }
        throw new VigilError('pairing_unverified', `the signed heartbeat to ${url} failed: ${f.code}: ${f.message}`, {
          details: { url, code: f.code, status: f.status },
        });
      }
      const item = result.ack?.acks.find((a) => a.kind === 'heartbeat' && a.id === heartbeat.sent_at);
      if (!item)
        throw new VigilError('pairing_unverified', `the collector at ${url} did not ack the signed heartbeat`, {
          details: { url },
        });
      if (item.status === 'rejected') {
        throw new VigilError(
          'pairing_unverified',
          `the collector at ${url} rejected the signed ` +
            `heartbeat: ${item.code ?? 'rejected'}${item.message ? `: ${item.message}` : ''}`,
          { details: { url, code: item.code } },
        );
      }
      return { url, status: item.status, offsetMs: clock.offsetMs };
    }
  } finally {
    await transport.close();
  }
}
