import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { relative, resolve, sep } from 'node:path';
import type { Logger } from '../log/index.js';

export { writeFileAtomic } from './atomic-write.js';
export { fsyncDir, sha256File } from './file-sync.js';

/**
 * Owner-only files and folders, whatever the umask. `mkdir(…, {mode})` and `open(…, mode)` only ever REMOVE bits
 * named by the umask, and an existing path keeps its mode; so what Vigil creates for its own data (databases, blobs,
 * keys, credentials) is chmod-ed explicitly: folders 0700, files 0600. Paths that already exist are "tightened":
 * group and other bits removed, owner bits left alone (a path we may not chmod is reported, not thrown).
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** What was changed: paths whose group/other bits were removed (with the old mode), and paths we could not change. */
export interface Tightened {
  changed: Array<{ path: string; from: number }>;
  refused: Array<{ path: string; mode: number; reason: string }>;
}

export function emptyTightened(): Tightened {
  return { changed: [], refused: [] };
}

/** The folders `mkdir -p dir` created, top-down, given the first one it created (mkdirSync's return value). */
function createdChain(first: string | undefined, dir: string): string[] {
  if (first === undefined) return [];
  const top = resolve(first);
  const chain = [top];
  const rest = relative(top, resolve(dir));
  if (rest) {
    let p = top;
    for (const part of rest.split(sep)) {
      p = `${p}${sep}${part}`;
      chain.push(p);
    }
  }
  return chain;
}

/** Removes group/other bits of an existing path; ENOENT is ignored. */
export function tightenPath(path: string, into: Tightened = emptyTightened()): Tightened {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o7777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return into;
    throw err;
  }
  if ((mode & 0o077) === 0) return into;
  try {
    chmodSync(path, mode & ~0o077 & 0o7777);
    into.changed.push({ path, from: mode & 0o777 });
  } catch (err) {
    into.refused.push({ path, mode: mode & 0o777, reason: (err as Error).message });
  }
  return into;
}

/** `mkdir -p dir` whose new folders are 0700 exactly; existing ones are left as they are. Returns the new ones. */
export function mkdirPrivateSync(dir: string): string[] {
  const created = createdChain(mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE }), dir);
  for (const d of created) chmodSync(d, PRIVATE_DIR_MODE);
  return created;
}

/** A folder that is ours alone (a data dir): created 0700 exactly, or tightened when it exists. */
export function ensurePrivateDir(dir: string, into: Tightened = emptyTightened()): Tightened {
  if (mkdirPrivateSync(dir).length === 0) tightenPath(dir, into);
  return into;
}

/** Async `mkdir -p` whose new folders are 0700 exactly (existing ones are left as they are). */
export async function mkdirPrivate(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  for (const d of createdChain(first, dir)) await chmod(d, PRIVATE_DIR_MODE);
}

/**
 * Makes sure `file` exists with mode 0600 before another library opens it (SQLite gives its -wal and -shm files the
 * mode of the database file): created empty and chmod-ed when missing, tightened when present.
 */
export function ensurePrivateFile(file: string, into: Tightened = emptyTightened()): Tightened {
  try {
    const fd = openSync(file, 'wx', PRIVATE_FILE_MODE);
    closeSync(fd);
    chmodSync(file, PRIVATE_FILE_MODE);
    return into;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return tightenPath(file, into);
}

/** `vigil.db 0644→0600, thumbnails 0755→0700` for a log line. */
export function describeTightened(t: Tightened): string {
  const octal = (m: number): string => m.toString(8).padStart(4, '0');
  return t.changed.map((c) => `${c.path} ${octal(c.from)}→${octal(c.from & 0o700)}`).join(', ');
}

/**
 * A program's own data dir made private at start: the folder 0700 (created when missing), then `tighten` removes
 * group/other bits from what the program keeps there; one warning names everything that changed, and one per path
 * that could not be changed. Returns what was done (for tests and `doctor`).
 */
export function secureDataDirWith(dataDir: string, tighten: (into: Tightened) => void, log?: Logger): Tightened {
  const t = ensurePrivateDir(dataDir);
  tighten(t);
  if (t.changed.length > 0) {
    const what = { data_dir: dataDir, tightened: describeTightened(t) };
    log?.warn(what, 'data dir files were readable by group/others: made owner-only');
  }
  for (const r of t.refused) {
    const what = { path: r.path, mode: r.mode.toString(8), reason: r.reason };
    log?.warn(what, 'cannot make a data dir file owner-only: fix its owner or mode by hand');
  }
  return t;
}
