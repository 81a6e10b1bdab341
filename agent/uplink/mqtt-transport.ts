import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Clock } from '../../shared/clock/index.js';
import { describeError } from '../errors.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import { signMqttMessage, type DeviceCredentials } from '../../shared/signing/index.js';
import {
  acksTopic,
  availabilityTopic,
  commandsTopic,
  deviceSubscriptions,
  eventsTopic,
  heartbeatTopic,
  resultsTopic,
  thumbnailTopic,
} from '../../firmware-protocol/topics.js';
import { backoffDelayMs, type BackoffPolicy } from '../outbox/backoff.js';
import { AckVerifier } from './ack-verify.js';
import type { AckHandler, CommandSink, SendResult, Transport } from './types.js';

/**
 * Where the box's broker login comes from (agent/credentials/broker-login.ts): the one stored with the device
 * credentials, renewed from the collector when there is none or the broker refuses it (PROTOCOL.md §1.5).
 */
export interface BrokerLoginSource {
  current(): { username: string; password: string } | undefined;
  /** A fresh login, stored; undefined when the collector issues none. Throws when the collector cannot be reached. */
  renew(): Promise<{ username: string; password: string } | undefined>;
}

/** CONNACK codes meaning "this login is not accepted" (MQTT 3.1.1: 4, 5; MQTT 5: 134, 135). */
const LOGIN_REFUSED = new Set([4, 5, 134, 135]);

export interface MqttTransportOptions {
  /** Broker URL: mqtt://, mqtts://, ws://, wss://. */
  url: string;
  identity: DeviceCredentials;
  /** The corrected clock signatures use. */
  clock: Clock;
  logger?: Logger;
  /** A fixed broker login (config uplink.mqtt_username / mqtt_password); wins over `login`. */
  username?: string;
  password?: string;
  /** The box's own broker login, renewed when missing or refused. */
  login?: BrokerLoginSource;
  /** Least time between two renewals (each one replaces the password at the collector). Default 60 s. */
  loginRenewMs?: number;
  /** Extra TLS / connection options passed to mqtt.js (ca, rejectUnauthorized, …). */
  connectOptions?: Partial<IClientOptions>;
  reconnect?: BackoffPolicy;
  connectTimeoutMs?: number;
  keepaliveS?: number;
  /** How long a publish waits for the broker's PUBACK before the send is reported as unconfirmed. */
  pubackTimeoutMs?: number;
}

/**
 * MQTT transport: QoS 1 publishes of signed envelopes, a persistent session (`clean: false`, client id = device
 * id) so acks published while the box was offline wait at the broker, a retained availability topic with a Last
 * Will, and reconnects with exponential backoff + jitter (mqtt.js's fixed reconnect period is turned off).
 *
 * The broker's PUBACK only means the broker has the message; delivery is the collector's signed ack on the
 * device's ack topic, which is PUBACKed to the broker only after the outbox recorded it.
 *
 * Commands (PROTOCOL.md §6) arrive on the device's commands topic, subscribed next to the ack topic (QoS 1, same
 * persistent session, so commands published while the box was offline wait at the broker). Each is handed to the
 * command sink and PUBACKed once the sink has checked it and remembered its id.
 */
export class MqttTransport implements Transport {
  readonly name = 'mqtt' as const;
  private client: MqttClient | undefined;
  private connected = false;
  private closing = false;
  private attempts = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private readonly verifier: AckVerifier;
  private readonly ackTopic: string;
  private readonly commandTopic: string;
  private commandSink: CommandSink | undefined;
  /** True when the broker login is missing or was refused: renewed before the next connection attempt. */
  private loginStale = false;
  private lastRenewAt = Number.NEGATIVE_INFINITY;
  /** Counters for status/bench. */
  readonly metrics = {
    connects: 0,
    disconnects: 0,
    acksReceived: 0,
    acksRefused: 0,
    commandsReceived: 0,
    published: 0,
    loginRefused: 0,
    loginRenewals: 0,
  };

  constructor(private readonly o: MqttTransportOptions) {
    this.log = o.logger ?? silentLogger();
    this.verifier = new AckVerifier(o.identity, o.clock);
    this.ackTopic = acksTopic(o.identity.deviceId);
    this.commandTopic = commandsTopic(o.identity.deviceId);
  }

  setCommandSink(sink: CommandSink): void {
    this.commandSink = sink;
  }

  private availability(state: 'online' | 'offline'): Buffer {
    return Buffer.from(JSON.stringify({ v: 1, state, at: new Date(this.o.clock.now()).toISOString() }));
  }

  /** The login to connect with: the fixed one, else the box's own (undefined: none, e.g. an anonymous test broker). */
  private loginNow(): { username: string; password?: string } | undefined {
    if (this.o.username !== undefined)
      return { username: this.o.username, ...(this.o.password !== undefined ? { password: this.o.password } : {}) };
    return this.o.login?.current();
  }

  /** Before a connection attempt: a missing or refused own login is renewed (at most once per loginRenewMs). */
  private async refreshLogin(): Promise<void> {
    const source = this.o.login;
    if (!source || this.o.username !== undefined || !this.loginStale) return;
    const now = Date.now();
    if (now - this.lastRenewAt < (this.o.loginRenewMs ?? 60_000)) return;
    this.lastRenewAt = now;
    try {
      const login = await source.renew();
      this.metrics.loginRenewals++;
      this.loginStale = false;
      this.log.info({ login: login ? 'issued' : 'none offered' }, 'mqtt: broker login renewed from the collector');
    } catch (err) {
      this.log.warn(
        { err: describeError(err) },
        'mqtt: could not get a broker login from the collector; retrying later',
      );
    }
    const client = this.client;
    const login = this.loginNow();
    if (client) {
      client.options.username = login?.username;
      client.options.password = login?.password;
    }
  }

  async start(onAck: AckHandler, onReady: () => void): Promise<void> {
    const id = this.o.identity.deviceId;
    this.loginStale =
      this.o.login !== undefined && this.o.username === undefined && this.o.login.current() === undefined;
    const login = this.loginNow();
    const options: IClientOptions = {
      clientId: id,
      clean: false,
      protocolVersion: 4,
      keepalive: this.o.keepaliveS ?? 30,
      connectTimeout: this.o.connectTimeoutMs ?? 10_000,
      reconnectPeriod: 0,
      resubscribe: true,
      queueQoSZero: false,
      will: { topic: availabilityTopic(id), payload: this.availability('offline'), qos: 1, retain: true },
      ...(login ? { username: login.username, password: login.password } : {}),
      ...(this.o.connectOptions ?? {}),
      // Connected below, once a missing login was asked for.
      manualConnect: true,
    };
    const client = mqtt.connect(this.o.url, options);
    this.client = client;
    client.handleMessage = (packet: IPublishPacket, done) => {
      void this.onMessage(packet, onAck).finally(() => done());
    };
    client.on('connect', (connack) => {
      this.connected = true;
      this.attempts = 0;
      this.metrics.connects++;
      this.log.info({ session_present: connack.sessionPresent }, 'mqtt: connected');
      // Acks and commands, exact topics, QoS 1. Without a command sink only the acks (nothing would take them).
      const topics = this.commandSink ? deviceSubscriptions(id) : [this.ackTopic];
      client.subscribe(topics, { qos: 1 }, (err, granted) => {
        if (err) this.log.error({ err: describeError(err), topics }, 'mqtt: subscribing failed');
        // A broker ACL refusing a topic answers 0x80 for it: the box then gets no commands (or no acks).
        const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
        if (refused.length > 0) this.log.error({ topics: refused }, 'mqtt: the broker refused a subscription');
      });
      client.publish(availabilityTopic(id), this.availability('online'), { qos: 1, retain: true });
      onReady();
    });
    client.on('close', () => {
      if (this.connected && !this.closing) {
        this.metrics.disconnects++;
        this.log.warn('mqtt: connection lost');
      }
      this.connected = false;
      this.scheduleReconnect();
    });
    client.on('error', (err: Error & { code?: unknown }) => {
      if (typeof err.code === 'number' && LOGIN_REFUSED.has(err.code)) {
        this.metrics.loginRefused++;
        // Not for the signed-message layer to fix: a new login (rotated with the key, or never issued) is needed.
        this.loginStale = this.o.login !== undefined;
        this.log.warn(
          { code: err.code },
          `mqtt: the broker refused the login${this.loginStale ? '; asking the collector for a new one' : ''}`,
        );
        return;
      }
      this.log.warn({ err: describeError(err) }, 'mqtt: error');
    });
    void this.refreshLogin().finally(() => {
      if (!this.closing) client.connect();
    });
  }

  private scheduleReconnect(): void {
    if (this.closing || this.reconnectTimer) return;
    this.attempts++;
    const delay = backoffDelayMs(this.attempts, this.o.reconnect ?? { baseMs: 500, maxMs: 30_000 });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.refreshLogin().finally(() => {
        if (!this.closing && this.client && !this.connected) this.client.reconnect();
      });
    }, delay);
  }

  private async onMessage(packet: IPublishPacket, onAck: AckHandler): Promise<void> {
    if (packet.topic === this.commandTopic && this.commandSink) {
      this.metrics.commandsReceived++;
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      try {
        await this.commandSink(payload, { transport: 'mqtt' });
      } catch (err) {
        this.log.error({ err: describeError(err) }, 'mqtt: the command sink failed');
      }
      return;
    }
    if (packet.topic !== this.ackTopic) return;
    try {
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      const { ack, stale } = await this.verifier.verify(packet.topic, payload);
      this.metrics.acksReceived++;
      onAck(ack, { transport: 'mqtt', stale });
    } catch (err) {
      this.metrics.acksRefused++;
      this.log.warn({ err: describeError(err), topic: packet.topic }, 'mqtt: refused a message on the ack topic');
    }
  }

  isReady(): boolean {
    return this.connected && !this.closing;
  }

  private publish(topic: string, body: Buffer): Promise<SendResult> {
    const client = this.client;
    if (!client || !this.isReady())
      return Promise.resolve({ failure: { code: 'not_connected', message: 'not connected to the broker' } });
    // Signed now, not at enqueue: an item queued for hours must still be within the collector's time window.
    const envelope = Buffer.from(
      JSON.stringify(signMqttMessage(this.o.identity, topic, body, { clock: this.o.clock })),
    );
    return new Promise((resolve) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        // Unconfirmed, not failed: mqtt.js retransmits on reconnect, and the lease re-sends if no ack comes.
        resolve({});
      }, this.o.pubackTimeoutMs ?? 10_000);
      client.publish(topic, envelope, { qos: 1 }, (err) => {
        if (settled) return;
        clearTimeout(timer);
        this.metrics.published++;
        resolve(err ? { failure: { code: 'mqtt_publish_failed', message: describeError(err) } } : {});
      });
    });
  }

  sendEvents(body: Buffer): Promise<SendResult> {
    return this.publish(eventsTopic(this.o.identity.deviceId), body);
  }

  sendThumbnail(eventId: string, jpeg: Buffer): Promise<SendResult> {
    return this.publish(thumbnailTopic(this.o.identity.deviceId, eventId), jpeg);
  }

  sendHeartbeat(body: Buffer): Promise<SendResult> {
    return this.publish(heartbeatTopic(this.o.identity.deviceId), body);
  }

  sendResult(_commandId: string, body: Buffer): Promise<SendResult> {
    return this.publish(resultsTopic(this.o.identity.deviceId), body);
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    if (!client) return;
    const within = (ms: number, p: Promise<void>): Promise<void> =>
      Promise.race([p, new Promise<void>((r) => setTimeout(r, ms).unref())]);
    if (this.connected) {
      await within(
        2_000,
        new Promise<void>((resolve) =>
          client.publish(
            availabilityTopic(this.o.identity.deviceId),
            this.availability('offline'),
            { qos: 1, retain: true },
            () => resolve(),
          ),
        ),
      );
    }
    await within(2_000, new Promise<void>((resolve) => client.end(false, {}, () => resolve())));
    if (!client.disconnected) await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
    this.connected = false;
  }
}
