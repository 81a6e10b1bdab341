import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describeError, isVigilError } from '../../shared/errors/index.js';
import type { AgentConfig } from '../config.js';
import { isDiskFullError, Outbox, OUTBOX_FILE, readDiskState, type DiskState } from '../outbox/index.js';
import { fail, pass, warn, type CheckResult } from './report.js';

/**
 * The outbox file opens as a healthy Vigil outbox (integrity check included) and says what waits in it. It only
 * reads (it works on a full disk, beside the daemon or not), and reports the disk-full state the way `status` and
 * `outbox stats` do (one function: outbox/disk-state.ts).
 */
export function diskFullHint(path: string, disk: DiskState): string {
  const free = disk.freeBytes === null ? '' : ` (${disk.freeBytes} bytes free)`;
  return (
    `the disk holding ${path} is full${free}: free space on it (old logs, other files) — the daemon keeps every ` +
    'queued item, goes on sending, keeps new events (without thumbnails) and resumes by itself'
  );
}

export function checkOutbox(config: AgentConfig): CheckResult {
  const path = join(config.data_dir, OUTBOX_FILE);
  if (!existsSync(path)) return pass('outbox', `${path}: not created yet (the daemon creates it on first start)`);
  const disk = readDiskState(path);
  let ob: Outbox | undefined;
  try {
    ob = Outbox.open({ path, create: false, readonly: true });
    const s = ob.stats();
    const age = s.oldestPendingAgeMs === null ? '' : `, oldest ${Math.round(s.oldestPendingAgeMs / 1000)} s old`;
    const r = s.refused;
    const any = r.disk_full + r.outbox_full > 0;
    const refused = any ? `, refused: disk full ${r.disk_full}, budget ${r.outbox_full}` : '';
    const t = s.total;
    const waiting = `${s.depth} waiting (${t.pending} pending, ${t.in_flight} in flight, ${t.dead} dead)`;
    const detail = `${path}: ${waiting}${age}, ${Math.round(s.fileBytes / 1024)} KiB${refused}`;
    if (s.diskFull) return warn('outbox', `${detail}; DISK FULL`, diskFullHint(path, disk));
    if (s.total.dead > 0) {
      const why = 'dead items were refused by the collector: `vigil-agent outbox list --state dead` shows why';
      return warn('outbox', detail, `${why}, \`vigil-agent outbox retry\` re-sends them`);
    }
    return pass('outbox', detail);
  } catch (err) {
    const code = isVigilError(err) ? err.code : 'outbox_unreadable';
    const hint =
      code === 'outbox_corrupt' || code === 'outbox_foreign'
        ? 'stop the daemon and move the file aside, or start it with --quarantine-corrupt ' +
          '(outbox.quarantine_corrupt: true); un-sent events in it are lost'
        : disk.full || isDiskFullError(err)
          ? diskFullHint(path, disk)
          : 'check the file permissions and that the data dir is writable by the vigil user';
    return fail('outbox', describeError(err), hint);
  } finally {
    ob?.close();
  }
}
