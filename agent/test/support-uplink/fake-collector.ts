import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { OffsetClock } from '../../../shared/clock/index.js';
import { isVigilError } from '../../../shared/errors/index.js';
import { VigilError } from '../../../firmware-protocol/errors.js';
import {
  MemoryNonceCache,
  parseHttpSignature,
  parseMqttEnvelope,
  sha256Hex,
  signMqttMessage,
  verifySignedMessage,
  type DeviceCredentials,
} from '../../../shared/signing/index.js';
import type { Ack, AckItem } from '../../../firmware-protocol/messages.js';
import { parseTopic, acksTopic } from '../../../firmware-protocol/topics.js';

/**
 * A small stand-in collector for uplink unit tests: verifies signatures exactly as the protocol says, dedups by
 * (id, rev), answers Acks over HTTP and signed acks over MQTT, and injects faults on request. Integration and fault
 * tests use the real collector instead.
 */
export interface Received {
  /** Every accepted (id, rev) once. */
  events: Map<string, Record<string, unknown>>;
  /** Every event message delivery, including duplicates. */
  deliveries: number;
  thumbnails: Map<string, string>;
  heartbeats: Array<Record<string, unknown>>;
}

export class FakeCollector {
  readonly received: Received = { events: new Map(), deliveries: 0, thumbnails: new Map(), heartbeats: [] };
  /** The collector's own clock; tests skew the agent, not this. */
  readonly clock = new OffsetClock();
  private readonly nonces = new MemoryNonceCache(this.clock);
  private server: Server | undefined;
  private client: MqttClient | undefined;
  /** Fault knobs. */
  faults = {
    /** Answer the next N HTTP requests with this status (500, 503, 429 …). */
    failNext: 0,
    failStatus: 500,
    retryAfterS: undefined as number | undefined,
    /** Reject events with this code (400 over HTTP, rejected acks over MQTT) while set. */
    rejectCode: undefined as string | undefined,
    /** Swallow the next N MQTT acks (the agent must re-send after its lease). */
    dropAcks: 0,
    /** Sign MQTT acks with this secret instead of the device's (forgery). */
    forgeAcks: false,
  };

  constructor(readonly device: DeviceCredentials) {}

  get eventIds(): Set<string> {
    return new Set([...this.received.events.keys()].map((k) => k.split('#')[0]!));
  }

  private async verify(msg: ReturnType<typeof parseHttpSignature>): Promise<void> {
    await verifySignedMessage(msg, {
      keys: (id) =>
        id === this.device.deviceId ? [{ keyId: this.device.keyId, secret: this.device.secret }] : undefined,
      nonces: this.nonces,
      clock: this.clock,
    });
  }

  private ingestEvents(body: Buffer): AckItem[] {
    const value = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    const list = (Array.isArray(value.events) ? value.events : [value]) as Array<Record<string, unknown>>;
    return list.map((e) => {
      const id = e.id as string;
      const rev = e.rev as number;
      if (this.faults.rejectCode)
        return {
          id,
          rev,
          kind: 'event',
          status: 'rejected',
          code: this.faults.rejectCode,
          message: 'rejected by the test',
        } as AckItem;
      this.received.deliveries++;
      const key = `${id}#${rev}`;
      const dup = this.received.events.has(key);
      this.received.events.set(key, e);
      return { id, rev, kind: 'event', status: dup ? 'duplicate' : 'accepted' } as AckItem;
    });
  }

  private ingestThumbnail(eventId: string, body: Buffer): AckItem {
    if (![...this.received.events.keys()].some((k) => k.startsWith(eventId + '#'))) {
      throw new VigilError('unknown_event', `event ${eventId} is unknown`);
    }
    const dup = this.received.thumbnails.has(eventId);
    this.received.thumbnails.set(eventId, sha256Hex(body));
    return { id: eventId, rev: 0, kind: 'thumbnail', status: dup ? 'duplicate' : 'accepted' };
  }

  private ack(items: AckItem[]): Ack {
    return { v: 1, acks: items, server_time: new Date(this.clock.now()).toISOString() };
  }

  // ------------------------------------------------------------------ HTTP

  async listenHttp(): Promise<string> {
    this.server = createServer((req, res) => void this.onHttp(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private async onHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const send = (status: number, json: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, {
        'content-type': 'application/json',
        date: new Date(this.clock.now()).toUTCString(),
        ...headers,
      });
      res.end(JSON.stringify(json));
    };
    const error = (
      status: number,
      code: string,
      message: string,
      details?: Record<string, unknown>,
      headers?: Record<string, string>,
    ): void => send(status, { error: { code, message, request_id: 'test', ...(details ? { details } : {}) } }, headers);
    if (this.faults.failNext > 0) {
      this.faults.failNext--;
      const headers: Record<string, string> =
        this.faults.retryAfterS !== undefined ? { 'retry-after': String(this.faults.retryAfterS) } : {};
      error(
        this.faults.failStatus,
        this.faults.failStatus === 429
          ? 'rate_limited'
          : this.faults.failStatus === 503
            ? 'service_unavailable'
            : 'internal_error',
        'injected',
        undefined,
        headers,
      );
      return;
    }
    try {
      const msg = parseHttpSignature(req.headers, req.method ?? 'GET', req.url ?? '/', sha256Hex(body));
      await this.verify(msg);
      const path = req.url ?? '';
      if (path.endsWith('/events')) {
        const items = this.ingestEvents(body);
        if (this.faults.rejectCode && items.length === 1) {
          error(400, this.faults.rejectCode, 'rejected by the test');
          return;
        }
        send(200, this.ack(items));
      } else if (path.endsWith('/thumbnail')) {
        const eventId = path.split('/')[5]!;
        send(200, this.ack([this.ingestThumbnail(eventId, body)]));
      } else if (path.endsWith('/heartbeat')) {
        const hb = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        this.received.heartbeats.push(hb);
        send(200, this.ack([{ id: hb.sent_at as string, rev: 0, kind: 'heartbeat', status: 'accepted' }]));
      } else error(404, 'not_found', 'no such endpoint');
    } catch (err) {
      if (isVigilError(err)) error(err.status ?? 500, err.code, err.message, err.details);
      else error(500, 'internal_error', String(err));
    }
  }

  // ------------------------------------------------------------------ MQTT

  async connectMqtt(url: string): Promise<void> {
    const client = mqtt.connect(url, {
      clientId: `fake-collector-${process.pid}-${Date.now()}`,
      clean: true,
      reconnectPeriod: 200,
    });
    this.client = client;
    const prefix = `vigil/v1/${this.device.deviceId}`;
    client.on('message', (topic, payload) => void this.onMqtt(topic, payload));
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () =>
        client.subscribe([`${prefix}/events`, `${prefix}/thumbnails/+`, `${prefix}/heartbeat`], { qos: 1 }, (err) =>
          err ? reject(err) : resolve(),
        ),
      );
      client.once('error', reject);
    });
  }

  private publishAck(items: AckItem[], evenIfEmpty = false): void {
    if (items.length === 0 && !evenIfEmpty) return;
    if (this.faults.dropAcks > 0) {
      this.faults.dropAcks--;
      return;
    }
    const topic = acksTopic(this.device.deviceId);
    const creds = this.faults.forgeAcks ? { ...this.device, secret: Buffer.alloc(32, 7) } : this.device;
    const env = signMqttMessage(creds, topic, Buffer.from(JSON.stringify(this.ack(items))), { clock: this.clock });
    this.client!.publish(topic, JSON.stringify(env), { qos: 1 });
  }

  private async onMqtt(topic: string, payload: Buffer): Promise<void> {
    const t = parseTopic(topic);
    let body: Buffer;
    try {
      const parsed = parseMqttEnvelope(payload, topic);
      body = parsed.body;
      await this.verify(parsed.message);
    } catch (err) {
      // Like the collector: a good signature with a bad timestamp gets an EMPTY ack carrying server_time; other
      // rejections of readable events are acked `rejected` with the code.
      if (isVigilError(err) && err.code === 'timestamp_out_of_tolerance') {
        this.publishAck([], true);
        return;
      }
      if (t.kind === 'events' && isVigilError(err)) {
        const env = JSON.parse(payload.toString('utf8')) as { body_b64: string };
        const value = JSON.parse(Buffer.from(env.body_b64, 'base64').toString('utf8')) as Record<string, unknown>;
        const list = (Array.isArray(value.events) ? value.events : [value]) as Array<{ id: string; rev: number }>;
        this.publishAck(
          list.map((e) => ({
            id: e.id,
            rev: e.rev,
            kind: 'event',
            status: 'rejected',
            code: err.code,
            message: err.message,
          })),
        );
      }
      return;
    }
    if (t.kind === 'events') this.publishAck(this.ingestEvents(body));
    else if (t.kind === 'thumbnail') {
      try {
        this.publishAck([this.ingestThumbnail(t.eventId, body)]);
      } catch (err) {
        if (isVigilError(err))
          this.publishAck([
            { id: t.eventId, rev: 0, kind: 'thumbnail', status: 'rejected', code: err.code, message: err.message },
          ]);
      }
    } else if (t.kind === 'heartbeat') {
      const hb = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      this.received.heartbeats.push(hb);
      this.publishAck([{ id: hb.sent_at as string, rev: 0, kind: 'heartbeat', status: 'accepted' }]);
    }
  }

  async close(): Promise<void> {
    if (this.server) {
      this.server.closeAllConnections();
      await new Promise<void>((r) => this.server!.close(() => r()));
    }
    if (this.client) await new Promise<void>((r) => this.client!.end(true, {}, () => r()));
  }
}
