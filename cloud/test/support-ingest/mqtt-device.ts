import mqtt, { type MqttClient } from 'mqtt';
import {
  MemoryNonceCache,
  parseMqttEnvelope,
  signMqttMessage,
  verifySignedMessage,
  type DeviceCredentials,
  type SignOptions,
} from '../../../shared/signing/index.js';
import { validateAck, type Ack } from '../../../firmware-protocol/messages.js';
import { acksTopic, eventsTopic, heartbeatTopic, thumbnailTopic } from '../../../firmware-protocol/topics.js';

/**
 * A box on MQTT, for tests: publishes signed envelopes at QoS 1 and collects the acks on its own topic, verifying
 * each one exactly as a box must (signed with its own key, fresh nonce, Ack schema). Acks failing verification are
 * counted in `forgedAcks`.
 */
export class TestMqttDevice {
  readonly acks: Ack[] = [];
  forgedAcks = 0;
  private readonly nonces = new MemoryNonceCache();
  private waiters: { pred: (a: Ack) => boolean; resolve: (a: Ack) => void }[] = [];
  /** Called for each verified ack before waiters see it (to check state at ack time). */
  onAck: ((ack: Ack) => void) | undefined;

  private constructor(
    readonly creds: DeviceCredentials,
    readonly client: MqttClient,
  ) {}

  static async connect(
    url: string,
    creds: DeviceCredentials,
    options: { clientId?: string; username?: string; password?: string; protocolVersion?: 4 | 5 } = {},
  ): Promise<TestMqttDevice> {
    const client = await mqtt.connectAsync(url, {
      clientId: options.clientId ?? creds.deviceId,
      ...(options.username !== undefined ? { username: options.username, password: options.password } : {}),
      clean: true,
      protocolVersion: options.protocolVersion ?? 5,
      reconnectPeriod: 200,
      connectTimeout: 5000,
    });
    const dev = new TestMqttDevice(creds, client);
    client.on('message', (topic, payload) => void dev.receive(topic, payload));
    await client.subscribeAsync(acksTopic(creds.deviceId), { qos: 1 });
    return dev;
  }

  private async receive(topic: string, payload: Buffer): Promise<void> {
    try {
      const { message, body } = parseMqttEnvelope(payload, topic);
      await verifySignedMessage(message, { keys: () => [this.creds], nonces: this.nonces });
      const ack = validateAck.parse(JSON.parse(body.toString('utf8')), 'ack');
      this.onAck?.(ack);
      this.acks.push(ack);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(ack)) return true;
        w.resolve(ack);
        return false;
      });
    } catch {
      this.forgedAcks++;
    }
  }

  envelope(topic: string, body: Buffer | object, options: SignOptions & { creds?: DeviceCredentials } = {}): Buffer {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    return Buffer.from(JSON.stringify(signMqttMessage(options.creds ?? this.creds, topic, bytes, options)));
  }

  async publishRaw(topic: string, payload: Buffer | string): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1 });
  }

  /** Publishes an Event / EventBatch on this device's events topic; returns the exact payload (for replays). */
  async publishEvents(
    body: Buffer | object,
    options: SignOptions & { creds?: DeviceCredentials } = {},
  ): Promise<Buffer> {
    const topic = eventsTopic(this.creds.deviceId);
    const payload = this.envelope(topic, body, options);
    await this.publishRaw(topic, payload);
    return payload;
  }

  async publishHeartbeat(body: object, options: SignOptions = {}): Promise<Buffer> {
    const topic = heartbeatTopic(this.creds.deviceId);
    const payload = this.envelope(topic, body, options);
    await this.publishRaw(topic, payload);
    return payload;
  }

  async publishThumbnail(eventId: string, jpeg: Buffer): Promise<void> {
    const topic = thumbnailTopic(this.creds.deviceId, eventId);
    await this.publishRaw(topic, this.envelope(topic, jpeg));
  }

  /** The first ack (already received or future) matching `pred`. */
  waitForAck(pred: (a: Ack) => boolean, timeoutMs = 10_000): Promise<Ack> {
    const have = this.acks.find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`no matching ack within ${timeoutMs} ms (have ${JSON.stringify(this.acks).slice(0, 500)})`)),
        timeoutMs,
      );
      this.waiters.push({
        pred,
        resolve: (a) => {
          clearTimeout(timer);
          resolve(a);
        },
      });
    });
  }

  /** Waits for the ack of an event message (id, rev). */
  ackOf(id: string, rev = 0, timeoutMs?: number): Promise<Ack> {
    return this.waitForAck((a) => a.acks.some((i) => i.id === id && i.rev === rev), timeoutMs);
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
