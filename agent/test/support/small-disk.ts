import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real, small filesystem for disk-full tests: a tmpfs of a few MiB mounted on a temp dir (needs root or
 * CAP_SYS_ADMIN), a filler file that takes every free byte ("the disk fills up"), and its removal ("the operator
 * frees space"). `mount()` returns undefined where mounting is not allowed; callers skip loudly then.
 */
export interface SmallDisk {
  dir: string;
  /** Free bytes right now (as an unprivileged writer sees them). */
  free(): number;
  /** Writes filler files until the filesystem refuses another byte. Returns the bytes written. */
  fill(): number;
  /** Deletes every filler file. */
  freeUp(): void;
  unmount(): void;
}

export function mountSmallDisk(sizeMiB = 3): SmallDisk | undefined {
  const base = mkdtempSync(join(tmpdir(), 'vigil-small-disk-'));
  const dir = join(base, 'disk');
  mkdirSync(dir);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    rmSync(base, { recursive: true, force: true });
    return undefined;
  }
  const fillers: string[] = [];
  const free = (): number => {
    const s = statfsSync(dir);
    return Number(s.bavail) * Number(s.bsize);
  };
  return {
    dir,
    free,
    fill(): number {
      const file = join(dir, `filler-${fillers.length}`);
      fillers.push(file);
      const fd = openSync(file, 'w');
      const chunk = Buffer.alloc(64 * 1024, 0x5a);
      let written = 0;
      try {
        // Big chunks first, then single pages: stop only when not one more byte fits.
        for (const size of [chunk.length, 4096, 1]) {
          for (;;) {
            try {
              written += writeSync(fd, chunk, 0, size);
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
              break;
            }
          }
        }
      } finally {
        closeSync(fd);
      }
      return written;
    },
    freeUp(): void {
      for (const f of fillers.splice(0)) {
        try {
          unlinkSync(f);
        } catch {
          /* already gone */
        }
      }
    },
    unmount(): void {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
      } catch {
        /* not mounted */
      }
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** One loud line when a disk-full test cannot run here (instead of passing silently). */
export function skipNoTmpfs(): void {
  process.stderr.write('\n!!! SKIPPING: cannot mount a small tmpfs here (needs root / CAP_SYS_ADMIN)\n\n');
}
