import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describeError, isVigilError } from '../../shared/errors/index.js';
import type { AgentConfig } from '../config.js';
import { Outbox, OUTBOX_FILE } from '../outbox/index.js';
import { fail, pass, warn, type CheckResult } from './report.js';

/** The outbox file opens as a healthy Vigil outbox (integrity check included) and says what waits in it. */
export function checkOutbox(config: AgentConfig): CheckResult {
  const path = join(config.data_dir, OUTBOX_FILE);
  if (!existsSync(path)) return pass('outbox', `${path}: not created yet (the daemon creates it on first start)`);
  let ob: Outbox | undefined;
  try {
    ob = Outbox.open({ path, create: false });
    const s = ob.stats();
    const age = s.oldestPendingAgeMs === null ? '' : `, oldest ${Math.round(s.oldestPendingAgeMs / 1000)} s old`;
    const detail = `${path}: ${s.depth} waiting (${s.total.pending} pending, ${s.total.in_flight} in flight, ${s.total.dead} dead)${age}, ${Math.round(s.fileBytes / 1024)} KiB`;
    if (s.total.dead > 0) return warn('outbox', detail, 'dead items were refused by the collector: `vigil-agent outbox list --state dead` shows why, `vigil-agent outbox retry` re-sends them');
    return pass('outbox', detail);
  } catch (err) {
    const code = isVigilError(err) ? err.code : 'outbox_unreadable';
    const hint =
      code === 'outbox_corrupt' || code === 'outbox_foreign'
        ? 'stop the daemon and move the file aside, or start it with --quarantine-corrupt (outbox.quarantine_corrupt: true); un-sent events in it are lost'
        : 'check the file permissions and that the data dir is writable by the vigil user';
    return fail('outbox', describeError(err), hint);
  } finally {
    ob?.close();
  }
}
