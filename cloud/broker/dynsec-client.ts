import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { describeError, VigilError } from '../errors.js';
import type { Logger } from '../../shared/log/index.js';

/**
 * A client of Mosquitto 2's dynamic-security plugin API: JSON commands published on `$CONTROL/dynamic-security/v1`,
 * answers on `$CONTROL/dynamic-security/v1/response` (one answer per command, matched by `correlationData`; every
 * admin client subscribed there sees every answer, so each request carries a random correlation id). The login
 * needs a role allowed to publish to and subscribe to `$CONTROL/dynamic-security/#` (`mosquitto_ctrl dynsec init`
 * creates one).
 *
 * Command reference: https://mosquitto.org/documentation/dynamic-security/ (createClient, createRole, addRoleACL,
 * addClientRole, setClientPassword, enableClient, disableClient, getClient, …).
 */
export const DYNSEC_TOPIC = '$CONTROL/dynamic-security/v1';
export const DYNSEC_RESPONSE_TOPIC = `${DYNSEC_TOPIC}/response`;

export interface DynsecCommand {
  command: string;
  [field: string]: unknown;
}

export interface DynsecAnswer {
  command: string;
  /** Absent on success. */
  error?: string;
  data?: unknown;
}

export interface DynsecClientOptions {
  url: string;
  username: string;
  password: string;
  clientId: string;
  /** How long one request waits for its answers. */
  timeoutMs: number;
  reconnectMs: number;
  ca?: Buffer | undefined;
  log: Logger;
}

interface Pending {
  answers: Map<string, DynsecAnswer>;
  expected: Set<string>;
  resolve: (answers: DynsecAnswer[]) => void;
  order: string[];
}

/** MQTT CONNACK codes (3.1.1 and 5) that mean "wrong login", not "try again". */
const AUTH_REFUSED = new Set([4, 5, 134, 135]);

export class DynsecClient {
  private readonly client: MqttClient;
  private readonly pending = new Map<string, Pending>();
  private subscribed: Promise<void>;
  private lastError: string | undefined;
  /** Resolves on the first successful connection; rejects on a refused login. */
  readonly firstConnect: Promise<void>;

  constructor(private readonly o: DynsecClientOptions) {
    const options: IClientOptions = {
      clientId: o.clientId,
      clean: true,
      protocolVersion: 5,
      username: o.username,
      password: o.password,
      reconnectPeriod: o.reconnectMs,
      connectTimeout: Math.max(1_000, o.timeoutMs),
      ...(o.ca ? { ca: o.ca } : {}),
    };
    this.client = mqtt.connect(o.url, options);
    let ready!: () => void;
    this.subscribed = new Promise<void>((r) => (ready = r));
    this.firstConnect = new Promise<void>((resolve, reject) => {
      this.client.on('connect', () => {
        this.client.subscribe(DYNSEC_RESPONSE_TOPIC, { qos: 1 }, (err, granted) => {
          const refused = (granted ?? []).some((g) => g.qos === 128 || g.qos > 2);
          if (err || refused) {
            this.lastError =
              `subscribing to ${DYNSEC_RESPONSE_TOPIC} was refused: ` + 'the admin login needs the dynsec admin role';
            reject(new VigilError('config_invalid', this.lastError));
            return;
          }
          this.lastError = undefined;
          ready();
          resolve();
        });
      });
      this.client.on('error', (err: Error & { code?: number }) => {
        this.lastError = describeError(err);
        if (typeof err.code === 'number' && AUTH_REFUSED.has(err.code)) {
          reject(
            new VigilError(
              'config_invalid',
              `the broker refused the provisioning login (mqtt.admin_username): ${err.message}`,
            ),
          );
        }
      });
    });
    this.firstConnect.catch(() => undefined);
    this.client.on('message', (topic, payload) => {
      if (topic === DYNSEC_RESPONSE_TOPIC) this.onAnswer(payload);
    });
    this.client.on('offline', () => o.log.warn('broker admin connection lost'));
  }

  connected(): boolean {
    return this.client.connected;
  }

  /** Last connection problem, undefined while connected. */
  problem(): string | undefined {
    return this.client.connected ? undefined : (this.lastError ?? 'not connected to the broker');
  }

  private onAnswer(payload: Buffer): void {
    let body: { responses?: unknown };
    try {
      body = JSON.parse(payload.toString('utf8')) as { responses?: unknown };
    } catch {
      return;
    }
    if (!Array.isArray(body.responses)) return;
    for (const r of body.responses as Array<DynsecAnswer & { correlationData?: unknown }>) {
      if (typeof r?.correlationData !== 'string') continue;
      const [requestId] = r.correlationData.split(':');
      const p = requestId === undefined ? undefined : this.pending.get(requestId);
      if (!p?.expected.has(r.correlationData)) continue;
      p.answers.set(r.correlationData, {
        command: r.command,
        ...(r.error !== undefined ? { error: r.error } : {}),
        ...(r.data !== undefined ? { data: r.data } : {}),
      });
      if (p.answers.size === p.expected.size) {
        this.pending.delete(requestId!);
        p.resolve(p.order.map((k) => p.answers.get(k)!));
      }
    }
  }

  /**
   * Sends commands in one message; resolves with one answer per command, in order. Answers with an `error` are
   * returned, not thrown (the caller knows which errors are benign, e.g. "Client already exists"). Throws
   * `broker_unavailable` (503) when no answer comes in time.
   */
  async request(commands: DynsecCommand[]): Promise<DynsecAnswer[]> {
    const requestId = randomBytes(9).toString('base64url');
    const order = commands.map((_, i) => `${requestId}:${i}`);
    const answered = new Promise<DynsecAnswer[]>((resolve) => {
      this.pending.set(requestId, { answers: new Map(), expected: new Set(order), resolve, order });
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.pending.delete(requestId);
        const why = this.problem() ?? 'no answer';
        reject(
          new VigilError(
            'broker_unavailable',
            `the broker's dynamic-security API did not answer within ${this.o.timeoutMs} ms (${why})`,
          ),
        );
      }, this.o.timeoutMs);
    });
    try {
      await Promise.race([this.subscribed, timeout]);
      const body = JSON.stringify({ commands: commands.map((c, i) => ({ ...c, correlationData: order[i] })) });
      this.client.publish(DYNSEC_TOPIC, body, { qos: 1 });
      return await Promise.race([answered, timeout]);
    } finally {
      clearTimeout(timer);
      this.pending.delete(requestId);
    }
  }

  async close(): Promise<void> {
    // Nothing in flight matters here (commands time out, claims are re-stated): no waiting on a dead broker.
    await this.client.endAsync(true).catch(() => undefined);
  }
}
