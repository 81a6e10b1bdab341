import { api } from '../api/http.js';
import type { CommandIssuedJson, CommandJson } from '../api/types.js';
import {
  ENDED,
  SNAPSHOT_TTL,
  SNAPSHOT_WAIT_MS,
  type SnapshotOutcome,
  type SnapshotProgress,
  snapshotOutcome,
} from './snapshot-outcome.js';

/**
 * "What do you see now?": a `snapshot` command for one camera of a box (cloud/commands/routes.ts), issued by an
 * admin and followed until it ends. The collector keeps the command for the box `SNAPSHOT_TTL` (then ends it
 * expired / device_offline); the app asks about it every few hundred ms for at most `SNAPSHOT_WAIT_MS` and then
 * stops waiting on its side (what came is read by ./snapshot-outcome.ts). The JPEG is an <img> of `snapshot_url`
 * (same origin, with the session cookie).
 */
/** Pauses between two looks at the command: quick at first (a box on MQTT answers within a second or two). */
const POLL_STEPS_MS = [250, 400, 600, 800, 1000];

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export interface SnapshotOptions {
  signal: AbortSignal;
  onProgress(p: SnapshotProgress): void;
  /** How long to follow the command (default SNAPSHOT_WAIT_MS). */
  waitMs?: number;
  now?: () => number;
}

/**
 * Issues the command and follows it until it ends or the wait is over. API errors of the POST (forbidden,
 * rate_limited, device_unknown …) and of the polls are thrown as ApiError / UnreachableError; an abort as the
 * signal's reason.
 */
export async function takeSnapshot(deviceId: string, camera: string, o: SnapshotOptions): Promise<SnapshotOutcome> {
  const now = o.now ?? Date.now;
  const deadline = now() + (o.waitMs ?? SNAPSHOT_WAIT_MS);
  const base = `/v1/devices/${encodeURIComponent(deviceId)}/commands`;
  o.onProgress('sending');
  const issued = await api.post<CommandIssuedJson>(
    base,
    { kind: 'snapshot', args: { camera }, ttl: SNAPSHOT_TTL },
    { signal: o.signal },
  );
  const path = `${base}/${encodeURIComponent(issued.id)}`;
  for (let i = 0; ; i++) {
    await sleep(POLL_STEPS_MS[Math.min(i, POLL_STEPS_MS.length - 1)] ?? 1000, o.signal);
    const c = await api.get<CommandJson>(path, { signal: o.signal });
    if (ENDED.has(c.state) || now() >= deadline) return snapshotOutcome(c, camera);
    o.onProgress(c.state === 'delivered' ? 'delivered' : 'queued');
  }
}
