import type { Logger } from '../../shared/log/index.js';

/**
 * Watches the MQTT messages that arrive on this collector's shared group from devices this deployment does not
 * know (`unknown_device`). A few are normal (a box revoked a moment ago, a stray test client). A sustained stream —
 * at least `minMessages` within `windowMs`, spread over at least half of it — almost always means another
 * deployment (another database) shares this broker and this shared group: the group splits the traffic between
 * both deployments' collectors, each drops the other's devices as unknown, and both lose messages. That is logged
 * ONCE per episode, with the cause and the fix, and shown in /metrics and /readyz until the stream stops for a
 * whole window. A claim of another deployment on the group's claim topic (./group-claim.ts) is direct evidence and
 * starts an episode at once (with that deployment's id in the cause).
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
  /** Another deployment seen claiming this group (vigil/collectors/{group}) recently. */
  other_deployment_id: string | null;
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
  /** Last claim of another deployment on this group (./group-claim.ts). */
  private claim: { deploymentId: string; at: number } | undefined;
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

  /** Another deployment's claim on this group was seen: direct evidence, no rate needed. */
  noteForeignClaim(deploymentId: string): void {
    this.claim = { deploymentId, at: this.now() };
    this.evaluate();
  }

  /** A claim stays evidence for three re-statement periods (or the window, if longer). */
  private claimFresh(t: number): boolean {
    return this.claim !== undefined && t - this.claim.at <= Math.max(180_000, this.o.windowMs);
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
    const spread =
      this.buckets.length === 0
        ? 0
        : (this.buckets[this.buckets.length - 1]!.slot - this.buckets[0]!.slot + 1) * this.bucketMs;
    const sustained = recent >= this.o.minMessages && spread >= this.o.windowMs / 2;
    const claimed = this.claimFresh(t);
    if ((sustained || claimed) && this.episodeStart === undefined) {
      this.episodeStart = t;
      this.o.log.warn(
        {
          group: this.o.group,
          deployment_id: this.o.deploymentId,
          unknown_device_messages: recent,
          unknown_devices: this.devices.size,
          window_s: this.o.windowMs / 1000,
          other_deployment_id: claimed ? this.claim!.deploymentId : null,
        },
        `${this.cause()} See /readyz (details.mqtt.foreign_traffic).`,
      );
    } else if (this.episodeStart !== undefined && recent === 0 && !claimed) {
      this.o.log.info(
        { group: this.o.group, since: new Date(this.episodeStart).toISOString() },
        'messages from unknown devices on the shared group stopped',
      );
      this.episodeStart = undefined;
    }
  }

  private cause(): string {
    if (this.claimFresh(this.now())) {
      return (
        `another deployment (deployment id ${this.claim!.deploymentId}, another database) subscribes in shared ` +
        `group "${this.o.group}" on this broker: ` +
        "the group splits both deployments' traffic and each drops the other's messages as unknown devices. Give " +
        'each ' +
        'deployment its own group (leave mqtt.shared_group unset: it derives from the deployment id) or, better, ' +
        'its own broker.'
      );
    }
    return (
      'sustained MQTT messages from devices this deployment does not know are arriving on shared group ' +
      `"${this.o.group}": ` +
      'most likely another deployment (another database) uses this broker with the same mqtt.shared_group, so the ' +
      "group splits both deployments' traffic and each drops the other's messages. Give each deployment its own " +
      'group (leave mqtt.shared_group unset: it derives from the deployment id) or, better, its own broker. (With ' +
      "different groups nothing is taken, but each deployment still receives the other's messages: separate brokers.)"
    );
  }

  state(): ForeignTrafficState {
    this.evaluate();
    const recent = this.prune(this.now());
    return {
      suspected: this.episodeStart !== undefined,
      group: this.o.group,
      recent_messages: recent,
      recent_devices: this.devices.size,
      total_messages: this.total,
      other_deployment_id: this.claimFresh(this.now()) ? this.claim!.deploymentId : null,
      since: this.episodeStart === undefined ? null : new Date(this.episodeStart).toISOString(),
      likely_cause: this.episodeStart === undefined ? null : this.cause(),
    };
  }

  close(): void {
    clearInterval(this.timer);
  }
}
