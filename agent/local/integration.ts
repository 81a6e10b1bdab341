import { readFileSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import type { LocalDiagnostics, LocalEvent, LocalReview } from '../../firmware-protocol/local/messages.js';
import { describeError } from '../errors.js';
import { validator } from '../../shared/schema/index.js';
import { PRIVATE_FILE_MODE, writeFileAtomic } from '../../shared/fs/index.js';
import { silentLogger, type Logger } from '../../shared/log/index.js';
import type { ReviewMessage } from '../review/index.js';
import type { EventPictures } from '../thumbnail/index.js';
import type { EventMessage } from '../track/messages.js';
import { LocalMqttClient, type LocalMqttClientStatus } from './client.js';
import { boxNameOf, topicPrefixOf, topicSafe, type LocalMqttConfig } from './config.js';
import { readCpuTemperature } from './cpu-temperature.js';
import { boxDiscovery, cameraDiscovery, type DiscoveryCamera, type DiscoveryContext } from './discovery.js';
import { Occupancy } from './occupancy.js';
import { LocalTopics } from './topics.js';

export interface LocalIntegrationOptions {
  config: LocalMqttConfig;
  version: string;
  cameras: readonly DiscoveryCamera[];
  logger?: Logger;
  /** The detect switch: turn a camera's detection on or off (the daemon's runners). Absent: the switch is refused. */
  onDetect?: (camera: string, on: boolean) => void;
  /** The box diagnostics (outbox depth, uplink state); absent (analyze): only the CPU temperature and drops. */
  diagnostics?: () => Pick<LocalDiagnostics, 'outbox_depth' | 'uplink'>;
  /** Where the announced cameras are remembered, so one removed while the box was off is removed from HA too. */
  stateFile?: string;
  /** Test hooks. */
  reconnectMs?: { baseMs: number; maxMs: number };
}

export interface LocalIntegrationStatus extends LocalMqttClientStatus {
  topic_prefix: string;
  discovery: boolean;
  events_published: number;
  detect_off: string[];
}

const StateFileSchema = Type.Object({
  cameras: Type.Array(
    Type.Object({ name: Type.String(), labels: Type.Array(Type.String()), zones: Type.Array(Type.String()) }),
  ),
});
const validateStateFile = validator(StateFileSchema);

/** A label as it appears in topics and ids (`traffic light` → `traffic_light`). */
export const labelKey = (label: string): string => topicSafe(label);

/**
 * The local integration (`local_mqtt`): turns the pipeline's event and review messages into the local topics
 * (counts per camera, zone and label; events; reviews; snapshots), announces the box to Home Assistant, and takes
 * the detect switch's commands. Everything goes through LocalMqttClient's bounded queue: `onEvent` and `onReview`
 * return at once and never throw, so the local broker can never slow the cameras or the cloud outbox.
 */
export class LocalIntegration {
  readonly topics: LocalTopics;
  private readonly client: LocalMqttClient;
  private readonly log: Logger;
  private readonly occupancy = new Occupancy();
  private cameras = new Map<string, Cam>();
  /** Cameras announced earlier and gone from the config: their entities are removed at the next connection. */
  private removed: Cam[] = [];
  private readonly detectOff = new Set<string>();
  private readonly lastSnapshot = new Map<string, Buffer>();
  private diagTimer: NodeJS.Timeout | undefined;
  private readonly cpuTemperature: boolean;
  private eventsPublished = 0;

  constructor(private readonly o: LocalIntegrationOptions) {
    const c = o.config;
    this.log = o.logger ?? silentLogger();
    const box = boxNameOf(c);
    this.topics = new LocalTopics(topicPrefixOf(c), c.discovery_prefix, box);
    for (const cam of o.cameras) this.cameras.set(cam.name, normalise(cam));
    this.cpuTemperature = readCpuTemperature() !== null;
    const subscriptions = [this.topics.detectSetFilter, ...(c.discovery ? [this.topics.haStatus] : [])];
    this.client = new LocalMqttClient({
      url: c.url,
      access: c,
      clientId: `vigil-${box}`,
      availabilityTopic: this.topics.availability,
      queueSize: c.queue_size,
      subscriptions,
      onMessage: (topic, payload) => this.onMessage(topic, payload),
      onConnect: () => this.announce(),
      logger: this.log,
      ...(o.reconnectMs ? { reconnect: o.reconnectMs } : {}),
    });
    this.removed = this.previousCameras().filter((p) => !this.cameras.has(p.name));
  }

  start(): void {
    this.client.start();
    this.saveCameras();
    this.diagTimer = setInterval(() => this.publishDiagnostics(), this.o.config.diagnostics_interval_s * 1000);
    this.diagTimer.unref();
  }

  /** Is detection on for this camera (the detect switch; on unless turned off since the start). */
  detectEnabled(camera: string): boolean {
    return !this.detectOff.has(camera);
  }

  /** After a config reload: cameras gone lose their HA entities and retained states; new ones are announced. */
  setCameras(cameras: readonly DiscoveryCamera[]): void {
    const next = new Map(cameras.map((c) => [c.name, normalise(c)]));
    for (const [name, cam] of this.cameras) if (!next.has(name)) this.removed.push(cam);
    this.cameras = next;
    for (const r of this.removed) {
      this.occupancy.forget(r.name);
      this.detectOff.delete(r.name);
    }
    this.saveCameras();
    if (this.client.isConnected) this.announce();
  }

  /** The pipeline's event messages (after the cloud sink took them). Never throws, never waits. */
  onEvent(msg: EventMessage, pictures: EventPictures = {}): void {
    try {
      this.handleEvent(msg, pictures);
    } catch (err) {
      this.log.warn({ err: describeError(err), event: msg.id }, 'local mqtt: event not published');
    }
  }

  private handleEvent(msg: EventMessage, pictures: EventPictures): void {
    const t = this.topics;
    const label = labelKey(msg.label);
    const cam = this.cameras.get(msg.camera);
    if (cam && !cam.labels.includes(label)) {
      // A label first seen now (a camera tracking every label): its entities join the camera's device entry.
      cam.labels = [...cam.labels, label];
      this.saveCameras();
      this.publishCameraDiscovery(cam);
    }
    const jpeg = pictures.thumbnail?.jpeg;
    if (jpeg && this.o.config.snapshots && !jpeg.equals(this.lastSnapshot.get(msg.id) ?? Buffer.alloc(0))) {
      this.lastSnapshot.set(msg.id, jpeg);
      this.client.publish(t.snapshot(msg.camera, label), jpeg, { retain: true });
    }
    const event: LocalEvent = {
      type: msg.type,
      id: msg.id,
      camera: msg.camera,
      label: msg.label,
      score: msg.score,
      top_score: msg.top_score,
      box: msg.box,
      zones: msg.zones,
      current_zones: msg.current_zones,
      stationary: msg.stationary,
      started_at: msg.started_at,
      ended_at: msg.ended_at,
      has_snapshot: this.o.config.snapshots && this.lastSnapshot.has(msg.id),
    };
    if (msg.type === 'end') this.lastSnapshot.delete(msg.id);
    // Counts before the event line: a client reading the event sees the state it describes.
    for (const ch of this.occupancy.apply(msg)) {
      const l = labelKey(ch.label);
      const topic = ch.zone ? t.zoneCount(ch.camera, ch.zone, l) : t.count(ch.camera, l);
      this.client.publish(topic, String(ch.count), { retain: true });
    }
    this.client.publish(t.events, JSON.stringify(event));
    this.eventsPublished++;
  }

  /** The pipeline's review messages. Never throws, never waits. */
  onReview(msg: ReviewMessage): void {
    const review: LocalReview = {
      type: msg.type,
      id: msg.id,
      camera: msg.camera,
      severity: msg.severity,
      labels: msg.labels,
      zones: msg.zones,
      objects: msg.objects,
      started_at: msg.started_at,
      ended_at: msg.ended_at,
    };
    this.client.publish(this.topics.reviews, JSON.stringify(review));
  }

  private onMessage(topic: string, payload: Buffer): void {
    const t = this.topics;
    if (topic === t.haStatus) {
      if (payload.toString().trim() === 'online') {
        this.log.info('local mqtt: Home Assistant is online; announcing the box again');
        this.announce();
      }
      return;
    }
    const camera = t.cameraOfDetectSet(topic);
    if (camera === undefined) return;
    const cmd = payload.toString().trim().toUpperCase();
    if (!this.cameras.has(camera) || (cmd !== 'ON' && cmd !== 'OFF')) {
      this.log.warn({ topic, payload: payload.toString().slice(0, 20) }, 'local mqtt: detect command ignored');
      return;
    }
    const on = cmd === 'ON';
    if (on === this.detectEnabled(camera)) {
      this.publishDetectState(camera);
      return;
    }
    if (on) this.detectOff.delete(camera);
    else this.detectOff.add(camera);
    this.log.info({ camera, detect: cmd }, 'local mqtt: detection switched');
    this.o.onDetect?.(camera, on);
    this.publishDetectState(camera);
  }

  private publishDetectState(camera: string): void {
    this.client.publish(this.topics.detectState(camera), this.detectEnabled(camera) ? 'ON' : 'OFF', { retain: true });
  }

  private get discoveryContext(): DiscoveryContext {
    return { topics: this.topics, version: this.o.version, snapshots: this.o.config.snapshots };
  }

  private publishCameraDiscovery(cam: DiscoveryCamera): void {
    if (!this.o.config.discovery) return;
    const payload = cameraDiscovery(this.discoveryContext, cam);
    this.client.publish(this.topics.cameraDiscovery(cam.name), JSON.stringify(payload), { retain: true });
  }

  /** At every connection and on HA's birth message: discovery, then every state (retained) from scratch. */
  private announce(): void {
    const t = this.topics;
    if (this.removed.length > 0) {
      for (const r of this.removed) this.clearCamera(r);
      this.removed = [];
      this.saveCameras();
    }
    if (this.o.config.discovery) {
      const box = boxDiscovery(this.discoveryContext, { cpuTemperature: this.cpuTemperature });
      this.client.publish(t.boxDiscovery(), JSON.stringify(box), { retain: true });
    }
    for (const cam of this.cameras.values()) {
      this.publishCameraDiscovery(cam);
      for (const label of cam.labels) {
        this.client.publish(t.count(cam.name, label), String(this.occupancy.count(cam.name, label)), { retain: true });
        for (const z of cam.zones)
          this.client.publish(t.zoneCount(cam.name, z, label), String(this.occupancy.count(cam.name, label, z)), {
            retain: true,
          });
      }
      this.publishDetectState(cam.name);
    }
    this.publishDiagnostics();
  }

  /** Empty retained payloads: HA removes the camera's entities, the broker forgets its retained states. */
  private clearCamera(cam: DiscoveryCamera): void {
    const t = this.topics;
    const clear = (topic: string): void => this.client.publish(topic, '', { retain: true });
    if (this.o.config.discovery) clear(t.cameraDiscovery(cam.name));
    for (const label of cam.labels) {
      clear(t.count(cam.name, label));
      clear(t.snapshot(cam.name, label));
      for (const z of cam.zones) clear(t.zoneCount(cam.name, z, label));
    }
    clear(t.detectState(cam.name));
    this.log.info({ camera: cam.name }, 'local mqtt: camera removed from Home Assistant');
  }

  private publishDiagnostics(): void {
    const d = this.o.diagnostics?.() ?? { outbox_depth: 0, uplink: 'stopped' as const };
    const diag: LocalDiagnostics = {
      ...d,
      cpu_temperature: readCpuTemperature(),
      local_dropped: this.client.status().dropped,
    };
    this.client.publish(this.topics.diagnostics, JSON.stringify(diag), { retain: true });
  }

  private previousCameras(): Cam[] {
    const file = this.o.stateFile;
    if (!file) return [];
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      return validateStateFile.check(parsed) ? parsed.cameras.map(normalise) : [];
    } catch {
      return [];
    }
  }

  private saveCameras(): void {
    const file = this.o.stateFile;
    if (!file) return;
    try {
      // Removed cameras stay listed until their removal went out, so a restart meanwhile still removes them.
      const cameras = [...this.cameras.values(), ...this.removed];
      // Whole or not at all (a power cut mid-write leaves the previous file).
      writeFileAtomic(file, JSON.stringify({ cameras }) + '\n', { mode: PRIVATE_FILE_MODE });
    } catch (err) {
      this.log.warn({ err: describeError(err), file }, 'local mqtt: cannot remember the announced cameras');
    }
  }

  status(): LocalIntegrationStatus {
    return {
      ...this.client.status(),
      topic_prefix: this.topics.prefix,
      discovery: this.o.config.discovery,
      events_published: this.eventsPublished,
      detect_off: [...this.detectOff],
    };
  }

  async stop(): Promise<void> {
    if (this.diagTimer) clearInterval(this.diagTimer);
    await this.client.close();
  }
}

/** A camera as announced: labels as topic keys, once each. */
interface Cam {
  name: string;
  labels: string[];
  zones: string[];
}

function normalise(cam: DiscoveryCamera): Cam {
  return { name: cam.name, labels: [...new Set(cam.labels.map(labelKey))], zones: [...cam.zones] };
}
