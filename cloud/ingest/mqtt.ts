import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { describeError } from '../../shared/errors/index.js';
import { componentLogger } from '../../shared/log/index.js';
import { SHARED_GROUP, TOPIC_FILTERS } from '../../firmware-protocol/topics.js';
import type { MqttConfig } from './config.js';
import { resolveIngestDeps, type IngestDeps } from './deps.js';
import { MqttAckPublisher } from './mqtt-acks.js';
import { DeviceLanes } from './mqtt-device-lanes.js';
import { MqttMessageHandler } from './mqtt-message-handler.js';
import { installPubackWindow } from './mqtt-window.js';

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
 * waits for the earlier messages of its device (./mqtt-device-lanes.ts). The acks of one device's messages finishing
 * together go out as one signed Ack (./mqtt-acks.ts). Each message is handled by ./mqtt-message-handler.ts.
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
  /**
   * Called with each box's availability (retained, unsigned; `vigil/v1/+/availability`, a plain subscription of the
   * first connection): the command channel re-publishes a box's pending commands when it turns online.
   */
  onAvailability?: (deviceId: string, state: 'online' | 'offline') => void;
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
  /** Publishes QoS 1 (not retained) through the first connected connection; resolves on the broker's PUBACK. */
  publish(topic: string, payload: string): Promise<void>;
  /** Stops consuming; messages in progress finish or stay un-PUBACKed for redelivery. */
  close(): Promise<void>;
}

/** Shared-subscription filters of a group. */
export function collectorFilters(group: string): string[] {
  return [TOPIC_FILTERS.events, TOPIC_FILTERS.heartbeat, TOPIC_FILTERS.thumbnails, TOPIC_FILTERS.results].map(
    (f) => `$share/${group}/${f}`,
  );
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
      // MQTT 5: Receive Maximum = the window, or the broker caps the unacked messages it sends (Mosquitto: 20), and
      // the window could never fill (3.1.1 has no such property: raise the broker's max_inflight_messages instead).
      ...(cfg.protocol_version === 5
        ? { properties: { sessionExpiryInterval: cfg.session_expiry_s, receiveMaximum: cfg.max_in_flight } }
        : {}),
      ...(who.username !== undefined ? { username: who.username } : {}),
      ...(who.password !== undefined ? { password: who.password } : {}),
      ...(cfg.ca_file !== undefined ? { ca: readFileSync(cfg.ca_file) } : {}),
    };
    const client = mqtt.connect(cfg.url, options);
    clients.push(client);
    const clientLog = log.child({ client_id: clientId });
    const acks = new MqttAckPublisher(d, client, cfg.qos, clientLog);
    const handler = new MqttMessageHandler(d, acks, state, clientLog, lanes, deps.onUnknownDevice, deps.onAvailability);
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
          // Availability is not shared: the first connection hears every box (for the command channel).
          const filters = [
            ...collectorFilters(who.group),
            ...(i === 0 && deps.onAvailability ? [TOPIC_FILTERS.availability] : []),
          ];
          client.subscribe(filters, { qos: cfg.qos }, (err, granted) => {
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
    publish: async (topic, payload) => {
      const client = clients.find((c) => c.connected) ?? clients[0];
      if (!client) throw new Error('MQTT ingest has no connection');
      await client.publishAsync(topic, payload, { qos: 1 });
    },
    close: async () => {
      state.closing = true;
      await Promise.all(clients.map((c) => c.endAsync(false).catch(() => undefined)));
    },
  };
}
