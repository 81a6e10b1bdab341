import { open, type FileHandle } from 'node:fs/promises';

/**
 * `synchronous=FULL` without blocking the event loop: SQLite runs with NORMAL (COMMIT writes the WAL frames to the
 * OS, no fsync), and the SQLite adapter (./sqlite.ts) resolves a group's callers only after `durable()` — an
 * fdatasync of the WAL file in libuv's thread pool that STARTED after the group's COMMIT returned. The bytes a FULL
 * commit would have synced (the group's frames, with the WAL header when the WAL restarted) are then on disk, so an
 * ack still means "survives a power cut"; while the disk syncs, the event loop parses, verifies and stores the next
 * group. fsync acts on the file, not on the descriptor, so this descriptor syncs what SQLite's own one wrote.
 *
 * Syncs coalesce: groups committed while a sync runs share the next one. A sync that fails rejects its waiters (their
 * data is committed but not known durable: the box retries, and the retry's ack waits for a later sync).
 * The WAL file is SQLite's for as long as its connection is open (it is removed only when the last connection
 * closes), so it is opened on the first sync and closed with the database.
 */
export class WalSync {
  private handle: Promise<FileHandle> | undefined;
  private waiting: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private running: Promise<void> | undefined;

  constructor(private readonly walPath: string) {}

  /** Resolves once everything written to the WAL before this call is on disk. */
  durable(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.running ??= this.loop().finally(() => {
        this.running = undefined;
      });
    });
  }

  private async loop(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting;
      this.waiting = [];
      try {
        this.handle ??= open(this.walPath, 'r+');
        await (await this.handle).datasync();
        for (const w of batch) w.resolve();
      } catch (err) {
        // Reopened on the next sync (a failed open is not cached; a descriptor that failed to sync is dropped).
        const h = this.handle;
        this.handle = undefined;
        void h?.then((fh) => fh.close()).catch(() => undefined);
        for (const w of batch) w.reject(err);
      }
    }
  }

  /** Waits for the syncs asked for, then closes the WAL descriptor. */
  async close(): Promise<void> {
    await this.running;
    const h = this.handle;
    this.handle = undefined;
    if (h) await (await h).close();
  }
}
