import type { Clock } from '../../shared/clock/index.js';
import type { Ack, AckItem } from '../../firmware-protocol/messages.js';

export type { Ack, AckItem } from '../../firmware-protocol/messages.js';

const MESSAGE_MAX = 512;

/** The Ack body (firmware-protocol `Ack`) for the items of one request/message. */
export function makeAck(items: AckItem[], clock: Clock): Ack {
  return { v: 1, acks: items, server_time: new Date(clock.now()).toISOString() };
}

export function rejectedItem(id: string, rev: number, kind: AckItem['kind'], code: string, message: string): AckItem {
  return {
    id,
    rev,
    kind,
    status: 'rejected',
    code,
    message: message.length > MESSAGE_MAX ? `${message.slice(0, MESSAGE_MAX - 1)}…` : message,
  };
}
