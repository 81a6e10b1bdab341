import { Readable } from 'node:stream';
import type { IPublishPacket } from 'mqtt';
import { isVigilError, describeError, type VigilError } from '../../shared/errors/index.js';
import {
  SigningErrorCode,
  parseMqttEnvelope,
  sha256Hex,
  type DeviceCredentials,
  type SignedMessage,
} from '../../shared/signing/index.js';
import { wireErrorInfo } from '../../firmware-protocol/errors.js';
import { validateAvailability, type AckItem } from '../../firmware-protocol/messages.js';
import { tryParseTopic, type ParsedTopic } from '../../firmware-protocol/topics.js';
import type { ResolvedIngestDeps } from './deps.js';
import { isSendersFault, type FailedMessage, type FailureVerdict } from './dead-letter.js';
import { ingestEvents } from './events.js';
import { ingestHeartbeat } from './heartbeat.js';
import { ingestResult } from './results.js';
import { rejectEveryItem, type MqttAckPublisher } from './mqtt-acks.js';
import type { DeviceLanes } from './mqtt-device-lanes.js';
import type { NonceClaim } from './sink.js';
import { ingestThumbnail } from './thumbnail.js';

/** Thrown to leave a message un-PUBACKed. */
class Abandon extends Error {}

/**
 * One MQTT message, from the broker's packet to its signed Ack: envelope → signature → rate limit → validate →
 * store → ack, contained so nothing it does throws out (see ./mqtt.ts for the rules on rejections, replays and
 * failures of ours). The PUBACK is the caller's (./mqtt-window.ts): it goes out once `handle` resolves.
 */
export class MqttMessageHandler {
  constructor(
    private readonly d: ResolvedIngestDeps,
    private readonly acks: MqttAckPublisher,
    private readonly state: { closing: boolean },
    private readonly log: ResolvedIngestDeps['log'],
    private readonly lanes: DeviceLanes,
    private readonly onUnknownDevice?: (deviceId: string) => void,
    private readonly onAvailability?: (deviceId: string, state: 'online' | 'offline') => void,
  ) {}

  handle(packet: IPublishPacket): Promise<void> {
    this.d.metrics.counts.mqtt_messages++;
    const receivedAt = this.d.clock.now();
    const topic = tryParseTopic(packet.topic);
    if (topic?.kind === 'availability') {
      this.availability(topic.deviceId, packet.payload);
      return Promise.resolve();
    }
    if (!topic || topic.kind === 'acks' || topic.kind === 'commands') {
      this.log.debug({ topic: packet.topic.slice(0, 200) }, 'ignoring message on a topic ingest does not take');
      return Promise.resolve();
    }
    // The topic's device id is not verified yet; it only orders this message after the earlier ones of that topic.
    return this.lanes.run(topic.deviceId, topic.kind === 'thumbnail', () => this.handleOne(packet, topic, receivedAt));
  }

  /** A box's retained, unsigned presence (display only; the command channel re-publishes on `online`). */
  private availability(deviceId: string, payload: Buffer | string): void {
    if (!this.onAvailability) return;
    try {
      const value: unknown = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
      if (validateAvailability.check(value)) this.onAvailability(deviceId, value.state);
    } catch {
      // an empty payload clears the retained message; anything unreadable is ignored
    }
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
    const message =
      `this message failed ${verdict.attempts} times on the collector's side; it was moved to the dead-letter table ` +
      `as ${verdict.id}`;
    const items = rejectEveryItem(topic, ctx.body ?? Buffer.alloc(0), 'dead_lettered', message);
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
        if (e.code === SigningErrorCode.timestamp) this.acks.publish(stale, [], true);
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
      items = rejectEveryItem(topic, body, e.code, e.message);
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
      case 'results':
        return [await ingestResult(this.d, deviceId, body)];
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
    kind:
      topic.kind === 'heartbeat' || topic.kind === 'thumbnail'
        ? topic.kind
        : topic.kind === 'results'
          ? 'result'
          : 'events',
    deviceId: topic.deviceId,
    eventId: topic.kind === 'thumbnail' ? topic.eventId : undefined,
    route,
    body,
    bodySha256: ctx.sha256 ?? sha256Hex(body),
    bodySize: body.length,
  };
}
