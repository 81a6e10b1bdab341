import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { Pool } from 'undici';
import { eventsPath, heartbeatPath, pairPath, thumbnailPath } from '../../../firmware-protocol/http.js';
import { acksTopic, eventsTopic, heartbeatTopic, thumbnailTopic } from '../../../firmware-protocol/topics.js';
import { newEventId } from '../../../shared/ids/index.js';
import {
  MemoryNonceCache,
  parseMqttEnvelope,
  signHttpRequest,
  signMqttMessage,
  verifySignedMessage,
  type DeviceCredentials,
} from '../../../shared/signing/index.js';

/**
 * A lightweight box, written from PROTOCOL.md: its own credentials (paired through `POST /v1/pair`), signed events,
 * thumbnails and heartbeats over HTTP or MQTT, and end-to-end acks — an item counts as delivered only when an ack
 * names it (HTTP: the 200 body; MQTT: a signed ack on its ack topic, verified with its own key). Without an ack it
 * resends, signed afresh, like the agent's outbox; resends keep id, rev and content.
 *
 * HTTP boxes share a `CollectorPools` (one undici pool per collector, requests spread round-robin like a load
 * balancer; a refused or reset connection moves the request to the next collector). MQTT boxes hold one broker
 * connection each. Every message's outcome is kept in `log` for the checks.
 */
export type Transport = 'http' | 'mqtt';

export interface AckRecord {
  kind: 'event' | 'thumbnail' | 'heartbeat';
  /** Event id (events, thumbnails) or the heartbeat's sent_at. */
  id: string;
  rev: number;
  status: 'accepted' | 'duplicate' | 'rejected' | 'unacked';
  code?: string;
  /** First attempt, ms. */
  sentAt: number;
  /** When the ack arrived, ms. */
  ackedAt: number;
  attempts: number;
  /** HTTP: the collector that answered. */
  via?: string;
}

export interface BoxOptions {
  /** Stop resending and report `unacked` after this long (default 60 s). */
  giveUpMs?: number;
  /** MQTT: resend when no ack came within this long (default 3 s; the agent's default is 30 s). */
  ackTimeoutMs?: number;
}

/** One undici pool per collector; requests go round-robin over the collectors that `urls()` names right now. */
export class CollectorPools {
  private readonly pools = new Map<string, Pool>();
  private next = 0;

  constructor(
    private readonly urls: () => readonly string[],
    private readonly connections = 16,
  ) {}

  pick(): string {
    const list = this.urls();
    if (list.length === 0) throw new Error('no collectors');
    return list[this.next++ % list.length]!;
  }

  pool(url: string): Pool {
    let p = this.pools.get(url);
    if (!p) {
      const timeouts = { keepAliveTimeout: 30_000, headersTimeout: 30_000, bodyTimeout: 30_000 };
      p = new Pool(url, { connections: this.connections, ...timeouts });
      this.pools.set(url, p);
    }
    return p;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy().catch(() => undefined)));
    this.pools.clear();
  }
}

type AckKey = Pick<AckRecord, 'kind' | 'id' | 'rev'>;

export interface SentAcks {
  eventId: string;
  /** Acks of `new`, the thumbnail and `end`. */
  acks: AckRecord[];
}

function outcome(item: AckItem): Pick<AckRecord, 'status' | 'code'> {
  return item.code ? { status: item.status, code: item.code } : { status: item.status };
}

interface AckItem {
  id: string;
  rev: number;
  kind: string;
  status: 'accepted' | 'duplicate' | 'rejected';
  code?: string;
}

export interface PairedBox {
  creds: DeviceCredentials;
  mqttUrl?: string | undefined;
  mqttLogin?: { username: string; password: string } | undefined;
}

/** fetch, waiting out 429 answers (Retry-After) for up to a minute. */
async function patientFetch(url: string, init: RequestInit): Promise<Response> {
  const until = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(url, init);
    if (res.status !== 429 || Date.now() > until) return res;
    await res.arrayBuffer();
    await sleep(1000 * Number(res.headers.get('retry-after') ?? 1));
  }
}

/** Pairs one box: a pairing code from the API (admin token), then `POST /v1/pair` as a box does. */
export async function pairThroughApi(baseUrl: string, adminToken: string, name: string): Promise<PairedBox> {
  const created = await patientFetch(`${baseUrl}/v1/pairing-codes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  if (created.status !== 201) throw new Error(`pairing code at ${baseUrl}: ${created.status} ${await created.text()}`);
  const { code } = (await created.json()) as { code: string };
  const paired = await patientFetch(baseUrl + pairPath(), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ v: 1, code }),
  });
  if (paired.status !== 200) throw new Error(`pair at ${baseUrl}: ${paired.status} ${await paired.text()}`);
  const r = (await paired.json()) as {
    device_id: string;
    key_id: string;
    secret_b64: string;
    endpoints: { mqtt?: string };
    mqtt_credentials?: { username: string; password: string };
  };
  return {
    creds: { deviceId: r.device_id, keyId: r.key_id, secret: Buffer.from(r.secret_b64, 'base64') },
    mqttUrl: r.endpoints.mqtt,
    mqttLogin: r.mqtt_credentials,
  };
}

export type HeartbeatMessage = { sent_at: string } & Record<string, unknown>;

/** A Heartbeat message: sent now, an empty outbox, `cameras` cameras running. */
export function heartbeatMessage(deviceId: string, uptimeS: number, cameras = 1): HeartbeatMessage {
  return {
    v: 1,
    device_id: deviceId,
    sent_at: new Date().toISOString(),
    uptime_s: uptimeS,
    version: '0.1.0-sim',
    outbox: { depth: 0, oldest_pending_age_s: null, dropped: 0, in_flight: 0 },
    cameras: Array.from({ length: cameras }, (_, i) => ({
      name: `cam${i}`,
      state: 'running',
      fps: 5,
      last_frame_age_s: 0.2,
      restarts: 0,
    })),
  };
}

export class SimBox {
  readonly log: AckRecord[] = [];
  private mqttClient: MqttClient | undefined;
  private readonly nonces = new MemoryNonceCache();
  private readonly waiters = new Map<string, (item: AckItem) => void>();
  private readonly giveUpMs: number;
  private readonly ackTimeoutMs: number;
  private started = Date.now();
  forgedAcks = 0;

  private constructor(
    readonly paired: PairedBox,
    readonly transport: Transport,
    private readonly pools: CollectorPools | undefined,
    options: BoxOptions,
  ) {
    this.giveUpMs = options.giveUpMs ?? 60_000;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 3_000;
  }

  get deviceId(): string {
    return this.paired.creds.deviceId;
  }

  static async http(paired: PairedBox, pools: CollectorPools, options: BoxOptions = {}): Promise<SimBox> {
    return new SimBox(paired, 'http', pools, options);
  }

  static async mqtt(paired: PairedBox, brokerUrl: string, options: BoxOptions = {}): Promise<SimBox> {
    const box = new SimBox(paired, 'mqtt', undefined, options);
    const creds = paired.creds;
    const client = await mqtt.connectAsync(brokerUrl, {
      clientId: creds.deviceId,
      clean: true,
      protocolVersion: 5,
      reconnectPeriod: 500,
      connectTimeout: 10_000,
      ...(paired.mqttLogin ? { username: paired.mqttLogin.username, password: paired.mqttLogin.password } : {}),
    });
    box.mqttClient = client;
    client.on('message', (topic, payload) => void box.receive(topic, payload));
    await client.subscribeAsync(acksTopic(creds.deviceId), { qos: 1 });
    return box;
  }

  /** One event as a box sends it: `new` announcing the thumbnail, the JPEG, then `end`. */
  async sendEvent(o: { camera: string; jpeg: Buffer; label?: string; score?: number; id?: string }): Promise<SentAcks> {
    const eventId = o.id ?? newEventId();
    const startedAt = new Date(Date.now() - 500).toISOString();
    const base = {
      v: 1,
      id: eventId,
      device_id: this.deviceId,
      camera: o.camera,
      label: o.label ?? 'person',
      score: o.score ?? 0.9,
      box: [0.1, 0.1, 0.4, 0.8],
      started_at: startedAt,
    };
    const sha256 = createHash('sha256').update(o.jpeg).digest('hex');
    const thumbnail = { sha256, size: o.jpeg.length, width: 320, height: 240, content_type: 'image/jpeg' };
    const acks: AckRecord[] = [];
    acks.push(await this.sendEventMessage({ ...base, type: 'new', rev: 0, thumbnail }));
    acks.push(await this.sendThumbnail(eventId, o.jpeg));
    acks.push(await this.sendEventMessage({ ...base, type: 'end', rev: 1, ended_at: new Date().toISOString() }));
    return { eventId, acks };
  }

  async sendEventMessage(event: Record<string, unknown> & { id: string; rev: number }): Promise<AckRecord> {
    const body = Buffer.from(JSON.stringify(event));
    const key = { kind: 'event' as const, id: event.id, rev: event.rev };
    return this.transport === 'http'
      ? this.httpSend(key, 'POST', eventsPath(this.deviceId), body, 'application/json')
      : this.mqttSend(key, eventsTopic(this.deviceId), body);
  }

  async sendThumbnail(eventId: string, jpeg: Buffer): Promise<AckRecord> {
    const key = { kind: 'thumbnail' as const, id: eventId, rev: 0 };
    return this.transport === 'http'
      ? this.httpSend(key, 'PUT', thumbnailPath(this.deviceId, eventId), jpeg, 'image/jpeg')
      : this.mqttSend(key, thumbnailTopic(this.deviceId, eventId), jpeg);
  }

  /** A heartbeat; over MQTT it is published once and not waited for (acks of heartbeats are optional there). */
  async sendHeartbeat(cameras = 1): Promise<AckRecord | undefined> {
    const hb = heartbeatMessage(this.deviceId, Math.round((Date.now() - this.started) / 1000), cameras);
    const body = Buffer.from(JSON.stringify(hb));
    if (this.transport === 'http') {
      const key = { kind: 'heartbeat' as const, id: hb.sent_at, rev: 0 };
      return this.httpSend(key, 'POST', heartbeatPath(this.deviceId), body, 'application/json');
    }
    const topic = heartbeatTopic(this.deviceId);
    const envelope = JSON.stringify(signMqttMessage(this.paired.creds, topic, body));
    await this.mqttClient!.publishAsync(topic, envelope, { qos: 1 });
    return undefined;
  }

  async close(): Promise<void> {
    await this.mqttClient?.endAsync(true).catch(() => undefined);
  }

  // --- HTTP ---

  private async httpSend(key: AckKey, method: string, path: string, body: Buffer, type: string): Promise<AckRecord> {
    const sentAt = Date.now();
    let attempts = 0;
    for (;;) {
      if (Date.now() - sentAt > this.giveUpMs) {
        return this.record({ ...key, status: 'unacked', sentAt, ackedAt: Date.now(), attempts });
      }
      attempts++;
      const via = this.pools!.pick();
      const headers = { ...signHttpRequest(this.paired.creds, method, path, body), 'content-type': type };
      let status: number;
      let text: string;
      let retryAfter: string | string[] | undefined;
      try {
        const res = await this.pools!.pool(via).request({ method: method as 'POST' | 'PUT', path, headers, body });
        status = res.statusCode;
        retryAfter = res.headers['retry-after'];
        text = await res.body.text();
      } catch {
        await sleep(50 + Math.random() * 100); // refused or reset: the next collector
        continue;
      }
      if (status === 200) {
        const acks = (JSON.parse(text) as { acks?: AckItem[] }).acks ?? [];
        const item = acks.find((a) => a.id === key.id && a.kind === key.kind && a.rev === key.rev);
        if (item) return this.record({ ...key, ...outcome(item), sentAt, ackedAt: Date.now(), attempts, via });
        throw new Error(`${via}: 200 without an ack for ${key.kind} ${key.id}: ${text.slice(0, 300)}`);
      }
      if (status === 429) {
        await sleep(Math.min(2000, 1000 * Number(retryAfter ?? 1)));
        continue;
      }
      if (status >= 500) {
        await sleep(100 + Math.random() * 200);
        continue;
      }
      // Any other answer is final for the box (it would move the item to its dead letters).
      const code = (JSON.parse(text) as { error?: { code?: string } }).error?.code ?? String(status);
      return this.record({ ...key, status: 'rejected', code, sentAt, ackedAt: Date.now(), attempts, via });
    }
  }

  // --- MQTT ---

  private async mqttSend(key: AckKey, topic: string, body: Buffer): Promise<AckRecord> {
    const sentAt = Date.now();
    const name = `${key.kind}:${key.id}:${key.rev}`;
    let attempts = 0;
    let ack: AckItem | undefined;
    const arrived = new Promise<AckItem>((resolve) => this.waiters.set(name, resolve));
    void arrived.then((a) => (ack = a));
    while (!ack) {
      if (Date.now() - sentAt > this.giveUpMs) {
        this.waiters.delete(name);
        return this.record({ ...key, status: 'unacked', sentAt, ackedAt: Date.now(), attempts });
      }
      attempts++;
      // Signed afresh on every attempt: a new nonce and timestamp.
      const envelope = JSON.stringify(signMqttMessage(this.paired.creds, topic, body));
      this.mqttClient!.publish(topic, envelope, { qos: 1 }, () => undefined);
      await Promise.race([arrived, sleep(this.ackTimeoutMs)]);
    }
    const a = ack as AckItem;
    return this.record({ ...key, ...outcome(a), sentAt, ackedAt: Date.now(), attempts });
  }

  private async receive(topic: string, payload: Buffer): Promise<void> {
    let items: AckItem[];
    try {
      const { message, body } = parseMqttEnvelope(payload, topic);
      await verifySignedMessage(message, { keys: () => [this.paired.creds], nonces: this.nonces });
      items = (JSON.parse(body.toString('utf8')) as { acks?: AckItem[] }).acks ?? [];
    } catch {
      this.forgedAcks++;
      return;
    }
    for (const item of items) {
      const name = `${item.kind}:${item.id}:${item.rev}`;
      const w = this.waiters.get(name);
      if (w && item.status !== undefined) {
        this.waiters.delete(name);
        w(item);
      }
    }
  }

  private record(r: AckRecord): AckRecord {
    this.log.push(r);
    return r;
  }
}
