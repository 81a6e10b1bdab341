import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { describeError } from '../../shared/errors/index.js';
import type { Logger } from '../../shared/log/index.js';

/**
 * Direct evidence that another deployment uses this collector's shared group: every collector publishes a retained
 * claim `{"v":1,"deployment_id":…}` on `vigil/collectors/{group}` and watches that topic. The collectors of one
 * deployment write the same id; a claim with another id means another deployment (another database) subscribes
 * in the same group and takes part of the traffic. Seeing one, a collector re-states its own claim (at most once
 * a minute), so both sides find out, whoever started first; every collector also re-states it once a minute, so
 * the evidence stays fresh while the collision lasts. Boxes cannot read or write the topic (broker ACLs).
 */
export const CLAIM_TOPIC_PREFIX = 'vigil/collectors';
const RESTATE_MS = 60_000;

export function claimTopic(group: string): string {
  return `${CLAIM_TOPIC_PREFIX}/${group}`;
}

export interface GroupClaimOptions {
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  ca?: Buffer | undefined;
  reconnectMs: number;
  group: string;
  deploymentId: string;
  log: Logger;
  /** Another deployment's id was seen on this group's claim topic. */
  onForeign(deploymentId: string): void;
}

export class GroupClaim {
  private readonly client: MqttClient;
  private lastRestate = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly o: GroupClaimOptions) {
    const options: IClientOptions = {
      clientId: o.clientId,
      clean: true,
      protocolVersion: 5,
      reconnectPeriod: o.reconnectMs,
      reconnectOnConnackError: true,
      connectTimeout: 10_000,
      ...(o.username !== undefined ? { username: o.username, password: o.password } : {}),
      ...(o.ca ? { ca: o.ca } : {}),
    };
    const topic = claimTopic(o.group);
    this.client = mqtt.connect(o.url, options);
    this.client.on('connect', () => {
      this.client.subscribe(topic, { qos: 1 }, (err) => {
        if (err) o.log.debug({ err: describeError(err) }, 'cannot watch the group claim topic');
        this.restate();
      });
    });
    this.client.on('message', (t, payload) => {
      if (t !== topic) return;
      let id: unknown;
      try {
        id = (JSON.parse(payload.toString('utf8')) as { deployment_id?: unknown }).deployment_id;
      } catch {
        return;
      }
      if (typeof id !== 'string' || id === o.deploymentId) return;
      o.onForeign(id.slice(0, 64));
      if (Date.now() - this.lastRestate >= RESTATE_MS) this.restate();
    });
    this.client.on('error', (err) => o.log.debug({ err: describeError(err) }, 'group claim connection'));
    // Re-stated every minute: a deployment still in the group answers, so the evidence stays fresh while it lasts.
    this.timer = setInterval(() => this.client.connected && this.restate(), RESTATE_MS);
    this.timer.unref();
  }

  private restate(): void {
    this.lastRestate = Date.now();
    const body = JSON.stringify({ v: 1, deployment_id: this.o.deploymentId, at: new Date().toISOString() });
    this.client.publish(claimTopic(this.o.group), body, { qos: 1, retain: true });
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    // Nothing in flight matters here (commands time out, claims are re-stated): no waiting on a dead broker.
    await this.client.endAsync(true).catch(() => undefined);
  }
}
