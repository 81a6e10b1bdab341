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
import { splitEventsBody, validateEvent, type Ack, type AckItem } from '../../../firmware-protocol/messages.js';
import { EVENT_ID_RE } from '../../../firmware-protocol/patterns.js';
import { parseTopic, acksTopic } from '../../../firmware-protocol/topics.js';

/**
 * A small stand-in collector for uplink unit tests: verifies signatures exactly as the protocol says, validates
 * every item of an events body with the firmware-protocol schemas, dedups by (id, rev), answers Acks over HTTP and
 * signed acks over MQTT, and injects faults on request. Integration and fault tests use the real collector instead.
 *
 * `reviews` picks how it reads review items (firmware-protocol PROTOCOL.md §2.1):
 * - `known`: a collector that knows them (splitEventsBody): stores valid ones, acks them kind `review`;
 * - `pre-review`: the code path of the collector before review items, as it was (cloud/ingest/events.ts then):
 *   every item is validated as an Event; a single body that fails is refused as a whole (HTTP 400
 *   `invalid_message`; MQTT: every item it can name — an `evt_` id and a rev — is acked `rejected`, so a review
 *   gets no ack at all); a bad batch item it can name is acked `rejected`, one it cannot fails the whole batch;
 * - `pre-review-event-ack`: the same, but it names any id in its acks: a review item is acked
 *   `{kind: "event", id: "rev_…", status: "rejected", code: "invalid_message"}`, over HTTP too (200 with the Ack).
 */
export type ReviewSupport = 'known' | 'pre-review' | 'pre-review-event-ack';

export interface Received {
  /** Every accepted (id, rev) once. */
  events: Map<string, Record<string, unknown>>;
  /** Every accepted review message (id, rev) once (`reviews: 'known'`). */
  reviews: Map<string, Record<string, unknown>>;
  /** Every event message delivery, including duplicates. */
  deliveries: number;
  thumbnails: Map<string, string>;
  heartbeats: Array<Record<string, unknown>>;
}

export class FakeCollector {
  readonly received: Received = {
    events: new Map(),
    reviews: new Map(),
    deliveries: 0,
    thumbnails: new Map(),
    heartbeats: [],
  };
  /** How review items are read (see the module comment). */
  reviews: ReviewSupport = 'known';
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

  /** Acks of an events body; throws a VigilError when the body fails as a whole (HTTP 4xx, MQTT see onMqtt). */
  private ingestEvents(body: Buffer): AckItem[] {
    const value = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    if (this.reviews !== 'known') return this.ingestAsBefore(value);
    const parts = splitEventsBody(value);
    const slots = new Map<number, AckItem>();
    for (const r of parts.rejected) {
      if (r.id === undefined || r.rev === undefined)
        throw new VigilError('invalid_message', `item ${r.index} cannot be identified to reject it`);
      const message = r.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
      slots.set(r.index, { id: r.id, rev: r.rev, kind: r.kind, status: 'rejected', code: 'invalid_message', message });
    }
    for (const it of parts.items) {
      const m = it.message as unknown as Record<string, unknown>;
      slots.set(it.index, this.store(it.kind, m));
    }
    if (!Array.isArray(value.events) && parts.rejected.length === 1) {
      const r = parts.rejected[0]!;
      throw new VigilError('invalid_message', r.issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    }
    return [...slots.keys()].sort((a, b) => a - b).map((i) => slots.get(i)!);
  }

  /** The collector before review items: every item an Event (see `ReviewSupport`). */
  private ingestAsBefore(value: Record<string, unknown>): AckItem[] {
    const single = !Array.isArray(value.events);
    const list = (single ? [value] : value.events) as Array<Record<string, unknown>>;
    return list.map((e, i) => {
      const issues = validateEvent.issues(e);
      if (issues.length === 0) return this.store('event', e);
      const message = `/events/${i}${issues[0]?.path ?? ''}: ${issues[0]?.message ?? ''}`;
      const id = this.nameable(e);
      if (single && this.reviews === 'pre-review') throw new VigilError('invalid_message', `event: ${message}`);
      if (!id) throw new VigilError('invalid_message', `${message} (and the item has no valid id/rev to reject it by)`);
      return { ...id, kind: 'event', status: 'rejected', code: 'invalid_message', message } as AckItem;
    });
  }

  /** Id and rev of an item as this collector can name them in an ack (see `ReviewSupport`). */
  nameable(e: Record<string, unknown>): { id: string; rev: number } | undefined {
    const { id, rev } = e;
    if (typeof id !== 'string' || typeof rev !== 'number' || !Number.isSafeInteger(rev) || rev < 0) return undefined;
    return this.reviews === 'pre-review' && !EVENT_ID_RE.test(id) ? undefined : { id, rev };
  }

  private store(kind: 'event' | 'review', e: Record<string, unknown>): AckItem {
    const id = e.id as string;
    const rev = e.rev as number;
    if (this.faults.rejectCode)
      return { id, rev, kind, status: 'rejected', code: this.faults.rejectCode, message: 'rejected by the test' };
    this.received.deliveries++;
    const key = `${id}#${rev}`;
    const seen = kind === 'review' ? this.received.reviews : this.received.events;
    const dup = seen.has(key);
    seen.set(key, e);
    return { id, rev, kind, status: dup ? 'duplicate' : 'accepted' };
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
        this.rejectWhole(value, err.code, err.message);
      }
      return;
    }
    if (t.kind === 'events') {
      try {
        this.publishAck(this.ingestEvents(body));
      } catch (err) {
        if (!isVigilError(err)) throw err;
        this.rejectWhole(JSON.parse(body.toString('utf8')) as Record<string, unknown>, err.code, err.message);
      }
    } else if (t.kind === 'thumbnail') {
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

  /** MQTT: a message refused as a whole: every item this collector can name is acked `rejected` (none: no ack). */
  private rejectWhole(value: Record<string, unknown>, code: string, message: string): void {
    const list = (Array.isArray(value.events) ? value.events : [value]) as Array<Record<string, unknown>>;
    const named = list.map((e) => this.nameable(e)).filter((x) => x !== undefined);
    const kindOf = (id: string): 'event' | 'review' =>
      this.reviews === 'known' && id.startsWith('rev_') ? 'review' : 'event';
    this.publishAck(named.map((n) => ({ ...n, kind: kindOf(n.id), status: 'rejected', code, message })));
  }

  async close(): Promise<void> {
    if (this.server) {
      this.server.closeAllConnections();
      await new Promise<void>((r) => this.server!.close(() => r()));
    }
    if (this.client) await new Promise<void>((r) => this.client!.end(true, {}, () => r()));
  }
}
