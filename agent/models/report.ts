import type { DetectorSlot } from '../detect/detector-slot.js';
import type { HeartbeatModel } from '../uplink/heartbeat.js';

/**
 * The running model as the box reports it: the heartbeat's `model` field (`{id, sha256}`, id null for the config's
 * model file, null in motion-only mode) and the status document's `active_model`.
 */
export function heartbeatModel(slot: DetectorSlot | undefined): HeartbeatModel {
  if (!slot) return null;
  const m = slot.model;
  return { id: m.id, sha256: m.sha256 };
}

/** How the last model_update command ended (the status document's `active_model.last_update`). */
export interface ModelUpdateReport {
  command_id: string;
  model_id: string;
  /** When it ended, ISO date-time. */
  at: string;
  status: 'done' | 'failed' | 'refused';
  code: string | null;
  message: string | null;
}

export interface ActiveModelStatus {
  id: string | null;
  name: string | null;
  sha256: string;
  path: string;
  format: string;
  loaded_at: string;
  fallback: string | null;
  last_update: ModelUpdateReport | null;
}

export function activeModelStatus(
  slot: DetectorSlot | undefined,
  fallback: string | null,
  lastUpdate: ModelUpdateReport | null,
): ActiveModelStatus | null {
  if (!slot) return null;
  const m = slot.model;
  return {
    id: m.id,
    name: m.name,
    sha256: m.sha256,
    path: m.path,
    format: m.format,
    loaded_at: m.loaded_at,
    fallback,
    last_update: lastUpdate,
  };
}
