/**
 * The local topic layout, from the prefix (`vigil/<box>` by default) and HA's discovery prefix. One place builds
 * every topic; firmware-protocol/local/README.md documents them.
 *
 *   <p>/available                       online | offline (retained; offline is the will)
 *   <p>/<camera>/<label>                objects of that label now in view (integer, retained)
 *   <p>/<camera>/zones/<zone>/<label>   the same inside one zone
 *   <p>/<camera>/<label>/snapshot       latest picture of that label (JPEG, retained)
 *   <p>/<camera>/detect/set             ON | OFF (commands to the box)
 *   <p>/<camera>/detect/state           ON | OFF (retained echo)
 *   <p>/events  <p>/reviews             JSON, not retained
 *   <p>/diagnostics                     JSON (retained)
 *   <dp>/device/<box>/config            HA discovery of the box diagnostics (retained)
 *   <dp>/device/<box>_<camera>/config   HA discovery of one camera's entities (retained; empty = removed)
 */
export class LocalTopics {
  constructor(
    readonly prefix: string,
    readonly discoveryPrefix: string,
    /** The box name (topic-safe): the HA object id of the box. */
    readonly box: string,
  ) {}

  get availability(): string {
    return `${this.prefix}/available`;
  }
  get events(): string {
    return `${this.prefix}/events`;
  }
  get reviews(): string {
    return `${this.prefix}/reviews`;
  }
  get diagnostics(): string {
    return `${this.prefix}/diagnostics`;
  }
  count(camera: string, label: string): string {
    return `${this.prefix}/${camera}/${label}`;
  }
  zoneCount(camera: string, zone: string, label: string): string {
    return `${this.prefix}/${camera}/zones/${zone}/${label}`;
  }
  snapshot(camera: string, label: string): string {
    return `${this.prefix}/${camera}/${label}/snapshot`;
  }
  detectSet(camera: string): string {
    return `${this.prefix}/${camera}/detect/set`;
  }
  detectState(camera: string): string {
    return `${this.prefix}/${camera}/detect/state`;
  }
  /** Subscription for every camera's detect command. */
  get detectSetFilter(): string {
    return `${this.prefix}/+/detect/set`;
  }
  /** The camera a `detect/set` topic names, else undefined. */
  cameraOfDetectSet(topic: string): string | undefined {
    const head = `${this.prefix}/`;
    if (!topic.startsWith(head) || !topic.endsWith('/detect/set')) return undefined;
    const camera = topic.slice(head.length, -'/detect/set'.length);
    return camera.length > 0 && !camera.includes('/') ? camera : undefined;
  }
  /** Home Assistant's birth / last-will topic. */
  get haStatus(): string {
    return `${this.discoveryPrefix}/status`;
  }
  boxDiscovery(): string {
    return `${this.discoveryPrefix}/device/${this.box}/config`;
  }
  cameraDiscovery(camera: string): string {
    return `${this.discoveryPrefix}/device/${this.box}_${camera}/config`;
  }
}
