import type { Ack } from '../../firmware-protocol/messages.js';
import type { DeviceCredentials } from '../../shared/signing/index.js';

export type { Ack, AckItem } from '../../firmware-protocol/messages.js';
export type { DeviceCredentials } from '../../shared/signing/index.js';

/**
 * What a transport learned from one send. HTTP answers synchronously (`acks` from the response body); MQTT only
 * reports the broker's PUBACK here and delivers the collector's acks later through `AckHandler`.
 */
export interface SendResult {
  /** The collector's end-to-end ack, when the transport got it in the response. */
  ack?: Ack;
  /** The send failed as a whole; every item in it is affected. */
  failure?: TransportFailure;
  /** Collector clock seen on a successful answer (HTTP `Date`), for clock correction. */
  serverTimeMs?: number;
}

export interface TransportFailure {
  /** Wire error code from the collector (`rate_limited`, `timestamp_out_of_tolerance`, …) or a transport code
   *  (`network_error`, `timeout`, `http_5xx`, `mqtt_publish_failed`, `not_connected`). */
  code: string;
  message: string;
  /** HTTP status, when there was a response. */
  status?: number;
  /** The collector asked to wait this long (Retry-After). */
  retryAfterMs?: number;
  /** Collector clock at the time of the failure (Date header / error details), for clock-skew correction. */
  serverTimeMs?: number;
}

/** Called with each verified ack that arrives asynchronously (MQTT). Runs before the message is PUBACKed. */
export type AckHandler = (ack: Ack, meta: { transport: TransportName; stale: boolean }) => void;

export type TransportName = 'mqtt' | 'https';

/**
 * Takes one signed command envelope (firmware-protocol PROTOCOL.md §6) as it arrived. Resolves once the command was
 * checked and, when accepted, its id remembered (the command itself may still be running): MQTT PUBACKs it then.
 */
export type CommandSink = (envelope: Buffer, meta: { transport: TransportName }) => Promise<void>;

/** One way to reach the collector. The uplink owns retries and the outbox; a transport only moves bytes and signs. */
export interface Transport {
  readonly name: TransportName;
  /** Begins connecting (never throws for an unreachable collector: the box may boot offline). */
  start(onAck: AckHandler, onReady: () => void): Promise<void>;
  /** True when a send has a chance to succeed now. */
  isReady(): boolean;
  /** An Event (single) or EventBatch JSON body. */
  sendEvents(body: Buffer): Promise<SendResult>;
  sendThumbnail(eventId: string, jpeg: Buffer): Promise<SendResult>;
  sendHeartbeat(body: Buffer): Promise<SendResult>;
  /** A CommandResult JSON body (the answer to command `commandId`), acked with kind `result`. */
  sendResult(commandId: string, body: Buffer): Promise<SendResult>;
  /**
   * Transports that receive commands themselves (MQTT: the commands topic) hand them to `sink`; set it before
   * `start`. Absent on transports that cannot (HTTPS: the box long-polls, agent/commands/poller.ts).
   */
  setCommandSink?(sink: CommandSink): void;
  close(): Promise<void>;
}

export interface DeviceIdentity extends DeviceCredentials {}
