import { mkdir, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Frame } from '../camera/frame.js';
import type { EventMessage, ThumbnailCandidate } from '../track/messages.js';
import { encodeSnapshot, encodeThumbnail, type BestPicture, type ThumbnailOptions } from './encode.js';

/**
 * Best pictures of live events. The tracker says when a frame holds a better view of an event; the store copies
 * that frame (raw yuv, no encoding). JPEGs are encoded only when a message for the event goes out and the
 * picture changed since the last encoding, then written as `<dir>/<event id>.jpg` (crop) and
 * `<event id>-snapshot.jpg` (full frame with the box), replaced atomically.
 */
export class ThumbnailStore {
  private readonly pictures = new Map<string, { picture: BestPicture; dirty: boolean; paths: { thumbnail?: string; snapshot?: string } }>();
  /** Time spent encoding and writing, ms. */
  encodeMs = 0;
  encoded = 0;

  constructor(
    private readonly dir: string,
    private readonly opts: ThumbnailOptions = {},
  ) {}

  /** Keeps a private copy of the frame as the event's best picture. */
  keep(frame: Frame, c: ThumbnailCandidate): void {
    const prev = this.pictures.get(c.id);
    this.pictures.set(c.id, {
      picture: { width: frame.width, height: frame.height, data: Buffer.from(frame.data), box: [...c.box], score: c.score },
      dirty: true,
      paths: prev?.paths ?? {},
    });
  }

  /** Adds `thumbnail`/`snapshot` paths to the message, encoding first if the picture changed. Forgets ended events. */
  async attach(msg: EventMessage): Promise<EventMessage> {
    const entry = this.pictures.get(msg.id);
    if (!entry) return msg;
    if (entry.dirty) {
      const t0 = performance.now();
      await mkdir(this.dir, { recursive: true });
      const thumbPath = join(this.dir, `${msg.id}.jpg`);
      await writeAtomic(thumbPath, await encodeThumbnail(entry.picture, this.opts));
      entry.paths.thumbnail = thumbPath;
      if ((this.opts.snapshotMaxSize ?? 640) > 0) {
        const snapPath = join(this.dir, `${msg.id}-snapshot.jpg`);
        await writeAtomic(snapPath, await encodeSnapshot(entry.picture, this.opts));
        entry.paths.snapshot = snapPath;
      }
      entry.dirty = false;
      this.encodeMs += performance.now() - t0;
      this.encoded += 1;
    }
    if (msg.type === 'end') this.pictures.delete(msg.id);
    return { ...msg, ...entry.paths };
  }

  /** Forgets pictures of tracks that ended without ever being announced. */
  retain(liveIds: ReadonlySet<string>): void {
    for (const id of this.pictures.keys()) if (!liveIds.has(id)) this.pictures.delete(id);
  }

  get size(): number {
    return this.pictures.size;
  }
}

async function writeAtomic(path: string, bytes: Buffer): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
}
