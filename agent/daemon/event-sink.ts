import { readFile, rm } from 'node:fs/promises';
import sharp from 'sharp';
import { describeError } from '../../shared/errors/index.js';
import type { Logger } from '../../shared/log/index.js';
import { WireEventBuilder, type PipelineThumbnail } from '../outbox/index.js';
import type { EventMessage } from '../track/messages.js';
import type { Uplink } from '../uplink/index.js';

/**
 * Where every camera's event messages go: the pipeline's message (thumbnail as a JPEG file) → a protocol Event
 * with its rev and changed-only thumbnail (WireEventBuilder) → the outbox, durably, through `Uplink.enqueue`.
 * The call is awaited by the pipeline, so a slow disk slows the cameras instead of piling up messages in memory.
 * Once an event has ended its JPEG files are deleted: the outbox holds the bytes that still need sending.
 */
export interface EventSinkCounters {
  /** Event messages the outbox accepted (queued or recognised as a duplicate). */
  accepted: number;
  /** Event messages the outbox refused (over budget, disk full, invalid): these are lost, and logged. */
  refused: number;
  thumbnails: number;
}

export class EventSink {
  readonly counters: EventSinkCounters = { accepted: 0, refused: 0, thumbnails: 0 };
  private readonly builder: WireEventBuilder;

  constructor(
    deviceId: string,
    private readonly uplink: Uplink,
    private readonly log: Logger,
    builder?: WireEventBuilder,
  ) {
    this.builder = builder ?? new WireEventBuilder(deviceId);
  }

  /** The pipeline's `onEvent`. Never throws: a refused event is counted and logged, the camera goes on. */
  readonly onEvent = async (msg: EventMessage): Promise<void> => {
    const thumb = msg.thumbnail ? await readThumbnail(msg.thumbnail, this.log) : undefined;
    const { event, thumbnail } = this.builder.build(msg, thumb);
    try {
      const r = this.uplink.enqueue(event, thumbnail);
      this.counters.accepted++;
      if (thumbnail && r.thumbnail === 'queued') this.counters.thumbnails++;
      this.log.debug({ event: event.id, type: event.type, rev: event.rev, camera: event.camera, label: event.label, thumbnail: r.thumbnail }, 'event queued');
    } catch (err) {
      this.counters.refused++;
      this.log.error({ event: event.id, type: event.type, rev: event.rev, err: describeError(err) }, 'outbox refused an event');
    }
    if (msg.type === 'end') {
      for (const f of [msg.thumbnail, msg.snapshot]) if (f) await rm(f, { force: true }).catch(() => undefined);
    }
  };
}

async function readThumbnail(file: string, log: Logger): Promise<PipelineThumbnail | undefined> {
  try {
    const jpeg = await readFile(file);
    const meta = await sharp(jpeg).metadata();
    if (!meta.width || !meta.height) return undefined;
    return { jpeg, width: meta.width, height: meta.height };
  } catch (err) {
    // The event still goes out, without a picture.
    log.warn({ file, err: describeError(err) }, 'cannot read thumbnail');
    return undefined;
  }
}
