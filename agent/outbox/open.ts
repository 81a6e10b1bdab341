import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { closeSync, existsSync, openSync, readSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ensurePrivateFile, mkdirPrivateSync, tightenPath } from '../../shared/fs/index.js';
import { isVigilError, VigilError } from '../errors.js';
import { migrate, OUTBOX_APPLICATION_ID, OUTBOX_SCHEMA_VERSION } from './schema.js';

/**
 * Opening the outbox file: refuse, with a clear error naming the file, anything that is not a healthy Vigil outbox.
 *
 * - `outbox_foreign`: the file is not an SQLite database, or is an SQLite database of another application.
 * - `outbox_corrupt`: it is (or was) an outbox but SQLite reports damage (header, pages, integrity check).
 *
 * By default the file is left untouched so it can be inspected and the daemon fails once with that error instead
 * of crash-looping over a half-overwritten file. With `quarantine: true` (CLI `--quarantine-corrupt`) the file and
 * its -wal/-shm companions are renamed aside to `<file>.corrupt-<timestamp>` and a fresh outbox is created.
 */

const SQLITE_HEADER = Buffer.from('SQLite format 3\u0000', 'latin1');

export interface OpenFileOptions {
  path: string;
  /** Create the file (and its folder) when missing. Default true; the CLI passes false. */
  create?: boolean;
  /** Rename a corrupt/foreign file aside and start fresh instead of failing. Default false. */
  quarantine?: boolean;
  /** Run `PRAGMA quick_check` on open (reads every page; a few ms per MB). Default true. */
  integrityCheck?: boolean;
  /** Milliseconds to wait for another process's write lock (the CLI beside the daemon). */
  busyTimeoutMs?: number;
  /**
   * Read without writing anything (`outbox list|stats`, `doctor`): no migration, no pragmas that write. On a full
   * disk where SQLite cannot create the -shm file it falls back to exclusive locking (the WAL index in memory).
   * A file at an older schema version is opened normally (and migrated) instead.
   */
  readonly?: boolean;
  /**
   * Called once when opening fails because the disk is full (e.g. `SQLITE_IOERR_SHMSIZE`: no room for the -shm
   * file); returns true when it freed space (the daemon gives back its reserve), and the open is tried again.
   */
  onDiskFull?: () => boolean;
  now?: () => number;
}

export interface OpenedFile {
  db: Db;
  /** Where a corrupt/foreign file was moved, when `quarantine` did so. */
  quarantinedTo?: string;
  /**
   * Opened with `locking_mode=EXCLUSIVE` because the -shm file could not be created (full disk): the WAL index lives
   * in memory and no other process can open the file until this one closes it.
   */
  exclusive?: boolean;
}

function readHeader(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(16);
    const n = readSync(fd, buf, 0, 16, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function isSqliteError(err: unknown): err is Error & { code: string } {
  return (
    err instanceof Error &&
    typeof (err as { code?: unknown }).code === 'string' &&
    (err as unknown as { code: string }).code.startsWith('SQLITE_')
  );
}

/**
 * SQLite errors that mean "no room on the disk": SQLITE_FULL, and the -shm file that cannot be created or grown
 * (`SQLITE_IOERR_SHMSIZE` and friends, which a full tmpfs or disk gives when a process opens the file first).
 */
export function isDiskFullError(err: unknown): boolean {
  return isSqliteError(err) && (err.code === 'SQLITE_FULL' || /^SQLITE_IOERR_SHM(SIZE|OPEN|MAP)$/.test(err.code));
}

/** SQLite error codes that mean the file itself is damaged. */
export function isCorruptionError(err: unknown): boolean {
  return isSqliteError(err) && /^SQLITE_(CORRUPT|NOTADB)/.test(err.code);
}

function corrupt(path: string, why: string, cause?: unknown): VigilError {
  return new VigilError(
    'outbox_corrupt',
    `outbox file ${path} is corrupt (${why}); it was left untouched for inspection — move it aside, or re-run with ` +
      `--quarantine-corrupt to rename it to ${path}.corrupt-<timestamp> and start an empty outbox`,
    { details: { path, reason: why }, cause },
  );
}

function foreign(path: string, why: string): VigilError {
  return new VigilError(
    'outbox_foreign',
    `${path} is not a Vigil outbox (${why}); it was left untouched — point --data-dir elsewhere, move the file, or ` +
      `re-run with --quarantine-corrupt to rename it aside`,
    { details: { path, reason: why } },
  );
}

function configure(db: Db, busyTimeoutMs: number): void {
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  db.pragma('journal_mode = WAL');
  // FULL: every commit fsyncs the WAL, so an enqueued event survives a power cut, not just a process crash.
  // The outbox lowers this to NORMAL around bookkeeping whose loss only causes a resend (claims, acks).
  db.pragma('synchronous = FULL');
  // Keep the WAL small on a box with little disk: checkpoint every ~1 MiB and truncate the file afterwards.
  db.pragma('wal_autocheckpoint = 256');
  db.pragma(`journal_size_limit = ${1024 * 1024}`);
  db.pragma('foreign_keys = ON');
}

type CheckedOptions = Required<Omit<OpenFileOptions, 'quarantine' | 'now' | 'onDiskFull'>> & { exclusive: boolean };

/** Opens (and checks) the file, or throws a VigilError saying exactly what is wrong with it. */
function openChecked(o: CheckedOptions): Db {
  const { path } = o;
  const exists = existsSync(path);
  if (!exists && !o.create) {
    throw new VigilError(
      'outbox_missing',
      `no outbox at ${path} (is --data-dir right? the agent creates it on first start)`,
      {
        details: { path },
      },
    );
  }
  if (exists) {
    const size = statSync(path).size;
    if (size > 0) {
      const header = readHeader(path);
      if (header.length < 16 || !header.equals(SQLITE_HEADER)) {
        if (size < 16) throw corrupt(path, `truncated to ${size} bytes`);
        throw foreign(path, 'not an SQLite database');
      }
    }
  } else {
    mkdirPrivateSync(dirname(path));
  }
  // Queued events and thumbnails: owner-only whatever the umask (SQLite gives -wal/-shm the mode of the file).
  // A file an older version left open is tightened; a read-only open changes nothing.
  if (!o.readonly) {
    ensurePrivateFile(path);
    for (const side of ['-wal', '-shm', '-journal']) tightenPath(path + side);
  }
  let db: Db | undefined;
  try {
    // Exclusive locking (set before the first read) keeps the WAL index in memory: no -shm file is needed. That is
    // the way in when a full disk has no room for one; read-only needs write access to take the lock.
    const readonly = o.readonly && !o.exclusive;
    db = new Database(path, { fileMustExist: !o.create, readonly });
    if (o.exclusive) db.pragma('locking_mode = EXCLUSIVE');
    const appId = db.pragma('application_id', { simple: true }) as number;
    const tables = db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as { n: number };
    if (appId !== OUTBOX_APPLICATION_ID && !(appId === 0 && tables.n === 0)) {
      throw foreign(
        path,
        appId === 0
          ? `an SQLite database with ${tables.n} table(s) of another application`
          : `SQLite application_id 0x${appId.toString(16)}`,
      );
    }
    if (o.readonly) {
      db.pragma(`busy_timeout = ${o.busyTimeoutMs}`);
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > OUTBOX_SCHEMA_VERSION) migrate(db, path); // throws outbox_too_new
      if (version !== OUTBOX_SCHEMA_VERSION) throw new NeedsMigration();
    } else {
      if (tables.n === 0) db.pragma('auto_vacuum = INCREMENTAL'); // only settable before the first table
      configure(db, o.busyTimeoutMs);
    }
    if (o.integrityCheck && tables.n > 0) {
      const rows = db.pragma('quick_check(5)') as Array<{ quick_check: string }>;
      const problems = rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
      if (problems.length > 0) throw corrupt(path, problems.join('; '));
    }
    if (!o.readonly) migrate(db, path);
    return db;
  } catch (err) {
    db?.close();
    if (isVigilError(err) || err instanceof NeedsMigration) throw err;
    if (isCorruptionError(err)) throw corrupt(path, (err as Error).message, err);
    throw err;
  }
}

/** A read-only open found an older schema version: it is opened normally (and migrated) instead. */
class NeedsMigration extends Error {}

/** Opens, falling back on a full disk: give space back (`onDiskFull`) and retry, then exclusive locking (no -shm). */
function openWithFallbacks(o: CheckedOptions, onDiskFull: (() => boolean) | undefined): { db: Db; exclusive: boolean } {
  try {
    return { db: openChecked(o), exclusive: false };
  } catch (err) {
    if (err instanceof NeedsMigration) return openWithFallbacks({ ...o, readonly: false }, onDiskFull);
    if (!isDiskFullError(err)) throw err;
    if (onDiskFull?.()) {
      try {
        return { db: openChecked(o), exclusive: false };
      } catch (again) {
        if (!isDiskFullError(again)) throw again;
      }
    }
    try {
      return { db: openChecked({ ...o, exclusive: true }), exclusive: true };
    } catch (last) {
      if (last instanceof NeedsMigration) {
        return { db: openChecked({ ...o, readonly: false, exclusive: true }), exclusive: true };
      }
      // Another process has it open: the first error says why.
      if (isSqliteError(last) && last.code === 'SQLITE_BUSY') throw err;
      throw last;
    }
  }
}

export function openOutboxFile(options: OpenFileOptions): OpenedFile {
  const o: CheckedOptions = {
    path: options.path,
    create: options.create ?? true,
    integrityCheck: options.integrityCheck ?? true,
    busyTimeoutMs: options.busyTimeoutMs ?? 5_000,
    readonly: options.readonly ?? false,
    exclusive: false,
  };
  try {
    const { db, exclusive } = openWithFallbacks(o, options.onDiskFull);
    return exclusive ? { db, exclusive } : { db };
  } catch (err) {
    if (!options.quarantine || !(isVigilError(err, 'outbox_corrupt') || isVigilError(err, 'outbox_foreign'))) throw err;
    const stamp = new Date((options.now ?? Date.now)()).toISOString().replace(/[:.]/g, '-');
    const aside = `${o.path}.corrupt-${stamp}`;
    renameSync(o.path, aside);
    for (const suffix of ['-wal', '-shm']) {
      if (existsSync(o.path + suffix)) renameSync(o.path + suffix, aside + suffix);
    }
    return { db: openChecked({ ...o, create: true, readonly: false }), quarantinedTo: aside };
  }
}
