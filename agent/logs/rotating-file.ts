import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * A size-rotated log file for pino: `file` is written until the next line would take it past `maxBytes`, then
 * `file.N-1 → file.N … file → file.1` and a fresh `file` (so `file.1` is always the newest rotated file and at
 * most `maxFiles` rotated files are kept).
 *
 * Written here instead of taking pino-roll or rotating-file-stream: about sixty lines, no new dependency, writes
 * are synchronous (a line is on disk, in the page cache, before the daemon goes on, so a crash loses nothing
 * already logged), and the rename scheme is the one `vigil-agent logs -f` follows across rotations (by inode).
 */
export interface RotatingFileOptions {
  file: string;
  maxBytes: number;
  /** Rotated files kept besides the live one. */
  maxFiles: number;
  /** Mode of new files (default 0640: the log is not for every user on the box). */
  mode?: number;
}

export class RotatingFileStream {
  private fd: number;
  private size: number;
  /** Lines that could not be written (disk full, file removed under us…). */
  dropped = 0;
  rotations = 0;
  private warned = false;
  private closed = false;

  constructor(private readonly o: RotatingFileOptions) {
    if (!(o.maxBytes > 0)) throw new RangeError(`maxBytes must be > 0, got ${o.maxBytes}`);
    if (!Number.isInteger(o.maxFiles) || o.maxFiles < 1)
      throw new RangeError(`maxFiles must be an integer ≥ 1, got ${o.maxFiles}`);
    // Like its files (0640): the service's group may read the log, others not. Secrets never reach a log line
    // (pino redaction, camera URLs redacted); under systemd the folder is LogsDirectory= and exists already.
    mkdirSync(dirname(o.file), { recursive: true, mode: 0o750 });
    this.fd = this.open();
    this.size = fstatSync(this.fd).size;
  }

  get path(): string {
    return this.o.file;
  }

  private open(): number {
    return openSync(this.o.file, 'a', this.o.mode ?? 0o640);
  }

  /** pino calls this with one serialized line (ending in \n). Never throws: logging must not kill the daemon. */
  write(chunk: string | Uint8Array): boolean {
    if (this.closed) return false;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    try {
      if (this.size > 0 && this.size + bytes.length > this.o.maxBytes) this.rotate();
      let off = 0;
      while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
      this.size += bytes.length;
      return true;
    } catch (err) {
      this.dropped++;
      if (!this.warned) {
        this.warned = true;
        process.stderr.write(
          `vigil-agent: cannot write the log file ${this.o.file}: ${(err as Error).message} (further failures are ` +
            `counted, not reported)\n`,
        );
      }
      return false;
    }
  }

  /** Shifts the rotated files and starts a new live file. */
  rotate(): void {
    closeSync(this.fd);
    const name = (i: number): string => `${this.o.file}.${i}`;
    for (let i = this.o.maxFiles - 1; i >= 1; i--) if (existsSync(name(i))) renameSync(name(i), name(i + 1));
    if (existsSync(this.o.file)) renameSync(this.o.file, name(1));
    this.fd = this.open();
    this.size = 0;
    this.rotations++;
  }

  /** Closes and opens the file again (after an outside tool moved it). */
  reopen(): void {
    if (this.closed) return;
    closeSync(this.fd);
    this.fd = this.open();
    this.size = fstatSync(this.fd).size;
  }

  /** Writes are synchronous: nothing is buffered. Present for pino's flush. */
  flushSync(): void {}

  end(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}
