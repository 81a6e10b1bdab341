import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints off the event loop. SQLite checkpoints inside the COMMIT that makes the WAL reach
 * `wal_autocheckpoint` pages: copying those pages into the database file and syncing it, on the thread every request
 * runs on. A busy collector starts this worker thread, whose own connection runs a PASSIVE checkpoint (it never waits
 * for or blocks the writer) every `intervalMs`; the writer's connection keeps a larger automatic checkpoint as a
 * bound on the WAL, which then finds almost every frame already copied (the WAL restarts from its start once a
 * checkpoint copied it all). A checkpoint never decides durability: commits are durable in the WAL
 * (./wal-sync.ts); a checkpoint interrupted anywhere is redone from the WAL.
 */
export interface CheckpointerOptions {
  path: string;
  /** Between two checkpoints, ms. Default 100. */
  intervalMs?: number;
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 0');
const tick = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // busy or closing: the next tick (or the writer's own automatic checkpoint) does it
  }
};
const timer = setInterval(tick, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export class Checkpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(options: CheckpointerOptions) {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER, {
      eval: true,
      workerData: { module, path: options.path, intervalMs: options.intervalMs ?? 100 },
    });
    this.worker.unref();
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', () => resolve());
      // A worker that cannot run leaves checkpoints to SQLite's automatic one: nothing else depends on it.
      this.worker.once('error', () => resolve());
    });
  }

  /** Stops checkpointing and closes the worker's connection (before the writer's, which checkpoints last). */
  async close(): Promise<void> {
    this.worker.postMessage('close');
    const timer = setTimeout(() => void this.worker.terminate(), 2000);
    await this.exited;
    clearTimeout(timer);
  }
}
