import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { describeError } from '../errors.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import { backoffDelayMs, type BackoffPolicy } from '../outbox/backoff.js';
import type { LocalMqttConfig } from './config.js';
import { PublishQueue, type QueuedMessage } from './publish-queue.js';

/** How the box logs in to the LAN broker: a login and/or PEM files (the broker's CA, a client certificate, its key). */
export type LocalBrokerAccess = Pick<LocalMqttConfig, 'username' | 'password' | 'ca_file' | 'cert_file' | 'key_file'>;

/** The mqtt.js options of a broker access, with the PEM files read; throws what reading a file throws. */
export function brokerLoginOptions(a: LocalBrokerAccess): Partial<IClientOptions> {
  return {
    ...(a.username !== undefined ? { username: a.username } : {}),
    ...(a.password !== undefined ? { password: a.password } : {}),
    ...(a.ca_file ? { ca: readFileSync(a.ca_file) } : {}),
    ...(a.cert_file ? { cert: readFileSync(a.cert_file) } : {}),
    ...(a.key_file ? { key: readFileSync(a.key_file) } : {}),
  };
}

export interface LocalMqttClientOptions {
  url: string;
  access: LocalBrokerAccess;
  clientId: string;
  /** Retained `online` on connect, `offline` as the will and at a clean stop. */
  availabilityTopic: string;
  queueSize: number;
  /** Topics subscribed at every connection (QoS 1). */
  subscriptions: readonly string[];
  onMessage: (topic: string, payload: Buffer) => void;
  /** After every (re)connection, once `online` was published: republish the states. */
  onConnect: () => void;
  logger?: Logger;
  reconnect?: BackoffPolicy;
  connectTimeoutMs?: number;
  /** Publishes awaiting the broker's answer at once (the rest wait in the queue). Default 32. */
  maxInFlight?: number;
}

export type LocalLinkState = 'connected' | 'connecting' | 'error' | 'stopped';

export interface LocalMqttClientStatus {
  state: LocalLinkState;
  /** The broker URL without any login in it. */
  url: string;
  queued: number;
  dropped: number;
  published: number;
  connects: number;
  last_error: string | null;
  last_connected_at: string | null;
}

/** The URL as it may be shown: without `user:password@`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//');
  }
}

/**
 * The box's MQTT client to the LAN broker, apart from the cloud uplink's: its own connection, its own backoff, and
 * a bounded queue (PublishQueue: drops the oldest, counted) in front of mqtt.js so a broker that is down or slow
 * costs the cameras nothing — `publish` only queues and returns. Reconnects with exponential backoff + jitter;
 * `online` is published retained at every connection, `offline` is the will.
 */
export class LocalMqttClient {
  private client: MqttClient | undefined;
  private readonly queue: PublishQueue;
  private readonly log: Logger;
  private connected = false;
  private closing = false;
  private attempts = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  /** Bumped at every disconnection: answers to an older connection's publishes are ignored. */
  private generation = 0;
  private state: LocalLinkState = 'stopped';
  private lastError: string | null = null;
  private lastConnectedAt: string | null = null;
  private published = 0;
  private connects = 0;

  constructor(private readonly o: LocalMqttClientOptions) {
    this.queue = new PublishQueue(o.queueSize);
    this.log = o.logger ?? silentLogger();
  }

  get isConnected(): boolean {
    return this.connected;
  }

  start(): void {
    const o = this.o;
    let login: Partial<IClientOptions>;
    try {
      login = brokerLoginOptions(o.access);
    } catch (err) {
      // A missing certificate is the owner's to fix: shown in status and doctor; the box goes on without the link.
      this.state = 'error';
      this.lastError = describeError(err);
      this.log.error({ err: this.lastError }, 'local mqtt: cannot read the TLS files; the local link stays off');
      return;
    }
    this.state = 'connecting';
    const client = mqtt.connect(o.url, {
      clientId: o.clientId,
      clean: true,
      protocolVersion: 4,
      keepalive: 30,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      reconnectPeriod: 0,
      queueQoSZero: false,
      will: { topic: o.availabilityTopic, payload: Buffer.from('offline'), qos: 1, retain: true },
      ...login,
    });
    this.client = client;
    client.on('connect', () => {
      this.connected = true;
      this.attempts = 0;
      this.connects++;
      this.state = 'connected';
      this.lastError = null;
      this.lastConnectedAt = new Date().toISOString();
      this.log.info({ url: redactUrl(o.url) }, 'local mqtt: connected');
      if (o.subscriptions.length > 0)
        client.subscribe([...o.subscriptions], { qos: 1 }, (err) => {
          if (err) this.log.warn({ err: describeError(err) }, 'local mqtt: subscribing failed');
        });
      client.publish(o.availabilityTopic, 'online', { qos: 1, retain: true });
      o.onConnect();
      this.pump();
    });
    client.on('message', (topic, payload) => {
      try {
        o.onMessage(topic, payload);
      } catch (err) {
        this.log.warn({ err: describeError(err), topic }, 'local mqtt: a command could not be handled');
      }
    });
    client.on('close', () => {
      if (this.connected && !this.closing) this.log.warn('local mqtt: connection lost');
      this.connected = false;
      this.generation++;
      this.inFlight = 0;
      if (!this.closing) {
        this.state = 'connecting';
        this.scheduleReconnect();
      }
    });
    client.on('error', (err) => {
      const first = this.lastError === null;
      this.lastError = describeError(err);
      // Once per outage at warn, then debug: a LAN broker that is off for a day must not flood the log.
      if (first) this.log.warn({ err: this.lastError, url: redactUrl(o.url) }, 'local mqtt: error');
      else this.log.debug({ err: this.lastError }, 'local mqtt: error');
    });
  }

  private scheduleReconnect(): void {
    if (this.closing || this.reconnectTimer) return;
    this.attempts++;
    const delay = backoffDelayMs(this.attempts, this.o.reconnect ?? { baseMs: 1000, maxMs: 30_000 });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.closing && this.client && !this.connected) this.client.reconnect();
    }, delay);
    this.reconnectTimer.unref();
  }

  /** Queues one message; returns at once (never waits for the broker). */
  publish(topic: string, payload: Buffer | string, opts: { retain?: boolean; qos?: 0 | 1 } = {}): void {
    if (this.closing) return;
    this.queue.push({ topic, payload, retain: opts.retain ?? false, qos: opts.qos ?? 1 });
    this.pump();
  }

  private pump(): void {
    const client = this.client;
    const max = this.o.maxInFlight ?? 32;
    while (client && this.connected && this.inFlight < max) {
      const m = this.queue.shift();
      if (!m) return;
      this.send(client, m);
    }
  }

  private send(client: MqttClient, m: QueuedMessage): void {
    const gen = this.generation;
    this.inFlight++;
    client.publish(m.topic, m.payload, { qos: m.qos, retain: m.retain }, (err) => {
      if (gen !== this.generation) return;
      this.inFlight--;
      if (err) {
        this.queue.unshift(m);
        this.log.debug({ err: describeError(err), topic: m.topic }, 'local mqtt: publish failed; queued again');
        return;
      }
      this.published++;
      this.pump();
    });
  }

  status(): LocalMqttClientStatus {
    return {
      state: this.state,
      url: redactUrl(this.o.url),
      queued: this.queue.length + this.inFlight,
      dropped: this.queue.dropped,
      published: this.published,
      connects: this.connects,
      last_error: this.lastError,
      last_connected_at: this.lastConnectedAt,
    };
  }

  /** Publishes what is queued (up to `drainMs`), `offline`, then disconnects. */
  async close(drainMs = 2000): Promise<void> {
    const client = this.client;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (!client) {
      this.closing = true;
      this.state = 'stopped';
      return;
    }
    const end = Date.now() + drainMs;
    while (this.connected && this.queue.length + this.inFlight > 0 && Date.now() < end)
      await new Promise((r) => setTimeout(r, 20));
    this.closing = true;
    const within = (ms: number, p: Promise<void>): Promise<void> =>
      Promise.race([p, new Promise<void>((r) => setTimeout(r, ms).unref())]);
    if (this.connected)
      await within(
        1000,
        new Promise<void>((r) =>
          client.publish(this.o.availabilityTopic, 'offline', { qos: 1, retain: true }, () => r()),
        ),
      );
    await within(1000, new Promise<void>((r) => client.end(false, {}, () => r())));
    if (!client.disconnected) await new Promise<void>((r) => client.end(true, {}, () => r()));
    this.connected = false;
    this.state = 'stopped';
  }
}
