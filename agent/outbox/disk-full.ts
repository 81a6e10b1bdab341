import type { Database as Db } from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../shared/clock/index.js';
import type { Logger } from '../../shared/log/index.js';
import {
  FULL_BELOW_BYTES,
  freeBytesAt,
  readDiskState,
  releaseReserve,
  removeReserve,
  takeReserve,
} from './disk-state.js';

/**
 * The outbox's plan for a full disk. Two reserves, both taken while there is room and given back the moment
 * SQLite reports the disk full:
 *
 * - the reserve FILE (`outbox.db.reserve`, `reserve_bytes`): its space lets SQLite fold the WAL into the database
 *   (the checkpoint may need to grow the file) and create its -shm file, after which the WAL is rewound and reused
 *   in place: claims, acks and counter updates need no new disk space;
 * - SPARE PAGES inside the database (a body row of a quarter of the reserve, never an item): deleted, they become
 *   free pages of the file, room for index splits and for event records written while the disk stays full.
 *
 * While full, the file is capped at its size (`max_page_count`) so a write can never again leave the WAL holding
 * pages that a checkpoint could not write, the WAL is checkpointed every few pages, thumbnails are not stored
 * (their events go without), and event records that do not fit wait in memory (Outbox). One log line when the
 * state starts, one when it ends: it ends when twice the reserve is free again and the reserves are taken back.
 */

/** The spare row's key in `bodies` (items have positive sequence numbers). */
const SPARE_SEQ = -1;
/** WAL pages between checkpoints while the disk is full (the WAL is then rewound and reused in place). */
const FULL_AUTOCHECKPOINT_PAGES = 16;
const CHECK_EVERY_MS = 2_000;

export interface DiskFullGuardOptions {
  db: Db;
  path: string;
  /** Bytes of the reserve file; 0 turns both reserves off (the state is still tracked and shown). */
  reserveBytes: number;
  clock: Clock;
  log: Logger;
  /** The page cap the outbox was opened with (tests), restored when the state ends. */
  maxPageCount: number | undefined;
}

export class DiskFullGuard {
  private since: number | null = null;
  private leaving = false;
  /** Without a reserve, the 0-byte marker this guard wrote (only that one is removed when the state ends). */
  private ownsMarker = false;
  private nextCheckAt = 0;
  private readonly db: Db;
  private readonly path: string;
  private readonly reserveBytes: number;
  private readonly spareBytes: number;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly pageSize: number;
  private readonly normalCap: number;
  /** WAL pages between checkpoints normally: the reserve covers twice the pages a WAL can hold. */
  readonly normalAutocheckpoint: number;

  constructor(o: DiskFullGuardOptions) {
    this.db = o.db;
    this.path = o.path;
    this.reserveBytes = Math.max(0, Math.floor(o.reserveBytes));
    this.spareBytes = Math.floor(this.reserveBytes / 4);
    this.clock = o.clock;
    this.log = o.log;
    this.pageSize = o.db.pragma('page_size', { simple: true }) as number;
    this.normalCap = o.maxPageCount ?? (o.db.pragma('max_page_count', { simple: true }) as number);
    if (o.maxPageCount !== undefined) o.db.pragma(`max_page_count = ${Math.floor(o.maxPageCount)}`);
    const walPages = Math.floor(this.reserveBytes / 2 / this.pageSize);
    this.normalAutocheckpoint = this.reserveBytes > 0 ? Math.max(16, Math.min(256, walPages)) : 256;
    o.db.pragma(`wal_autocheckpoint = ${this.normalAutocheckpoint}`);
  }

  /** At open (daemon): takes the reserves, or stays in the disk-full state a previous run left (0-byte reserve). */
  start(): void {
    const state = readDiskState(this.path);
    // Given back by a previous run: still full unless there is room to end the state right away.
    const stillFull = state.reserve === 'released' && state.freeBytes !== null && state.freeBytes < this.leaveNeed();
    if (stillFull) {
      this.enter('open', 'the disk was full when the agent last stopped, and still is');
      return;
    }
    if (this.reserveBytes === 0) {
      if (state.reserve === 'released') removeReserve(this.path); // the marker of a full disk that is not any more
      return;
    }
    let taken = false;
    try {
      taken = takeReserve(this.path, this.reserveBytes) && this.takeSpare();
    } catch (err) {
      this.log.warn({ path: this.path, err: (err as Error).message }, 'outbox: cannot write the disk-full reserve');
    }
    if (!taken) this.enter('open', `less than the ${this.reserveBytes}-byte reserve is free`);
  }

  /** Free bytes needed to end the state: twice the reserve plus the spare (at least 1 MiB). */
  private leaveNeed(): number {
    return Math.max(2 * this.reserveBytes + this.spareBytes, 16 * FULL_BELOW_BYTES);
  }

  get full(): boolean {
    return this.since !== null;
  }

  /** Full and not in the middle of ending the state: records go one at a time, within the floor. */
  get constrained(): boolean {
    return this.since !== null && !this.leaving;
  }

  /** Pages of the spare, kept free inside the file while full (prune vacuums only beyond them). */
  get sparePages(): number {
    return Math.ceil(this.spareBytes / this.pageSize);
  }

  /**
   * While full, event records may use the file's free pages only above this floor: the rest is for claims, acks
   * and counters (an index entry that moves may split a page). Without it, records written on a full disk could
   * take the last free page and leave the uplink unable to claim, hence to free anything.
   */
  roomForRecords(): boolean {
    if (this.since === null || this.leaving) return true;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    return free > Math.max(8, Math.floor(this.sparePages / 2));
  }

  /**
   * SQLite said the disk is full (or an open found it so): give both reserves back, fold the WAL into the file,
   * cap the file at its size. Logs the start of the state once; repeated calls only retry the checkpoint.
   */
  enter(op: string, why = 'SQLite reported the disk full'): void {
    const first = this.since === null;
    if (first) this.since = this.clock.now();
    this.nextCheckAt = this.clock.now() + CHECK_EVERY_MS;
    let released = false;
    try {
      if (this.reserveBytes === 0 && readDiskState(this.path).reserve === 'none') this.ownsMarker = true;
      released = releaseReserve(this.path);
    } catch (err) {
      this.log.warn({ path: this.path, err: (err as Error).message }, 'outbox: cannot truncate the disk-full reserve');
    }
    this.checkpoint();
    this.dropSpare();
    this.checkpoint();
    this.cap();
    this.db.pragma(`wal_autocheckpoint = ${FULL_AUTOCHECKPOINT_PAGES}`);
    if (first) {
      this.log.error(
        { path: this.path, op, why, reserve_released: released, free_bytes: freeBytesAt(this.path) },
        'outbox: disk full — sending goes on, new events are kept without thumbnails ' +
          '(in memory when even their record does not fit) until space is freed',
      );
    }
  }

  /**
   * Called before each write, acting every few seconds. Not full: enters the state when less than 64 KiB are free
   * (a write that fits in the WAL's room may not fail for a while; the state should not wait for it). Full: checks
   * whether twice the reserve is free again and takes the reserves back; the state ends when `probe` succeeds too
   * (the outbox writes what waits in memory there). Returns true when the state just ended.
   */
  watch(probe: () => boolean): boolean {
    if (this.clock.now() < this.nextCheckAt) return false;
    this.nextCheckAt = this.clock.now() + CHECK_EVERY_MS;
    if (this.since === null) {
      const free = freeBytesAt(this.path);
      if (free !== null && free < FULL_BELOW_BYTES) this.enter('watch', `${free} bytes free`);
      return false;
    }
    // Pages freed by acks beyond the spare go back to the filesystem: when the outbox itself filled the disk,
    // that is how the space comes back.
    try {
      this.vacuumBeyondSpare();
    } catch {
      /* no room to write the vacuum: next time */
    }
    const free = freeBytesAt(this.path);
    if (free !== null && free < this.leaveNeed()) return false;
    this.db.pragma(`max_page_count = ${this.normalCap}`);
    let ok = false;
    this.leaving = true; // the probe writes with the cap lifted, like after the state
    try {
      ok = (this.reserveBytes === 0 || takeReserve(this.path, this.reserveBytes)) && probe() && this.takeSpare();
    } catch {
      ok = false;
    } finally {
      this.leaving = false;
    }
    if (!ok) {
      try {
        releaseReserve(this.path);
      } catch {
        /* logged when the state started */
      }
      this.cap();
      return false;
    }
    if (this.reserveBytes === 0 && this.ownsMarker) removeReserve(this.path);
    this.ownsMarker = false;
    const since = this.since;
    this.since = null;
    this.db.pragma(`wal_autocheckpoint = ${this.normalAutocheckpoint}`);
    this.log.warn(
      { path: this.path, full_for_ms: this.clock.now() - since, free_bytes: freeBytesAt(this.path) },
      'outbox: disk space is back, the disk-full state ended; thumbnails are stored again',
    );
    return true;
  }

  /** After prune freed pages while full: the file may shrink, keeping the spare's worth of free pages. */
  vacuumBeyondSpare(): void {
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    const extra = free - this.sparePages;
    if (extra > 16) {
      this.db.pragma(`incremental_vacuum(${extra})`);
      this.checkpoint();
      this.cap();
    }
  }

  private cap(): void {
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    this.db.pragma(`max_page_count = ${Math.min(this.normalCap, pages)}`);
  }

  private checkpoint(): void {
    try {
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      /* still no room: the next write says so */
    }
  }

  /** Writes the spare body row (real bytes: the pages must exist in the file). False when there is no room. */
  private takeSpare(): boolean {
    if (this.spareBytes === 0) return true;
    try {
      const have = this.db.prepare('SELECT length(body) AS n FROM bodies WHERE seq = ?').get(SPARE_SEQ) as
        | { n: number }
        | undefined;
      if (have?.n === this.spareBytes) return true;
      const body = randomBytes(this.spareBytes);
      this.db.prepare('INSERT OR REPLACE INTO bodies (seq, body) VALUES (?, ?)').run(SPARE_SEQ, body);
      this.checkpoint();
      return true;
    } catch {
      return false;
    }
  }

  private dropSpare(): void {
    try {
      this.db.prepare('DELETE FROM bodies WHERE seq = ?').run(SPARE_SEQ);
    } catch {
      /* no room even for that: the checkpoint and the reserve file are what is left */
    }
  }
}
