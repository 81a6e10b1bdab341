import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdirPrivate, PRIVATE_FILE_MODE } from '../../shared/fs/index.js';
import type { Frame } from '../camera/frame.js';
import type { EventMessage, ThumbnailCandidate } from '../track/messages.js';
import {
  cutThumbnailSource,
  encodeSnapshotPicture,
  encodeThumbnailPicture,
  type BestPicture,
  type EncodedPicture,
  type ThumbnailOptions,
} from './encode.js';

/** The event's pictures as of a message, in memory: what the event sink uploads (the latest, on every message). */
export interface EventPictures {
  thumbnail?: EncodedPicture;
  snapshot?: EncodedPicture;
  /** The event has a best view, but its thumbnail could not be encoded: the message goes without. */
  thumbnailMissing?: boolean;
}

/** A message with its pictures (`message` names files only when the store writes them). */
export interface AttachedMessage {
  message: EventMessage;
  pictures: EventPictures;
}

interface Entry {
  /** The best view's thumbnail region (box + margin), cut out of its frame. */
  crop: BestPicture;
  /** The whole frame with the box, for the snapshot (announced events, until encoded). `copy` orders copies. */
  snapshot: { picture: BestPicture; copy: number } | undefined;
  /** The snapshot already encoded (when too many frames were held), waiting for the next message. */
  snapshotJpeg: EncodedPicture | undefined;
  dirty: boolean;
  /** The latest encoding, kept while the event lives (a JPEG of a few KB). */
  encoded: { thumbnail?: EncodedPicture; snapshot?: EncodedPicture };
  paths: { thumbnail?: string; snapshot?: string };
}

export interface ThumbnailStoreOptions extends ThumbnailOptions {
  /**
   * Most whole frames held for snapshots at once (default 4). Past it the oldest are encoded to JPEG right away
   * (tens of KB instead of a raw frame) and written with the event's next message.
   */
  maxFrames?: number;
}

/**
 * Best pictures of live events, bounded. The tracker says when a frame holds a better view of an object; the store
 * keeps raw yuv, no encoding:
 * - every live track: only the crop that the thumbnail needs (box + margin: a few KB, not the frame). Most tracks
 *   never pass the gate, and this is all they cost.
 * - announced events: also the whole frame for the snapshot, one copy shared by every event whose view is in that
 *   frame, dropped once encoded, and at most `maxFrames` frames at once (older ones are encoded early).
 * JPEGs are encoded when a message for the event goes out and the picture changed since the last encoding, and
 * handed on in memory with every message of the event (`attach`: `{jpeg, width, height}`; the daemon's event sink
 * takes them to the outbox). Files are written only when the store has a folder (`analyze --out`): then as
 * `<dir>/<event id>.jpg` (crop) and `<event id>-snapshot.jpg` (full frame with the box), replaced atomically, and the
 * message names them. A write that fails (full disk) never holds the message back: it still names the file, which
 * then is missing or holds the older picture, and the next message of the event tries again.
 */
export class ThumbnailStore {
  private readonly pictures = new Map<string, Entry>();
  private readonly margin: number;
  private readonly snapshots: boolean;
  private readonly maxFrames: number;
  private copies = 0;
  /** Time spent encoding and writing, ms. */
  encodeMs = 0;
  encoded = 0;
  /** Pictures that could not be written (full disk…): their messages went out without (or with the older) file. */
  writeFailures = 0;
  lastWriteError: string | undefined;

  constructor(
    private readonly dir: string | undefined,
    private readonly opts: ThumbnailStoreOptions = {},
  ) {
    this.margin = opts.margin ?? 0.15;
    this.snapshots = (opts.snapshotMaxSize ?? 640) > 0;
    this.maxFrames = Math.max(1, opts.maxFrames ?? 4);
  }

  /** Keeps what the candidates of one frame ask for (private copies: the caller may reuse the frame's buffer). */
  async keep(frame: Frame, candidates: ThumbnailCandidate | readonly ThumbnailCandidate[]): Promise<void> {
    let whole: { picture: BestPicture; copy: number } | undefined;
    const list = Array.isArray(candidates)
      ? (candidates as readonly ThumbnailCandidate[])
      : [candidates as ThumbnailCandidate];
    for (const c of list) {
      const prev = this.pictures.get(c.id);
      const view: BestPicture = {
        width: frame.width,
        height: frame.height,
        data: frame.data,
        box: [...c.box],
        score: c.score,
      };
      let snapshot: Entry['snapshot'];
      if (this.snapshots && c.announced) {
        whole ??= { picture: { ...view, data: Buffer.from(frame.data) }, copy: ++this.copies };
        snapshot = { picture: { ...whole.picture, box: view.box, score: c.score }, copy: whole.copy };
      }
      if (c.kind === 'snapshot') {
        if (!prev || !snapshot) continue; // no best view yet, or snapshots off
        prev.snapshot = snapshot;
        prev.snapshotJpeg = undefined;
        prev.dirty = true;
        continue;
      }
      this.pictures.set(c.id, {
        crop: cutThumbnailSource(view, this.margin),
        snapshot,
        snapshotJpeg: undefined,
        dirty: true,
        encoded: prev?.encoded ?? {},
        paths: prev?.paths ?? {},
      });
    }
    await this.bound();
  }

  /** Encodes the snapshots of the oldest held frames while more than `maxFrames` are held. */
  private async bound(): Promise<void> {
    for (;;) {
      const held = new Map<number, Entry[]>();
      for (const e of this.pictures.values())
        if (e.snapshot) held.set(e.snapshot.copy, [...(held.get(e.snapshot.copy) ?? []), e]);
      if (held.size <= this.maxFrames) return;
      const oldest = Math.min(...held.keys());
      for (const e of held.get(oldest) ?? []) {
        const t0 = performance.now();
        e.snapshotJpeg = await encodeSnapshotPicture((e.snapshot as NonNullable<Entry['snapshot']>).picture, this.opts);
        e.snapshot = undefined;
        this.encodeMs += performance.now() - t0;
      }
    }
  }

  /**
   * The message with the event's pictures, encoding first if the picture changed (and, with a folder, the files
   * named in the message). Forgets ended events.
   */
  async attach(msg: EventMessage): Promise<AttachedMessage> {
    const entry = this.pictures.get(msg.id);
    if (!entry) return { message: msg, pictures: {} };
    let failed = false;
    if (entry.dirty) {
      const t0 = performance.now();
      try {
        const thumbnail = await encodeThumbnailPicture(entry.crop, this.opts);
        const snapshot =
          entry.snapshotJpeg ??
          (entry.snapshot ? await encodeSnapshotPicture(entry.snapshot.picture, this.opts) : entry.encoded.snapshot);
        entry.encoded = { thumbnail, ...(snapshot ? { snapshot } : {}) };
        // Encoded: the raw frame is no longer needed (a better view brings its own).
        entry.snapshot = undefined;
        entry.snapshotJpeg = undefined;
        entry.dirty = false;
        this.encoded += 1;
      } catch (err) {
        failed = true; // kept dirty: the event's next message tries again
        this.writeFailures += 1;
        this.lastWriteError = (err as Error).message;
      }
      if (this.dir && !failed) await this.write(msg.id, entry);
      this.encodeMs += performance.now() - t0;
    }
    if (msg.type === 'end') this.pictures.delete(msg.id);
    const { thumbnail, snapshot } = entry.encoded;
    const pictures: EventPictures = {
      ...(thumbnail ? { thumbnail } : {}),
      ...(snapshot ? { snapshot } : {}),
      ...(failed && !thumbnail ? { thumbnailMissing: true } : {}),
    };
    return { message: { ...msg, ...entry.paths }, pictures };
  }

  /** Writes the entry's pictures as files (`analyze --out`); a failure is counted, the message still names them. */
  private async write(id: string, entry: Entry): Promise<void> {
    const thumbPath = join(this.dir as string, `${id}.jpg`);
    // The message names the file even when writing it fails: the reader then finds no (or the previous) picture.
    entry.paths.thumbnail = thumbPath;
    try {
      await mkdirPrivate(this.dir as string); // pictures of the scene: folders 0700, files 0600 whatever the umask
      if (entry.encoded.thumbnail) await writeAtomic(thumbPath, entry.encoded.thumbnail.jpeg);
      if (entry.encoded.snapshot) {
        const snapPath = join(this.dir as string, `${id}-snapshot.jpg`);
        await writeAtomic(snapPath, entry.encoded.snapshot.jpeg);
        entry.paths.snapshot = snapPath;
      }
    } catch (err) {
      // Full disk (ENOSPC) or the like: kept dirty, the event's next message writes again.
      entry.dirty = true;
      this.writeFailures += 1;
      this.lastWriteError = (err as Error).message;
    }
  }

  /** Forgets pictures of tracks that ended without ever being announced. */
  retain(liveIds: ReadonlySet<string>): void {
    for (const id of this.pictures.keys()) if (!liveIds.has(id)) this.pictures.delete(id);
  }

  get size(): number {
    return this.pictures.size;
  }

  /** Whole frames held for snapshots right now (≤ maxFrames). */
  get framesHeld(): number {
    return new Set([...this.pictures.values()].flatMap((e) => (e.snapshot ? [e.snapshot.copy] : []))).size;
  }

  /** Bytes of picture data held: crops, whole frames (a shared frame counted once), early-encoded snapshots. */
  get bytes(): number {
    let n = 0;
    const frames = new Set<number>();
    for (const e of this.pictures.values()) {
      n += e.crop.data.length + (e.snapshotJpeg?.jpeg.length ?? 0);
      if (e.snapshot && !frames.has(e.snapshot.copy)) {
        frames.add(e.snapshot.copy);
        n += e.snapshot.picture.data.length;
      }
    }
    return n;
  }
}

async function writeAtomic(path: string, bytes: Buffer): Promise<void> {
  const tmp = `${path}.tmp`;
  try {
    await writeFile(tmp, bytes, { mode: PRIVATE_FILE_MODE });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined); // a partial file only takes room
    throw err;
  }
}
