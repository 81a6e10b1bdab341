import type { Clock } from '../../shared/clock/index.js';
import { describeError, VigilError } from '../errors.js';
import { signHttpRequest, type DeviceCredentials } from '../../shared/signing/index.js';
import { brokerCredentialsPath } from '../../firmware-protocol/http.js';
import { validateBrokerCredentials, type MqttCredentials } from '../../firmware-protocol/messages.js';
import { tlsHint, type ClientTls } from '../uplink/https-client.js';
import type { BrokerLoginSource } from '../uplink/mqtt-transport.js';
import { postOnce, type PostAnswer } from './post-once.js';
import { storeBrokerLogin, type StoredCredentials } from './store.js';

/**
 * The box's broker login (PROTOCOL.md §1.5): issued at pairing and kept in the credentials file; for a box paired
 * before its deployment issued logins, or one whose login the broker refuses (the password was rotated with its
 * key), a fresh one comes from the signed `POST /v1/devices/{id}/broker-credentials` and is stored (0600) at once.
 */
export interface BrokerLoginRequestOptions {
  /** Collector base URL (endpoints.https). */
  baseUrl: string;
  identity: DeviceCredentials;
  clock: Clock;
  /** The box's TLS client configuration (uplink.ca_file, cert_file, key_file). */
  tls?: ClientTls | undefined;
  timeoutMs?: number;
}

/** Asks the collector for a fresh broker login. Undefined when the collector issues none (404). */
export async function requestBrokerLogin(o: BrokerLoginRequestOptions): Promise<MqttCredentials | undefined> {
  const base = new URL(o.baseUrl);
  const path = base.pathname.replace(/\/+$/, '') + brokerCredentialsPath(o.identity.deviceId);
  const timeoutMs = o.timeoutMs ?? 15_000;
  let answer: PostAnswer;
  try {
    const headers = signHttpRequest(o.identity, 'POST', path, Buffer.alloc(0), { clock: o.clock });
    answer = await postOnce({ url: base.origin + path, headers, tls: o.tls, timeoutMs });
  } catch (err) {
    const hint = tlsHint(err);
    throw new VigilError(
      'cloud_unreachable',
      `cannot ask ${base.origin} for a broker login: ${describeError(err)}${hint ? ` (${hint})` : ''}`,
      { cause: err },
    );
  }
  const { status, text, json } = answer;
  if (status === 404) return undefined;
  if (status !== 200) {
    const e = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const code = typeof e?.code === 'string' ? e.code : `http_${status}`;
    throw VigilError.received(
      code,
      `the collector refused a broker login ` +
        `(HTTP ${status}): ${typeof e?.message === 'string' ? e.message : text.slice(0, 200)}`,
      status,
    );
  }
  const body = validateBrokerCredentials.parse(json, 'broker credentials');
  if (body.device_id !== o.identity.deviceId)
    throw new VigilError('invalid_message', `broker credentials for ${body.device_id}, not for this box`);
  return body.mqtt_credentials;
}

/** The login source of the MQTT transport: the credentials file, renewed over HTTPS when needed. */
export class CredentialsBrokerLogin implements BrokerLoginSource {
  private stored: StoredCredentials;

  constructor(
    private readonly file: string,
    stored: StoredCredentials,
    private readonly request: Omit<BrokerLoginRequestOptions, 'identity'> & { identity: DeviceCredentials },
  ) {
    this.stored = stored;
  }

  current(): MqttCredentials | undefined {
    const c = this.stored.mqtt_credentials;
    return c ? { username: c.username, password: c.password } : undefined;
  }

  async renew(): Promise<MqttCredentials | undefined> {
    const login = await requestBrokerLogin(this.request);
    if (login) this.stored = storeBrokerLogin(this.file, login);
    return login;
  }
}
