import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { systemClock } from '../../../shared/clock/index.js';
import {
  MemoryNonceCache,
  parseHttpSignature,
  parseMqttEnvelope,
  sha256Hex,
  signMqttMessage,
  verifySignedMessage,
  type DeviceCredentials,
  type SignedMessage,
} from '../../../shared/signing/index.js';
import {
  validateCommandResult,
  type Ack,
  type CommandPoll,
  type CommandResult,
  type MqttEnvelopeMessage,
} from '../../../firmware-protocol/messages.js';
import { acksTopic, commandsTopic, resultsTopic } from '../../../firmware-protocol/topics.js';
import { makeCommand, signCommand } from './commands.js';

/**
 * The collector's half of the command channel, small, for the agent's transport tests: issues signed commands
 * (MQTT: published on the box's commands topic; HTTPS: handed out by the signed long-poll), takes results (MQTT
 * results topic / POST results), checks their signature and schema, and acks them with kind `result`.
 */
export class CommandCollector {
  readonly results: CommandResult[] = [];
  /** Long-polls answered (HTTPS), with the `wait` each asked for. */
  readonly polls: number[] = [];
  /** Envelopes the next long-poll hands out. */
  waiting: Buffer[] = [];
  private readonly nonces = new MemoryNonceCache();
  private server: Server | undefined;
  private client: MqttClient | undefined;

  constructor(readonly device: DeviceCredentials) {}

  /** A signed status command (or `kind`) for the box. */
  command(kind = 'status', args: Record<string, unknown> = {}): { id: string; envelope: Buffer } {
    const cmd = makeCommand(this.device.deviceId, systemClock, { kind, args });
    return { id: cmd.id, envelope: signCommand(this.device, cmd, systemClock) };
  }

  private async verify(msg: SignedMessage): Promise<void> {
    const keys = (id: string) =>
      id === this.device.deviceId ? [{ keyId: this.device.keyId, secret: this.device.secret }] : undefined;
    await verifySignedMessage(msg, { keys, nonces: this.nonces });
  }

  private take(body: Buffer): Ack {
    const result = validateCommandResult.parse(JSON.parse(body.toString('utf8')), 'result');
    const dup = this.results.some((r) => r.command_id === result.command_id);
    if (!dup) this.results.push(result);
    const status = dup ? ('duplicate' as const) : ('accepted' as const);
    return { v: 1, acks: [{ id: result.command_id, rev: 0, kind: 'result', status }], server_time: iso() };
  }

  // ------------------------------------------------------------------ MQTT

  async connectMqtt(url: string): Promise<void> {
    const client = mqtt.connect(url, { clientId: `collector-${process.pid}-${Date.now()}`, reconnectPeriod: 200 });
    this.client = client;
    const topic = resultsTopic(this.device.deviceId);
    client.on('message', (t, payload) => {
      if (t === topic) void this.onResult(t, Buffer.from(payload));
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => client.subscribe(topic, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
      client.once('error', reject);
    });
  }

  private async onResult(topic: string, payload: Buffer): Promise<void> {
    const { message, body } = parseMqttEnvelope(payload, topic);
    await this.verify(message);
    const ack = Buffer.from(JSON.stringify(this.take(body)));
    const acks = acksTopic(this.device.deviceId);
    this.client!.publish(acks, JSON.stringify(signMqttMessage(this.device, acks, ack)), { qos: 1 });
  }

  publish(envelope: Buffer): Promise<unknown> {
    return this.client!.publishAsync(commandsTopic(this.device.deviceId), envelope, { qos: 1 });
  }

  // ------------------------------------------------------------------ HTTPS

  async listenHttp(): Promise<string> {
    this.server = createServer((req, res) => void this.onHttp(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private async onHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const send = (status: number, json: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json', date: new Date().toUTCString() });
      res.end(JSON.stringify(json));
    };
    try {
      const url = req.url ?? '/';
      await this.verify(parseHttpSignature(req.headers, req.method ?? 'GET', url, sha256Hex(body)));
      const prefix = `/v1/devices/${this.device.deviceId}`;
      if (req.method === 'GET' && url.startsWith(`${prefix}/commands?wait=`)) {
        const wait = Number(new URL(url, 'http://x').searchParams.get('wait'));
        this.polls.push(wait);
        const until = Date.now() + wait * 1000;
        let gone = false;
        res.on('close', () => (gone = true));
        while (this.waiting.length === 0 && Date.now() < until && !gone) await sleep(20);
        // A poll the box gave up on (it stopped) hands nothing out: the commands wait for the next one.
        if (gone) return;
        const commands = this.waiting.splice(0).map((e) => JSON.parse(e.toString()) as MqttEnvelopeMessage);
        send(200, { v: 1, commands } satisfies CommandPoll);
      } else if (req.method === 'POST' && url === `${prefix}/results`) send(200, this.take(body));
      else send(404, { error: { code: 'not_found', message: url, request_id: 't' } });
    } catch (err) {
      send(401, { error: { code: 'signature_mismatch', message: String(err), request_id: 't' } });
    }
  }

  async close(): Promise<void> {
    if (this.server) {
      this.server.closeAllConnections();
      await new Promise<void>((r) => this.server!.close(() => r()));
    }
    if (this.client) await this.client.endAsync(true);
  }
}

const iso = (): string => new Date().toISOString();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
