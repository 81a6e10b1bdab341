import type { Logger } from '../../shared/log/index.js';

/**
 * Watches the MQTT messages that arrive on this collector's shared group from devices this deployment does not
 * know (`unknown_device`). A few are normal (a box revoked a moment ago, a stray test client). A sustained stream —
 * at least `minMessages` within `windowMs`, spread over at least half of it — almost always means another
 * deployment (another database) shares this broker and this shared group: the group splits the traffic between
 * both deployments' collectors, each drops the other's devices as unknown, and both lose messages. That is logged
 * ONCE per episode, with the cause and the fix, and shown in /metrics and /readyz until the stream stops for a
 * whole window.
 */
export interface ForeignTrafficOptions {
  group: string;
  deploymentId: string;
  windowMs: number;
  minMessages: number;
  log: Logger;
  now?: () => number;
}

export interface ForeignTrafficState {
  suspected: boolean;
  group: string;
  /** Unknown-device messages in the current window. */
  recent_messages: number;
  /** Distinct unknown device ids in the current window (up to 1,000 counted). */
  recent_devices: number;
  /** Since start. */
  total_messages: number;
  since: string | null;
  likely_cause: string | null;
}

/** Counts per tenth of the window (bounded memory whatever the rate). */
const BUCKETS = 10;

export class ForeignTrafficWatch {
  private readonly buckets: Array<{ slot: number; count: number }> = [];
  private readonly devices = new Map<string, number>();
  private total = 0;
  private episodeStart: number | undefined;
  private readonly now: () => number;
  private readonly bucketMs: number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly o: ForeignTrafficOptions) {
    this.now = o.now ?? Date.now;
    this.bucketMs = Math.max(1, o.windowMs / BUCKETS);
    // Ends an episode even when no message arrives any more.
    this.timer = setInterval(() => this.evaluate(), Math.max(250, Math.floor(o.windowMs / 4)));
    this.timer.unref();
  }

  /** One message on the group whose signing device is unknown here. */
  note(deviceId: string): void {
    const t = this.now();
    this.total++;
    const slot = Math.floor(t / this.bucketMs);
    const last = this.buckets[this.buckets.length - 1];
    if (last?.slot === slot) last.count++;
    else this.buckets.push({ slot, count: 1 });
    if (this.devices.size < 1_000 || this.devices.has(deviceId)) this.devices.set(deviceId, t);
    this.evaluate();
  }

  private prune(t: number): number {
    const first = Math.floor(t / this.bucketMs) - BUCKETS + 1;
    while (this.buckets.length > 0 && this.buckets[0]!.slot < first) this.buckets.shift();
    for (const [id, seen] of this.devices) if (seen < t - this.o.windowMs) this.devices.delete(id);
    return this.buckets.reduce((n, b) => n + b.count, 0);
  }

  private evaluate(): void {
    const t = this.now();
    const recent = this.prune(t);
    const spread = this.buckets.length === 0 ? 0 : (this.buckets[this.buckets.length - 1]!.slot - this.buckets[0]!.slot + 1) * this.bucketMs;
    const sustained = recent >= this.o.minMessages && spread >= this.o.windowMs / 2;
    if (sustained && this.episodeStart === undefined) {
      this.episodeStart = t;
      this.o.log.warn(
        {
          group: this.o.group,
          deployment_id: this.o.deploymentId,
          unknown_device_messages: recent,
          unknown_devices: this.devices.size,
          window_s: this.o.windowMs / 1000,
        },
        `${this.cause()} See /readyz (details.mqtt.foreign_traffic).`,
      );
    } else if (this.episodeStart !== undefined && recent === 0) {
      this.o.log.info({ group: this.o.group, since: new Date(this.episodeStart).toISOString() }, 'messages from unknown devices on the shared group stopped');
      this.episodeStart = undefined;
    }
  }

  private cause(): string {
    return (
      `sustained MQTT messages from devices this deployment does not know are arriving on shared group "${this.o.group}": ` +
      'most likely another deployment (another database) uses this broker with the same mqtt.shared_group, so the ' +
      'group splits both deployments\' traffic and each drops the other\'s messages. Give each deployment its own ' +
      'group (leave mqtt.shared_group unset: it derives from the deployment id) or, better, its own broker.'
    );
  }

  state(): ForeignTrafficState {
    const recent = this.prune(this.now());
    return {
      suspected: this.episodeStart !== undefined,
      group: this.o.group,
      recent_messages: recent,
      recent_devices: this.devices.size,
      total_messages: this.total,
      since: this.episodeStart === undefined ? null : new Date(this.episodeStart).toISOString(),
      likely_cause: this.episodeStart === undefined ? null : this.cause(),
    };
  }

  close(): void {
    clearInterval(this.timer);
  }
}
