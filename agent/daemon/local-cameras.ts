import { trackedLabels, zonesFor, type AgentCameraConfig } from '../config.js';
import { DEFAULT_LABELS } from '../config/objects-schema.js';
import type { DiscoveryCamera } from '../local/index.js';

/**
 * What the local integration announces of each enabled camera: its labels (motion-only boxes: `motion`; a camera
 * tracking every label starts with the default set, others join when first seen) and its zones.
 */
export function discoveryCameras(cameras: readonly AgentCameraConfig[], objects: boolean): DiscoveryCamera[] {
  return cameras
    .filter((c) => c.enabled)
    .map((c) => ({
      name: c.name,
      labels: objects ? (trackedLabels(c) ?? DEFAULT_LABELS) : ['motion'],
      zones: objects ? zonesFor(c).map((z) => z.name) : [],
    }));
}
