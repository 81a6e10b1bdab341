import type { MqttClient } from 'mqtt';
import { describeError } from '../../shared/errors/index.js';
import { signMqttMessage, type DeviceCredentials } from '../../shared/signing/index.js';
import type { AckItem } from '../../firmware-protocol/messages.js';
import { BATCH_MAX_EVENTS } from '../../firmware-protocol/limits.js';
import { acksTopic, type ParsedTopic } from '../../firmware-protocol/topics.js';
import { makeAck, rejectedItem } from './ack.js';
import type { MqttConfig } from './config.js';
import type { ResolvedIngestDeps } from './deps.js';
import { parseJson } from './errors.js';
import { identifyItems } from './events.js';

/**
 * The collector's side of MQTT acks: signed Acks published on `vigil/v1/{device_id}/acks` (QoS 1, signed with the
 * device's own key), the items of one device's messages finishing together batched into one Ack, and the `rejected`
 * items naming every identifiable item of a message.
 */
export class MqttAckPublisher {
  private readonly batcher: AckBatcher;

  constructor(
    private readonly d: ResolvedIngestDeps,
    private readonly client: MqttClient,
    private readonly qos: MqttConfig['qos'],
    private readonly log: ResolvedIngestDeps['log'],
  ) {
    this.batcher = new AckBatcher((creds, items) => this.publish(creds, items));
  }

  /** Queues items for the device's next batched Ack; resolves once they were handed to the client. */
  add(creds: DeviceCredentials, items: AckItem[]): Promise<void> {
    return this.batcher.add(creds, items);
  }

  /**
   * Publishes a signed Ack (not awaited: mqtt.js keeps QoS 1 publishes in its session store and resends them after
   * a reconnect). An empty item list is sent only when asked (a clock rejection: it still carries server_time).
   */
  publish(creds: DeviceCredentials, items: AckItem[], evenIfEmpty = false): void {
    if (items.length === 0 && !evenIfEmpty) {
      this.log.info({ device_id: creds.deviceId }, 'nothing identifiable to ack in a rejected message');
      return;
    }
    const topic = acksTopic(creds.deviceId);
    const ack = makeAck(items, this.d.clock);
    const envelope = signMqttMessage(creds, topic, Buffer.from(JSON.stringify(ack)), { clock: this.d.clock });
    this.client.publish(topic, JSON.stringify(envelope), { qos: this.qos }, (err) => {
      if (err)
        this.log.warn(
          { err: describeError(err), device_id: creds.deviceId },
          'ack publish failed; the device will resend',
        );
    });
    this.d.metrics.counts.acks_published++;
  }
}

/**
 * Acks per device: the items of messages of one device that finish together go out in ONE signed Ack (at most
 * BATCH_MAX_EVENTS items), instead of one publish per message. "Together" is one run of the microtask queue: the
 * callers of one database group commit settle at once and reach `add` through promise continuations only, so the
 * batch is flushed on the next tick (process.nextTick runs once the microtask queue is empty), before the event
 * loop goes back to reading sockets; waiting for setImmediate instead held every ack behind the next round of I/O.
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
      process.nextTick(() => {
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

/** Ack items rejecting every identifiable item of a message with one code. */
export function rejectEveryItem(topic: ParsedTopic, body: Buffer, code: string, message: string): AckItem[] {
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
      return identifyItems(value).map((e) => rejectedItem(e.id, e.rev, e.kind, code, message));
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
    case 'results': {
      try {
        const id = (parseJson(body, 'result') as { command_id?: unknown }).command_id;
        if (typeof id === 'string' && id.length > 0 && id.length <= 64)
          return [rejectedItem(id, 0, 'result', code, message)];
      } catch {
        // not identifiable
      }
      return [];
    }
    default:
      return [];
  }
}
