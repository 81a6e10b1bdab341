import mqtt, { type MqttClient } from 'mqtt';

export interface Seen {
  topic: string;
  payload: Buffer;
  retain: boolean;
  at: number;
}

/**
 * A test client on the local broker standing in for Home Assistant: records every message under the given
 * filters, publishes commands and HA's birth message.
 */
export class Watcher {
  readonly seen: Seen[] = [];
  private constructor(private readonly client: MqttClient) {}

  static async connect(url: string, filters: string[] = ['#']): Promise<Watcher> {
    const client = mqtt.connect(url, { clean: true, reconnectPeriod: 0, connectTimeout: 5000 });
    const w = new Watcher(client);
    client.on('message', (topic, payload, packet) =>
      w.seen.push({ topic, payload, retain: packet.retain, at: Date.now() }),
    );
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(filters, { qos: 1 });
    return w;
  }

  on(topic: string): Seen[] {
    return this.seen.filter((s) => s.topic === topic);
  }

  last(topic: string): string | undefined {
    return this.on(topic).at(-1)?.payload.toString();
  }

  async publish(topic: string, payload: string, retain = false): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1, retain });
  }

  async waitFor<T>(what: string, fn: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = fn();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** The retained messages a fresh subscriber gets for `filter` within `ms`. */
export async function retainedOn(url: string, filter: string, ms = 700): Promise<Seen[]> {
  const w = await Watcher.connect(url, [filter]);
  await new Promise((r) => setTimeout(r, ms));
  await w.close();
  return w.seen.filter((s) => s.retain);
}
