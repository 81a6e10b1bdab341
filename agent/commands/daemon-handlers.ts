import { describeError } from '../errors.js';
import type { DaemonStatus } from '../status/schema.js';
import { failure } from './results.js';
import type { CommandHandler } from './types.js';

/**
 * The handlers of the commands about the daemon itself: `status` answers the daemon's status document (what its
 * local endpoint serves at GET /status), `reload_config` does what SIGHUP does and answers the cameras it restarted.
 */

/** `status`: the daemon's status document (agent/status/schema.ts). */
export function statusHandler(status: () => DaemonStatus): CommandHandler {
  return async () => ({ status: 'done', result: { ...status() } });
}

/** What a reload reports (Daemon.reload). */
export interface ReloadOutcome {
  ok: boolean;
  error?: string;
  restarted: string[];
}

/**
 * `reload_config`: reads and applies the config file again, like SIGHUP. `reload_failed` when the file does not load
 * (the running config stays).
 */
export function reloadConfigHandler(reload: () => Promise<ReloadOutcome>): CommandHandler {
  return async () => {
    let r: ReloadOutcome;
    try {
      r = await reload();
    } catch (err) {
      return failure('reload_failed', describeError(err));
    }
    if (!r.ok) return failure('reload_failed', r.error ?? 'the config did not load; the running config stays');
    return { status: 'done', result: { restarted_cameras: r.restarted } };
  };
}
