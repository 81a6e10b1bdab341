import { THUMBNAIL_MAX_BYTES } from '../../firmware-protocol/limits.js';
import type { Frame } from '../camera/frame.js';
import { validateSnapshotArgs, type SnapshotResult } from '../../firmware-protocol/messages.js';
import { encodeFramePicture } from '../thumbnail/index.js';
import { failure } from './results.js';
import type { CommandHandler } from './types.js';

/**
 * Largest snapshot JPEG (~1.5 MiB). It travels base64 inside its result record, and over MQTT base64 once more inside
 * the signed envelope: with 4 KiB left for the record's other fields the record stays within THUMBNAIL_MAX_BYTES, so
 * its envelope stays within MQTT_ENVELOPE_MAX_BYTES, the largest envelope a collector must take.
 */
export const SNAPSHOT_MAX_BYTES = Math.floor(((THUMBNAIL_MAX_BYTES - 4 * 1024) * 3) / 4);
/** JPEG qualities tried in turn until the picture fits SNAPSHOT_MAX_BYTES. */
const QUALITIES = [85, 70, 50, 30];

/** Where snapshots come from: the daemon's camera runners. */
export interface SnapshotSource {
  /** Configured camera names. */
  cameras(): string[];
  /** The camera's current frame (CameraRunner.latestFrame), undefined when it has none now. */
  latestFrame(camera: string): Frame | undefined;
}

/**
 * The `snapshot` handler: a JPEG of the named camera's current frame (the frame the vision stages see, at the
 * camera's detect size), `width` wide when asked (height follows; never enlarged). `camera_unknown` when no such
 * camera is configured, `no_frame` when it has no frame now (starting, reconnecting, ended).
 */
export function snapshotHandler(source: SnapshotSource): CommandHandler {
  return async ({ command }) => {
    const args = validateSnapshotArgs.parse(command.args, 'snapshot args');
    if (!source.cameras().includes(args.camera)) {
      return failure('camera_unknown', `no camera named ${args.camera} is configured on this box`);
    }
    const frame = source.latestFrame(args.camera);
    if (!frame) return failure('no_frame', `camera ${args.camera} has no frame now (starting, stalled or ended)`);
    for (const quality of QUALITIES) {
      const pic = await encodeFramePicture(frame, { width: args.width, quality });
      if (pic.jpeg.length > SNAPSHOT_MAX_BYTES) continue;
      const result: SnapshotResult = {
        camera: args.camera,
        width: pic.width,
        height: pic.height,
        captured_at: new Date(frame.wallMs).toISOString(),
        jpeg_b64: pic.jpeg.toString('base64'),
      };
      return { status: 'done', result };
    }
    return failure('internal_error', `the snapshot does not fit ${SNAPSHOT_MAX_BYTES} bytes even at low quality`);
  };
}
