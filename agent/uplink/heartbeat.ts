import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';
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
  /** Items dropped or dead-lettered since start (the uplink keeps the count). */
  droppedSinceStart: () => number;
  lastAckAtMs: () => number | null;
  /** Camera pipeline states; the daemon supplies it. */
  cameras?: () => CameraStatus[];
  /** This run's boot id (a ULID drawn at daemon start); lets the collector tell a restart. */
  bootId?: string;
}

function diskFree(path: string): number | undefined {
  try {
    const s = statfsSync(dirname(path));
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

/** One Heartbeat message (firmware-protocol) from the outbox state and the daemon's camera states. */
export function buildHeartbeat(src: HeartbeatSource): Heartbeat {
  const s = src.outbox.stats();
  const lastAck = src.lastAckAtMs();
  const free = diskFree(src.outbox.path);
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
    },
    cameras: (src.cameras?.() ?? []).slice(0, HEARTBEAT_CAMERAS_MAX),
    ...(free !== undefined ? { disk_free_bytes: free } : {}),
    last_ack_at: lastAck === null ? null : new Date(lastAck).toISOString(),
    ...(src.bootId ? { boot_id: src.bootId } : {}),
  };
}
