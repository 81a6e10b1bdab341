import type { Heartbeat } from '../../firmware-protocol/messages.js';
import { HEARTBEAT_CAMERAS_MAX } from '../../firmware-protocol/limits.js';
import type { Clock } from '../../shared/clock/index.js';
import type { Outbox } from '../outbox/index.js';

export type CameraStatus = Heartbeat['cameras'][number];

export interface HeartbeatSource {
  deviceId: string;
  version: string;
  clock: Clock;
  outbox: Outbox;
  /** Process start, epoch ms (local clock). */
  startedAtMs: number;
  /**
   * Items that will never reach the collector since start: evicted by the budget, refused over budget, lost from
   * memory on a full disk (the outbox counts these), and dead-lettered by the collector (the uplink counts those).
   */
  droppedSinceStart: () => number;
  lastAckAtMs: () => number | null;
  /** Camera pipeline states; the daemon supplies it. */
  cameras?: () => CameraStatus[];
  /** This run's boot id (a ULID drawn at daemon start); lets the collector tell a restart. */
  bootId?: string;
  /** The object detector running now (`{id, sha256}`, id null for the config's model), null in motion-only mode. */
  model?: () => HeartbeatModel;
}

export type HeartbeatModel = NonNullable<Heartbeat['model']> | null;

/**
 * One Heartbeat message (firmware-protocol) from the outbox state and the daemon's camera states. The outbox part
 * says whether the disk is full and how many event messages were refused (disk full / over budget) and queued
 * without their thumbnail, all time (persisted counters, refusals counted even when their own write failed).
 */
export function buildHeartbeat(src: HeartbeatSource): Heartbeat {
  const s = src.outbox.stats();
  const lastAck = src.lastAckAtMs();
  const free = s.freeBytes ?? undefined;
  return {
    v: 1,
    device_id: src.deviceId,
    sent_at: new Date(src.clock.now()).toISOString(),
    uptime_s: Math.max(0, (Date.now() - src.startedAtMs) / 1000),
    version: src.version,
    outbox: {
      depth: s.depth,
      oldest_pending_age_s: s.oldestPendingAgeMs === null ? null : s.oldestPendingAgeMs / 1000,
      dropped: src.droppedSinceStart(),
      in_flight: s.total.in_flight,
      disk_full: s.diskFull,
      refused: { disk_full: s.refused.disk_full, outbox_full: s.refused.outbox_full },
      thumbnails_skipped: s.thumbnailsSkipped,
    },
    cameras: (src.cameras?.() ?? []).slice(0, HEARTBEAT_CAMERAS_MAX),
    ...(free !== undefined ? { disk_free_bytes: free } : {}),
    last_ack_at: lastAck === null ? null : new Date(lastAck).toISOString(),
    ...(src.bootId ? { boot_id: src.bootId } : {}),
    ...(src.model ? { model: src.model() } : {}),
  };
}
