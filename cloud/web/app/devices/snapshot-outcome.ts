import type { CommandJson, CommandState } from '../api/types.js';

/**
 * What a snapshot command (cloud/commands/routes.ts commandView) means for the person who asked "what do you see
 * now?": the picture, or why there is none. Pure, so the web logic tests run it in Node; ./snapshot.ts asks the
 * collector.
 */
/** How long the collector keeps a snapshot command for the box (then: expired / device_offline). */
export const SNAPSHOT_TTL = '15s';
/** How long the app follows a command before it stops waiting on its side. */
export const SNAPSHOT_WAIT_MS = 20_000;

export type SnapshotProgress = 'sending' | 'queued' | 'delivered';

export interface SnapshotPicture {
  ok: true;
  commandId: string;
  url: string;
  camera: string;
  capturedAt: string | null;
  width: number | null;
  height: number | null;
}

export interface SnapshotProblem {
  ok: false;
  commandId: string;
  /** The API's code (device_offline, command_refused, command_failed), or null when the app stopped waiting. */
  code: string | null;
  /** The box's code (no_frame, camera_unknown …) when it gave one. */
  reason: string | null;
  /** What a person reads first. */
  title: string;
  /** The collector's words (or the box's), when there are any. */
  message: string | null;
}

export type SnapshotOutcome = SnapshotPicture | SnapshotProblem;

export const ENDED: ReadonlySet<CommandState> = new Set(['done', 'failed', 'expired']);

/** The headline for a command that did not work, by the API's code. */
export function problemTitle(code: string | null): string {
  switch (code) {
    case 'device_offline':
      return 'The box did not answer in time.';
    case 'command_refused':
      return 'The box refused to take the picture.';
    case 'command_failed':
      return 'The box could not take the picture.';
    default:
      return 'No picture came.';
  }
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : null);

/** What an ended command (or one the app stopped waiting for) means for the person who asked. */
export function snapshotOutcome(c: CommandJson, camera: string): SnapshotOutcome {
  if (c.state === 'done' && c.snapshot_url) {
    const r = c.result?.result ?? {};
    return {
      ok: true,
      commandId: c.id,
      url: c.snapshot_url,
      camera: typeof r.camera === 'string' ? r.camera : camera,
      capturedAt: typeof r.captured_at === 'string' ? r.captured_at : null,
      width: num(r.width),
      height: num(r.height),
    };
  }
  const problem = (title: string, message: string | null, code: string | null = null, reason: string | null = null) =>
    ({ ok: false, commandId: c.id, code, reason, title, message }) satisfies SnapshotProblem;
  if (c.error) return problem(problemTitle(c.error.code), c.error.message, c.error.code, c.error.reason);
  if (c.state === 'done') return problem('The box answered without a picture.', null);
  return problem(
    `No answer from the box within ${Math.round(SNAPSHOT_WAIT_MS / 1000)} s.`,
    `The command is still ${c.state} on the collector; it ends by itself at its expiry.`,
  );
}
