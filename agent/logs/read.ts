import { closeSync, existsSync, fstatSync, openSync, readSync, type Stats, statSync } from 'node:fs';

/**
 * Reading the agent's log files: the rotated files oldest first, then the live file, as lines; and following the
 * live file across rotations (a new inode under the same name) and truncation.
 */

/** `file.N … file.1` (those that exist), oldest first, then `file`. */
export function logFilesOldestFirst(file: string, maxScan = 100): string[] {
  const rotated: string[] = [];
  for (let i = 1; i <= maxScan && existsSync(`${file}.${i}`); i++) rotated.push(`${file}.${i}`);
  return [...rotated.reverse(), ...(existsSync(file) ? [file] : [])];
}

/** Splits bytes into lines, keeping an unfinished last line for the next chunk. */
export class LineSplitter {
  private rest = '';
  constructor(private readonly onLine: (line: string) => void) {}

  push(text: string): void {
    const all = this.rest + text;
    const lines = all.split('\n');
    this.rest = lines.pop() ?? '';
    for (const l of lines) this.onLine(l.endsWith('\r') ? l.slice(0, -1) : l);
  }

  /** Emits the unfinished line, if any. */
  end(): void {
    if (this.rest) this.onLine(this.rest);
    this.rest = '';
  }
}

const CHUNK = 64 * 1024;

/** Reads fd from `pos` to its current end; returns the new position. */
function drain(fd: number, pos: number, onText: (text: string) => void): number {
  const buf = Buffer.allocUnsafe(CHUNK);
  for (;;) {
    const n = readSync(fd, buf, 0, CHUNK, pos);
    if (n <= 0) return pos;
    pos += n;
    onText(buf.toString('utf8', 0, n));
  }
}

/** Every line of one file (the last one even without a final newline). */
export function readLines(file: string, onLine: (line: string) => void): void {
  const fd = openSync(file, 'r');
  try {
    const split = new LineSplitter(onLine);
    drain(fd, 0, (t) => split.push(t));
    split.end();
  } finally {
    closeSync(fd);
  }
}

export interface FollowOptions {
  /** How often the file is checked for new lines and rotation (ms). */
  pollMs?: number;
  /** Start at the end of the current file instead of its beginning. */
  fromEnd?: boolean;
}

/**
 * Follows a log file like `tail -F`: new lines as they are written; when the file is renamed away (rotation) the
 * rest of the old file is read, then the new file from its start; a truncated file is read again from the start.
 */
export class FileFollower {
  private fd: number | undefined;
  private ino: number | undefined;
  private pos = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly split: LineSplitter;
  private stopped = false;
  rotations = 0;

  constructor(
    private readonly file: string,
    private readonly onLine: (line: string) => void,
    private readonly o: FollowOptions = {},
  ) {
    this.split = new LineSplitter(onLine);
  }

  /**
   * Rotated files newer than the one with inode `ino`, oldest first. When that file is gone (more rotations than
   * kept files happened between two checks), every rotated file is newer than it.
   */
  private rotatedSince(ino: number | undefined): string[] {
    const rotated: string[] = [];
    for (let i = 1; i <= 100; i++) {
      const name = `${this.file}.${i}`;
      let st: Stats;
      try {
        st = statSync(name);
      } catch {
        break;
      }
      if (st.ino === ino) break;
      rotated.push(name);
    }
    return rotated.reverse();
  }

  /** Reads what is there now (unless fromEnd) and keeps polling. */
  start(): this {
    this.openCurrent(this.o.fromEnd ?? false);
    this.poll();
    return this;
  }

  private openCurrent(atEnd: boolean): void {
    if (!existsSync(this.file)) return;
    try {
      this.fd = openSync(this.file, 'r');
    } catch {
      return;
    }
    const st = fstatSync(this.fd);
    this.ino = st.ino;
    this.pos = atEnd ? st.size : 0;
  }

  /** One check: new bytes, then rotation or truncation. Public so tests can step it without timers. */
  check(): void {
    if (this.fd === undefined) {
      this.openCurrent(false);
      if (this.fd === undefined) return;
    }
    this.pos = drain(this.fd, this.pos, (t) => this.split.push(t));
    let current: ReturnType<typeof statSync> | undefined;
    try {
      current = statSync(this.file);
    } catch {
      current = undefined; // between the rename and the new file: keep the old fd, look again next time
    }
    if (current && current.ino !== this.ino) {
      // Rotated: whatever was appended to the old file before the rename, then any files rotated since ours
      // (file.k-1 … file.1 when ours is now file.k), then the new file from the start.
      this.pos = drain(this.fd, this.pos, (t) => this.split.push(t));
      this.split.end();
      closeSync(this.fd);
      this.fd = undefined;
      this.rotations++;
      for (const f of this.rotatedSince(this.ino)) readLines(f, this.onLine);
      this.openCurrent(false);
      if (this.fd !== undefined) this.pos = drain(this.fd, this.pos, (t) => this.split.push(t));
    } else if (current && current.size < this.pos) {
      this.pos = 0; // truncated in place
      this.pos = drain(this.fd, this.pos, (t) => this.split.push(t));
    }
  }

  private poll(): void {
    if (this.stopped) return;
    this.check();
    this.timer = setTimeout(() => this.poll(), this.o.pollMs ?? 250);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
