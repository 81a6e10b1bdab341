import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  statfsSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

/**
 * The disk-full state of an outbox, and the reserve that keeps the outbox's own bookkeeping writable on a full disk.
 *
 * The reserve is a file beside the outbox (`outbox.db.reserve`) holding `reserve_bytes` of real, allocated data.
 * When SQLite reports the disk full, the daemon truncates it to 0 bytes: that space lets SQLite finish its
 * checkpoint (fold the WAL into the database) and keep rewinding the WAL, so claims, acks and counters keep being
 * written while the disk stays full. Once more than twice the reserve is free again, the daemon writes it back.
 *
 * The file is also the state every process can see: a 0-byte reserve means "the disk is full" (the daemon gave
 * its reserve back and has not been able to take it again); so does less than 64 KiB free (the daemon notices
 * within seconds and gives the reserve back). `outbox stats`, `status` and `doctor` all call `readDiskState`, so
 * they cannot disagree.
 */

export const RESERVE_SUFFIX = '.reserve';

/** Below this much free space the disk counts as full whatever the reserve says (the daemon then gives it back). */
export const FULL_BELOW_BYTES = 64 * 1024;

export type ReserveState = 'held' | 'released' | 'none';

export interface DiskState {
  /** The disk holding the outbox is full: the reserve was given back and not taken again, or < 64 KiB are free. */
  full: boolean;
  reserve: ReserveState;
  /** Bytes of the reserve file now (0 when given back). */
  reserveBytes: number;
  /** Free bytes on the filesystem holding the outbox (as the daemon's user sees them), or null if unknown. */
  freeBytes: number | null;
}

export function reservePath(outboxPath: string): string {
  return outboxPath + RESERVE_SUFFIX;
}

export function freeBytesAt(path: string): number | null {
  try {
    const s = statfsSync(dirname(path));
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return null;
  }
}

function reserveSize(outboxPath: string): number | undefined {
  try {
    return statSync(reservePath(outboxPath)).size;
  } catch {
    return undefined;
  }
}

/** The one definition of "the disk is full" for the daemon, `status`, `outbox stats` and `doctor`. */
export function readDiskState(outboxPath: string): DiskState {
  const size = reserveSize(outboxPath);
  const freeBytes = freeBytesAt(outboxPath);
  const reserve: ReserveState = size === undefined ? 'none' : size > 0 ? 'held' : 'released';
  const full = reserve === 'released' || (freeBytes !== null && freeBytes < FULL_BELOW_BYTES);
  return { full, reserve, reserveBytes: size ?? 0, freeBytes };
}

/**
 * Writes the reserve file with `bytes` of incompressible data (a compressing filesystem must not shrink it) and
 * fsyncs it. Returns false, leaving a 0-byte file (the "released" marker), when the disk has no room for it.
 */
export function takeReserve(outboxPath: string, bytes: number): boolean {
  const path = reservePath(outboxPath);
  const fd = openSync(path, 'a+', 0o600); // owner-only like the outbox (daemon/data-dir.ts tightens an old one)
  try {
    const have = statSync(path).size;
    if (have === bytes) return true;
    if (have > bytes) {
      ftruncateSync(fd, bytes);
      fsyncSync(fd);
      return true;
    }
    try {
      const chunk = 64 * 1024;
      for (let at = have; at < bytes; ) {
        const n = Math.min(chunk, bytes - at);
        at += writeSync(fd, randomBytes(n), 0, n, at);
      }
      fsyncSync(fd);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOSPC' && code !== 'EDQUOT') throw err;
      ftruncateSync(fd, 0);
      return false;
    }
  } finally {
    closeSync(fd);
  }
}

/** Gives the reserve's space back to the filesystem, keeping the 0-byte file as the "disk full" marker. */
export function releaseReserve(outboxPath: string): boolean {
  const path = reservePath(outboxPath);
  try {
    const had = statSync(path).size;
    truncateSync(path, 0);
    return had > 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    // No reserve configured: still leave the marker so other processes see the state.
    try {
      closeSync(openSync(path, 'a', 0o600));
    } catch {
      /* not even an inode left: the free-space rule still says full */
    }
    return false;
  }
}

/** Removes the marker (reserve turned off and the disk is no longer full). */
export function removeReserve(outboxPath: string): void {
  try {
    unlinkSync(reservePath(outboxPath));
  } catch {
    /* already gone */
  }
}
