import { existsSync, statfsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { AgentConfig } from '../config.js';
import { OUTBOX_FILE, readDiskState } from '../outbox/index.js';
import { diskFullHint } from './outbox.js';
import { fail, pass, warn, type CheckResult } from './report.js';

/** Below this the outbox cannot take another thumbnail burst and SQLite may fail writes: fail. */
export const DISK_FAIL_BYTES = 64 * 1024 * 1024;

const mib = (n: number): string =>
  n >= 10 * 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${Math.round(n / 1024 ** 2)} MiB`;

/**
 * Free space where the data dir lives. Fail under 64 MiB; warn when less than the outbox budget is free (a long
 * outage could then fill the disk before the outbox reaches its own limit).
 */
export function checkDisk(
  config: AgentConfig,
  statfs: (path: string) => { bavail: number; bsize: number; blocks: number } = statfsSync,
): CheckResult {
  const dir = resolve(config.data_dir);
  let probe = dir;
  while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe);
  const note = probe === dir ? '' : ` (${dir} does not exist yet; measured at ${probe})`;
  let free: number;
  let total: number;
  try {
    const s = statfs(probe);
    free = s.bavail * s.bsize;
    total = s.blocks * s.bsize;
  } catch (err) {
    return fail(
      'disk',
      `cannot read free space at ${probe}: ${(err as Error).message}`,
      'check that the data dir is on a mounted, readable filesystem',
    );
  }
  const budget = config.outbox.budget_bytes;
  // The outbox's own view of it (disk-state.ts), the same as `status` and `outbox stats` give.
  const state = probe === dir ? readDiskState(join(dir, OUTBOX_FILE)) : undefined;
  const reserve = state && state.reserve !== 'none' ? `; disk-full reserve ${state.reserve}` : '';
  const detail = `${mib(free)} free of ${mib(total)} at ${dir}${note}; outbox budget ${mib(budget)}${reserve}`;
  if (state?.full) return fail('disk', `${detail}; DISK FULL`, diskFullHint(join(dir, OUTBOX_FILE), state));
  if (free < DISK_FAIL_BYTES)
    return fail(
      'disk',
      detail,
      `free space under ${mib(DISK_FAIL_BYTES)}: the outbox and thumbnails cannot be written; free space or move ` +
        `data_dir`,
    );
  if (free < budget)
    return warn(
      'disk',
      detail,
      'less space than the outbox budget: lower outbox.budget_bytes or free space so a long outage cannot fill the ' +
        'disk',
    );
  return pass('disk', detail);
}
