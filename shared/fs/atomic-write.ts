import {
  chownSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `text` to `file` atomically (temp file in the same directory, fsync, rename): a reader or a crash never
 * sees half a file. An existing file keeps its mode and, when we are root, its owner.
 */
export function writeFileAtomic(
  path: string,
  text: string | Uint8Array,
  options: { mode?: number; dirMode?: number } = {},
): void {
  // A symlinked config (e.g. into a mounted volume) is written where it points, not replaced by a plain file.
  const file = existsSync(path) ? realpathSync(path) : path;
  const dir = dirname(file);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: options.dirMode ?? 0o755 });
  const previous = existsSync(file) ? statSync(file) : undefined;
  const mode = options.mode ?? (previous ? previous.mode & 0o7777 : 0o644);
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    if (previous && process.getuid?.() === 0) chownSync(tmp, previous.uid, previous.gid);
    renameSync(tmp, file);
  } catch (err) {
    if (existsSync(tmp)) unlinkSync(tmp);
    throw err;
  }
}
