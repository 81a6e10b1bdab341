import type { EventMessage } from '../track/messages.js';

/** One count the local broker should hold: `zone` undefined is the whole camera. */
export interface CountChange {
  camera: string;
  label: string;
  zone: string | undefined;
  count: number;
}

interface Live {
  label: string;
  zones: readonly string[];
}

/**
 * How many objects of each label are in view on each camera (and in each zone) right now, from the pipeline's
 * event messages: an announced event counts from its `new` until its `end`, in the zones of its latest
 * `current_zones`. Pure: `apply` returns the counts that changed, the caller publishes them.
 */
export class Occupancy {
  private readonly live = new Map<string, Map<string, Live>>();
  private readonly counts = new Map<string, number>();

  private static key(camera: string, label: string, zone: string | undefined): string {
    return `${camera}\u0000${label}\u0000${zone ?? ''}`;
  }

  /** The current count (0 when nothing of that label is in view). */
  count(camera: string, label: string, zone?: string): number {
    return this.counts.get(Occupancy.key(camera, label, zone)) ?? 0;
  }

  apply(msg: EventMessage): CountChange[] {
    let cam = this.live.get(msg.camera);
    if (!cam) {
      cam = new Map();
      this.live.set(msg.camera, cam);
    }
    const before = this.snapshotOf(msg.camera, msg.label);
    if (msg.type === 'end') cam.delete(msg.id);
    else cam.set(msg.id, { label: msg.label, zones: msg.current_zones });
    const after = this.snapshotOf(msg.camera, msg.label);
    const changes: CountChange[] = [];
    for (const zone of new Set([...before.keys(), ...after.keys()])) {
      const count = after.get(zone) ?? 0;
      if ((before.get(zone) ?? 0) === count) continue;
      const z = zone === '' ? undefined : zone;
      this.counts.set(Occupancy.key(msg.camera, msg.label, z), count);
      changes.push({ camera: msg.camera, label: msg.label, zone: z, count });
    }
    return changes;
  }

  /** Forgets a camera (removed from the config): its objects no longer count. */
  forget(camera: string): void {
    this.live.delete(camera);
    for (const k of [...this.counts.keys()]) if (k.startsWith(`${camera}\u0000`)) this.counts.delete(k);
  }

  /** '' → the camera's count of `label`, zone → that zone's. */
  private snapshotOf(camera: string, label: string): Map<string, number> {
    const out = new Map<string, number>([['', 0]]);
    for (const o of this.live.get(camera)?.values() ?? []) {
      if (o.label !== label) continue;
      out.set('', (out.get('') ?? 0) + 1);
      for (const z of o.zones) out.set(z, (out.get(z) ?? 0) + 1);
    }
    return out;
  }
}
