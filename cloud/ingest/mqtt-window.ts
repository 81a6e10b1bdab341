import type { IPublishPacket, MqttClient } from 'mqtt';

/**
 * Up to `limit` QoS 1 messages of one broker connection in progress at once, each PUBACKed only after it was handled
 * successfully, PUBACKs in arrival order (MQTT requires it for QoS 1).
 *
 * Why this is needed: mqtt.js hands a connection's messages to `handleMessage` one at a time, sends the PUBACK when
 * the callback is called, and reads the next message only after that. Storing one message per commit that way
 * leaves the database's group commit nothing to group. Here the callback is called as soon as the message is
 * admitted (so mqtt.js reads the next one), and the PUBACK mqtt.js then sends is intercepted and held until the
 * message's handling succeeded and every earlier message of the connection was settled. A message whose handling
 * failed is never PUBACKed (the broker redelivers it, as before). When the connection drops, the held PUBACKs are
 * discarded rather than sent on the next connection: the broker redelivers those messages, and a stale PUBACK
 * could otherwise name a packet id the broker has given to another message by then.
 *
 * The interception wraps mqtt.js's internal `_sendPacket` (mqtt 5.x has no public way to defer a PUBACK); only
 * `puback` packets for messages admitted here are touched. QoS 2 messages keep mqtt.js's one-at-a-time flow.
 */
export interface PubackWindowOptions {
  /** Messages in progress at once on this connection. */
  limit: number;
  /** Handles one message; resolves when it may be PUBACKed, rejects to leave it for redelivery. */
  handle(packet: IPublishPacket): Promise<void>;
  /** Told about a handling failure (the message stays un-PUBACKed). */
  onError(err: unknown, packet: IPublishPacket): void;
}

export interface PubackWindow {
  /** Messages being handled. */
  inProgress(): number;
  /** Resolves once no message is being handled. */
  idle(): Promise<void>;
}

interface Held {
  messageId: number;
  generation: number;
  settled: boolean;
  ok: boolean;
  /** Sends the PUBACK mqtt.js wanted to send; set once mqtt.js asked. */
  send?: () => void;
}

type SendPacket = (packet: { cmd: string; messageId?: number }, cb?: (err?: Error) => void, ...rest: unknown[]) => void;

export function installPubackWindow(client: MqttClient, options: PubackWindowOptions): PubackWindow {
  const limit = Math.max(1, options.limit);
  let generation = 0;
  let order: Held[] = []; // arrival order, awaiting their PUBACK
  let byId = new Map<number, Held>(); // by packet id: messages whose PUBACK is not sent yet
  let running = 0; // messages being handled
  let waiting: (() => void)[] = []; // mqtt.js callback of the message that filled the window
  const idlers: (() => void)[] = [];

  const internals = client as unknown as { _sendPacket: SendPacket };
  const original = internals._sendPacket.bind(client);
  internals._sendPacket = (packet, cb, ...rest) => {
    const held = packet.cmd === 'puback' && packet.messageId !== undefined ? byId.get(packet.messageId) : undefined;
    if (!held) {
      original(packet, cb, ...rest);
      return;
    }
    held.send = () => original(packet, undefined, ...rest);
    cb?.(); // mqtt.js moves on to the next message now
    flush();
  };

  const flush = (): void => {
    while (order.length > 0) {
      const head = order[0]!;
      if (!head.settled || !head.send) return;
      order.shift();
      byId.delete(head.messageId);
      if (head.ok && head.generation === generation && client.connected) head.send();
    }
  };

  const settle = (held: Held | undefined, mine: number): void => {
    if (mine !== generation) return; // the connection this message came on is gone
    running--;
    if (held) held.settled = true;
    flush();
    if (running < limit) waiting.shift()?.();
    if (running === 0) for (const r of idlers.splice(0)) r();
  };

  client.on('close', () => {
    // Held and future PUBACKs of this connection's messages must not reach the next one.
    generation++;
    order = [];
    byId = new Map();
    running = 0;
    waiting = [];
    for (const r of idlers.splice(0)) r();
  });

  client.handleMessage = (packet: IPublishPacket, done: (err?: Error) => void): void => {
    if (packet.qos !== 1 || packet.messageId === undefined) {
      // QoS 0 has no PUBACK to hold; QoS 2 keeps mqtt.js's own flow (PUBREC/PUBREL/PUBCOMP).
      options.handle(packet).then(
        () => done(),
        (err: unknown) => {
          options.onError(err, packet);
          done(err instanceof Error ? err : new Error(String(err)));
        },
      );
      return;
    }
    const mine = generation;
    const held: Held = { messageId: packet.messageId, generation: mine, settled: false, ok: false };
    order.push(held);
    byId.set(held.messageId, held);
    running++;
    options.handle(packet).then(
      () => {
        held.ok = true;
        settle(held, mine);
      },
      (err: unknown) => {
        options.onError(err, packet);
        settle(held, mine);
      },
    );
    // Read the next message now while the window has room; otherwise mqtt.js waits (stops reading this
    // connection) until a message settles.
    if (running < limit) done();
    else waiting.push(() => done());
  };

  return {
    inProgress: () => running,
    idle: () => (running === 0 ? Promise.resolve() : new Promise<void>((r) => idlers.push(r))),
  };
}
