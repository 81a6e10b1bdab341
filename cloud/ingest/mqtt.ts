import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { isVigilError, describeError, type VigilError } from '../../shared/errors/index.js';
import { componentLogger } from '../../shared/log/index.js';
import {
  SigningErrorCode,
  parseMqttEnvelope,
  sha256Hex,
  signMqttMessage,
  type DeviceCredentials,
  type SignedMessage,
} from '../../shared/signing/index.js';
import { wireErrorInfo } from '../../firmware-protocol/errors.js';
import type { AckItem } from '../../firmware-protocol/messages.js';
import { BATCH_MAX_EVENTS } from '../../firmware-protocol/limits.js';
import {
  SHARED_GROUP,
  TOPIC_FILTERS,
  acksTopic,
  tryParseTopic,
  type ParsedTopic,
} from '../../firmware-protocol/topics.js';
import { makeAck, rejectedItem } from './ack.js';
import type { MqttConfig } from './config.js';
import { resolveIngestDeps, type IngestDeps, type ResolvedIngestDeps } from './deps.js';
import { isSendersFault, type FailedMessage, type FailureVerdict } from './dead-letter.js';
import { parseJson } from './errors.js';
import { identifyEvents, ingestEvents } from './events.js';
import { ingestHeartbeat } from './heartbeat.js';
import { installPubackWindow } from './mqtt-window.js';
import type { NonceClaim } from './sink.js';
import { ingestThumbnail } from './thumbnail.js';

/**
 * MQTT ingest: the collector subscribes to every device's events, heartbeats and thumbnails through shared
 * subscriptions (`$share/<group>/vigil/v1/+/events` …), so the collectors of one group split the traffic and each
 * message reaches one of them. Sessions are persistent (`clean: false`, stable client id, MQTT 5 session expiry),
 * subscriptions QoS 1.
 *
 * Each message: envelope → signature (device keys + shared nonce store) → rate limit → validate → durable store →
 * signed Ack published on `vigil/v1/{device_id}/acks` (QoS 1, signed with the device's own key) → only then the
 * broker PUBACK. A collector killed before the PUBACK gets the message again from the broker (same session) or
 * another member of the group gets it; dedupe by (id, rev, content) makes that harmless.
 *
 * Concurrency: up to `mqtt.max_in_flight` messages per connection are handled at once (./mqtt-window.ts), so their
 * database writes share commits; PUBACKs still go out in arrival order and only for stored messages. A thumbnail
 * waits for the earlier messages of its device (DeviceLanes). The acks of one device's messages finishing together
 * go out as one signed Ack (AckBatcher).
 *
 * Rejections: `rejected` is final for a box (dead letter), so only final verdicts (wire codes whose advice is
 * `drop`: invalid_json, invalid_message, event_conflict, thumbnail_mismatch, payload_too_large, …) of a message
 * signed by an active key become `rejected` items, for every item that can be identified. Transient ones
 * (rate_limited, unknown_event) get no ack: the box resends after its ack timeout. A message signed by an active key
 * but with its timestamp out of tolerance gets an EMPTY ack carrying `server_time` (protocol §7: a box seeing acks
 * that fail only its timestamp check re-syncs its clock). Unsigned, forged or unidentifiable traffic gets no ack at
 * all: it is logged and counted.
 *
 * Replays: on MQTT, a message whose nonce was already used is most often the broker redelivering a message this or
 * another collector stored but did not PUBACK (it crashed in between). Events and thumbnails are idempotent (dedupe
 * by id + rev + content hash), so an authentic replay within the window is processed again and acked
 * (`duplicate`); a replayed heartbeat is dropped. HTTP rejects every replay with `nonce_replayed`.
 *
 * Containment (./dead-letter.ts): nothing one message does can throw out of its handler. Failures that are ours
 * (database down, a bug) are retried with backoff while holding the PUBACK, so the broker keeps the message; on
 * close it stays un-PUBACKed and is redelivered later. A message that keeps failing while storage answers is
 * dead-lettered after `ingest.dead_letter_after` failures, acked `rejected`/`dead_lettered` and PUBACKed, so it can
 * neither crash-loop the collector nor hold back the PUBACKs of the messages behind it.
 */
export interface MqttIngestDeps extends IngestDeps {
  /** The `mqtt` config section; `url` must be set. */
  mqtt: MqttConfig;
  /**
   * Who this collector is on the broker (cloud/broker: derived from the deployment id unless configured). Unset:
   * `mqtt.client_id` / `mqtt.shared_group` / `mqtt.username` / `mqtt.password`, else a random client id and the
   * group `vigil-cloud`.
   */
  identity?: MqttCollectorIdentity;
  /** Called for each message whose signing device is unknown (`unknown_device`), with the topic's device id. */
  onUnknownDevice?: (deviceId: string) => void;
}

export interface MqttCollectorIdentity {
  clientId: string;
  group: string;
  username?: string | undefined;
  password?: string | undefined;
}

export interface MqttIngest {
  /** Resolves once every connection has connected and subscribed for the first time. */
  readonly ready: Promise<void>;
  /** True while every connection is up. */
  connected(): boolean;
  /** Stops consuming; messages in progress finish or stay un-PUBACKed for redelivery. */
  close(): Promise<void>;
}

/** Shared-subscription filters of a group. */
export function collectorFilters(group: string): string[] {
  return [TOPIC_FILTERS.events, TOPIC_FILTERS.heartbeat, TOPIC_FILTERS.thumbnails].map((f) => `$share/${group}/${f}`);
}

function resolveIdentity(deps: MqttIngestDeps): MqttCollectorIdentity {
  const cfg = deps.mqtt;
  return (
    deps.identity ?? {
      clientId: cfg.client_id ?? `vigil-cloud-${randomBytes(6).toString('hex')}`,
      group: cfg.shared_group ?? SHARED_GROUP,
      username: cfg.username,
      password: cfg.password,
    }
  );
}

export function startMqttIngest(deps: MqttIngestDeps): MqttIngest {
  const cfg = deps.mqtt;
  if (!cfg.url) throw new Error('startMqttIngest: mqtt.url is not set');
  const d = resolveIngestDeps(deps);
  const log = componentLogger(d.log, 'ingest-mqtt');
  const state = { closing: false };
  const clients: MqttClient[] = [];
  const readies: Promise<void>[] = [];
  const lanes = new DeviceLanes();
  const who = resolveIdentity(deps);

  for (let i = 0; i < cfg.connections; i++) {
    const clientId = i === 0 ? who.clientId : `${who.clientId}-${i + 1}`;
    const options: IClientOptions = {
      clientId,
      clean: false,
      protocolVersion: cfg.protocol_version,
      keepalive: cfg.keepalive_s,
      reconnectPeriod: cfg.reconnect_ms,
      connectTimeout: 10_000,
      resubscribe: false, // subscribed again on every connect below
      // A refused login (e.g. not provisioned yet, or a password being changed) is retried like a lost connection.
      reconnectOnConnackError: true,
      ...(cfg.protocol_version === 5 ? { properties: { sessionExpiryInterval: cfg.session_expiry_s } } : {}),
      ...(who.username !== undefined ? { username: who.username } : {}),
      ...(who.password !== undefined ? { password: who.password } : {}),
      ...(cfg.ca_file !== undefined ? { ca: readFileSync(cfg.ca_file) } : {}),
    };
    const client = mqtt.connect(cfg.url, options);
    clients.push(client);
    const handler = new MessageHandler(
      d,
      client,
      cfg,
      state,
      log.child({ client_id: clientId }),
      lanes,
      deps.onUnknownDevice,
    );
    // Up to max_in_flight messages at once; each PUBACKed only after it was stored and acked, in arrival order.
    installPubackWindow(client, {
      limit: cfg.max_in_flight,
      handle: (packet) => handler.handle(packet),
      // No PUBACK: the broker redelivers it on the next session. The other messages go on meanwhile.
      onError: (err, packet) =>
        log.warn({ err: describeError(err), topic: packet.topic }, 'message left un-PUBACKed for redelivery'),
    });
    readies.push(
      new Promise<void>((resolve) => {
        client.on('connect', (connack) => {
          log.info(
            { client_id: clientId, group: who.group, session_present: connack.sessionPresent },
            'connected to broker',
          );
          client.subscribe(collectorFilters(who.group), { qos: cfg.qos }, (err, granted) => {
            if (err) {
              log.error({ err: describeError(err) }, 'subscribe failed');
              return;
            }
            const refused = (granted ?? []).filter((g) => g.qos === 128 || g.qos > 2);
            if (refused.length > 0)
              log.error({ refused: refused.map((g) => g.topic) }, 'broker refused shared subscriptions');
            else resolve();
          });
        });
      }),
    );
    client.on('reconnect', () => log.info({ client_id: clientId }, 'reconnecting to broker'));
    client.on('offline', () => log.warn({ client_id: clientId }, 'broker connection lost'));
    client.on('error', (err) => log.warn({ client_id: clientId, err: describeError(err) }, 'broker error'));
  }

  return {
    ready: Promise.all(readies).then(() => undefined),
    connected: () => clients.every((c) => c.connected),
    close: async () => {
      state.closing = true;
      await Promise.all(clients.map((c) => c.endAsync(false).catch(() => undefined)));
    },
  };
}

/** Thrown to leave a message un-PUBACKed. */
class Abandon extends Error {}

/**
 * Ordering between the concurrent messages of one device, where it matters: a thumbnail waits until every message
 * of its device received before it has settled (its event usually arrived just before it; taken first, the
 * thumbnail would be refused as `unknown_event` and resent much later). Events and heartbeats need no order: the
 * store applies event revisions by rev and never lets an older heartbeat overwrite a newer one.
 */
class DeviceLanes {
  private readonly running = new Map<string, Set<Promise<unknown>>>();

  /** Must be called in arrival order (synchronously when a message arrives). */
  async run<T>(deviceId: string, afterEarlier: boolean, fn: () => Promise<T>): Promise<T> {
    let mine = this.running.get(deviceId);
    if (!mine) {
      mine = new Set();
      this.running.set(deviceId, mine);
    }
    const earlier = afterEarlier ? [...mine] : [];
    const p = (async () => {
      if (earlier.length > 0) await Promise.allSettled(earlier);
      return fn();
    })();
    mine.add(p);
    try {
      return await p;
    } finally {
      mine.delete(p);
      if (mine.size === 0) this.running.delete(deviceId);
    }
  }
}

/**
 * Acks per device: the items of messages of one device that finish in the same event-loop turn go out in ONE
 * signed Ack (at most BATCH_MAX_EVENTS items), instead of one publish per message.
 */
class AckBatcher {
  private readonly pending = new Map<string, { creds: DeviceCredentials; items: AckItem[]; sent: (() => void)[] }>();
  private scheduled = false;

  constructor(private readonly publish: (creds: DeviceCredentials, items: AckItem[]) => void) {}

  /** Resolves once the items were handed to the client (published with the others of the batch). */
  add(creds: DeviceCredentials, items: AckItem[]): Promise<void> {
    const key = `${creds.deviceId}\u0000${creds.keyId}`;
    let batch = this.pending.get(key);
    if (batch && batch.items.length + items.length > BATCH_MAX_EVENTS) {
      this.send(key);
      batch = undefined;
    }
    if (!batch) {
      batch = { creds, items: [], sent: [] };
      this.pending.set(key, batch);
    }
    batch.items.push(...items);
    const done = new Promise<void>((r) => batch.sent.push(r));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        for (const k of [...this.pending.keys()]) this.send(k);
      });
    }
    return done;
  }

  private send(key: string): void {
    const batch = this.pending.get(key);
    if (!batch) return;
    this.pending.delete(key);
    this.publish(batch.creds, batch.items);
    for (const r of batch.sent) r();
  }
}

class MessageHandler {
  private readonly acks: AckBatcher;

  constructor(
    private readonly d: ResolvedIngestDeps,
    private readonly client: MqttClient,
    private readonly cfg: MqttConfig,
    private readonly state: { closing: boolean },
    private readonly log: ResolvedIngestDeps['log'],
    private readonly lanes: DeviceLanes,
    private readonly onUnknownDevice?: (deviceId: string) => void,
  ) {
    this.acks = new AckBatcher((creds, items) => this.publishAck(creds, items));
  }

  handle(packet: IPublishPacket): Promise<void> {
    this.d.metrics.counts.mqtt_messages++;
    const receivedAt = this.d.clock.now();
    const topic = tryParseTopic(packet.topic);
    if (!topic || topic.kind === 'acks' || topic.kind === 'availability') {
      this.log.debug({ topic: packet.topic.slice(0, 200) }, 'ignoring message on a topic ingest does not take');
      return Promise.resolve();
    }
    // The topic's device id is not verified yet; it only orders this message after the earlier ones of that topic.
    return this.lanes.run(topic.deviceId, topic.kind === 'thumbnail', () => this.handleOne(packet, topic, receivedAt));
  }

  /**
   * One message, contained: whatever goes wrong is caught here. The sender's faults were answered inside
   * `attempt`; a failure that is ours is retried with backoff while holding the PUBACK (the broker keeps the
   * message), until it succeeds or the containment dead-letters it (then it is acked and PUBACKed). Rejects only
   * with Abandon (closing: left un-PUBACKed for redelivery).
   */
  private async handleOne(packet: IPublishPacket, topic: ParsedTopic, receivedAt: number): Promise<void> {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const ctx: AttemptContext = { payload };
    let delay = 200;
    for (let retry = false; ; retry = true) {
      try {
        await this.attempt(packet, topic, receivedAt, ctx, retry);
        return;
      } catch (err) {
        if (err instanceof Abandon || this.state.closing) throw err instanceof Abandon ? err : new Abandon('closing');
        const verdict = await this.d.containment.ourFailure(failedMessage(packet.topic, topic, ctx), err);
        if (verdict?.dead) {
          await this.ackDeadLetter(topic, ctx, verdict);
          return;
        }
        if (this.state.closing) throw new Abandon('closing');
        this.d.metrics.counts.mqtt_store_retries++;
        this.log.warn(
          { topic: packet.topic.slice(0, 200), retry_in_ms: delay },
          'an MQTT message failed on our side; retrying',
        );
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  /** Tells the box its message was dead-lettered (a final `rejected`), when it is known who sent it. */
  private async ackDeadLetter(topic: ParsedTopic, ctx: AttemptContext, verdict: FailureVerdict): Promise<void> {
    if (!ctx.creds) return;
    const message = `this message failed ${verdict.attempts} times on the collector's side; it was moved to the dead-letter table as ${verdict.id}`;
    const items = this.rejectAll(topic, ctx.body ?? Buffer.alloc(0), 'dead_lettered', message);
    if (items.length > 0) await this.acks.add(ctx.creds, items);
  }

  /** One try at a message: envelope → signature → rate limit → validate → store → ack. Throws only failures of ours. */
  private async attempt(
    packet: IPublishPacket,
    topic: ParsedTopic,
    receivedAt: number,
    ctx: AttemptContext,
    retry: boolean,
  ): Promise<void> {
    const d = this.d;
    const payload = ctx.payload;
    if (payload.length > d.config.body_limits.mqtt_envelope_bytes) {
      this.unauthenticated(
        packet.topic,
        'payload_too_large',
        `envelope of ${payload.length} bytes is over the limit; dropped unread`,
      );
      return;
    }

    let message: SignedMessage;
    let body: Buffer;
    try {
      ({ message, body } = parseMqttEnvelope(payload, packet.topic));
    } catch (err) {
      if (!isSendersFault(err) && isVigilError(err)) throw err;
      this.unauthenticated(packet.topic, isVigilError(err) ? err.code : 'signature_malformed', describeError(err));
      return;
    }
    ctx.body = body;
    ctx.sha256 = message.actualSha256;

    let creds: DeviceCredentials;
    let skewS: number;
    let nonce: NonceClaim | undefined;
    try {
      // Events record their nonce in the store's transaction (one commit); a redelivery racing in is still stored.
      const v = await d.verifier.verify(message, 'mqtt', topic.kind === 'events' ? { deferNonce: 'allow' } : {});
      creds = v.credentials;
      skewS = v.skewS;
      nonce = v.nonce;
    } catch (err) {
      if (!isSendersFault(err)) throw err; // a storage failure (or a bug): ours, retried
      const e = err as VigilError;
      const stale =
        e.code === SigningErrorCode.timestamp || e.code === SigningErrorCode.replay
          ? await d.verifier.authenticateStale(message)
          : undefined;
      if (!stale) {
        this.unauthenticated(packet.topic, e.code, e.message);
        return;
      }
      if (e.code === SigningErrorCode.replay && topic.kind !== 'heartbeat') {
        d.metrics.counts.mqtt_replays_reprocessed++;
        creds = stale;
        skewS = message.timestamp - Math.floor(d.clock.now() / 1000);
      } else {
        d.metrics.reject(e.code);
        // Not final (the box corrects its clock and resends): an EMPTY ack, which only carries server_time.
        if (e.code === SigningErrorCode.timestamp) this.publishAck(stale, [], true);
        else this.log.debug({ device_id: stale.deviceId }, 'replayed heartbeat dropped');
        return;
      }
    }
    ctx.creds = creds;

    // A retry of a message that failed on our side already paid its token.
    const wait = retry ? 0 : d.limiter.take(creds.deviceId);
    if (wait > 0) {
      // `rejected` is final for a box; a rate limit is not. No ack: the box resends after its ack timeout.
      d.metrics.reject('rate_limited');
      this.log.info({ device_id: creds.deviceId, retry_after_s: wait }, 'rate limited; message dropped unacked');
      return;
    }

    let items: AckItem[];
    try {
      items = await this.process(topic, creds.deviceId, body, message, skewS, receivedAt, nonce);
    } catch (err) {
      if (!isSendersFault(err)) throw err;
      const e = err as VigilError;
      d.metrics.reject(e.code);
      // Only final verdicts become `rejected` items; transient ones (unknown_event: thumbnail before its event)
      // stay unacked so the box resends.
      if (wireErrorInfo(e.code)?.retry !== 'drop') {
        this.log.info({ device_id: creds.deviceId, code: e.code }, 'message not acked (transient rejection)');
        return;
      }
      items = this.rejectAll(topic, body, e.code, e.message);
    }
    if (items.length === 0)
      this.log.info({ device_id: creds.deviceId }, 'nothing identifiable to ack in a rejected message');
    else await this.acks.add(creds, items);
  }

  private async process(
    topic: ParsedTopic,
    deviceId: string,
    body: Buffer,
    message: SignedMessage,
    skewS: number,
    receivedAt: number,
    nonce?: NonceClaim,
  ): Promise<AckItem[]> {
    switch (topic.kind) {
      case 'events':
        return (await ingestEvents(this.d, deviceId, body, receivedAt, nonce)).items;
      case 'heartbeat':
        return [await ingestHeartbeat(this.d, deviceId, body, skewS, receivedAt)];
      case 'thumbnail':
        return [
          await ingestThumbnail(
            this.d,
            deviceId,
            topic.eventId,
            Readable.from([body]),
            { size: body.length, sha256: message.actualSha256 },
            receivedAt,
          ),
        ];
      default:
        return [];
    }
  }

  /** Ack items rejecting every identifiable item of a message with one code. */
  private rejectAll(topic: ParsedTopic, body: Buffer, code: string, message: string): AckItem[] {
    switch (topic.kind) {
      case 'thumbnail':
        return [rejectedItem(topic.eventId, 0, 'thumbnail', code, message)];
      case 'events': {
        let value: unknown;
        try {
          value = parseJson(body, 'events');
        } catch {
          return [];
        }
        return identifyEvents(value).map((e) => rejectedItem(e.id, e.rev, 'event', code, message));
      }
      case 'heartbeat': {
        try {
          const sentAt = (parseJson(body, 'heartbeat') as { sent_at?: unknown }).sent_at;
          if (typeof sentAt === 'string' && sentAt.length > 0 && sentAt.length <= 64)
            return [rejectedItem(sentAt, 0, 'heartbeat', code, message)];
        } catch {
          // not identifiable
        }
        return [];
      }
      default:
        return [];
    }
  }

  /**
   * Publishes a signed Ack (not awaited: mqtt.js keeps QoS 1 publishes in its session store and resends them after
   * a reconnect). An empty item list is sent only when asked (a clock rejection: it still carries server_time).
   */
  private publishAck(creds: DeviceCredentials, items: AckItem[], evenIfEmpty = false): void {
    if (items.length === 0 && !evenIfEmpty) {
      this.log.info({ device_id: creds.deviceId }, 'nothing identifiable to ack in a rejected message');
      return;
    }
    const topic = acksTopic(creds.deviceId);
    const ack = makeAck(items, this.d.clock);
    const envelope = signMqttMessage(creds, topic, Buffer.from(JSON.stringify(ack)), { clock: this.d.clock });
    this.client.publish(topic, JSON.stringify(envelope), { qos: this.cfg.qos }, (err) => {
      if (err)
        this.log.warn(
          { err: describeError(err), device_id: creds.deviceId },
          'ack publish failed; the device will resend',
        );
    });
    this.d.metrics.counts.acks_published++;
  }

  private unauthenticated(topic: string, code: string, message: string): void {
    this.d.metrics.counts.mqtt_unauthenticated++;
    this.d.metrics.reject(code);
    if (code === SigningErrorCode.unknownDevice) {
      // Counted and watched (cloud/broker/foreign-traffic.ts: one warning for a sustained stream), not one line each.
      const deviceId = tryParseTopic(topic)?.deviceId;
      if (deviceId !== undefined) this.onUnknownDevice?.(deviceId);
      this.log.debug(
        { topic: topic.slice(0, 200), code },
        'MQTT message from an unknown device dropped without an ack',
      );
      return;
    }
    this.log.warn(
      { topic: topic.slice(0, 200), code, reason: message.slice(0, 300) },
      'unauthenticated MQTT message dropped without an ack',
    );
  }
}

/** What one message's attempts learned, kept across retries (for the dead-letter record and its ack). */
interface AttemptContext {
  payload: Buffer;
  /** The envelope's body, once the envelope parsed. */
  body?: Buffer;
  sha256?: string;
  /** Who signed it, once verified. */
  creds?: DeviceCredentials;
}

function failedMessage(route: string, topic: ParsedTopic, ctx: AttemptContext): FailedMessage {
  const body = ctx.body ?? ctx.payload;
  return {
    transport: 'mqtt',
    kind: topic.kind === 'heartbeat' ? 'heartbeat' : topic.kind === 'thumbnail' ? 'thumbnail' : 'events',
    deviceId: topic.deviceId,
    eventId: topic.kind === 'thumbnail' ? topic.eventId : undefined,
    route,
    body,
    bodySha256: ctx.sha256 ?? sha256Hex(body),
    bodySize: body.length,
  };
}
