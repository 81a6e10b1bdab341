import { createHash } from 'node:crypto';
import { THUMBNAIL_MAX_BYTES } from '../../firmware-protocol/limits.js';
import { validateSnapshotResult, type CommandResult } from '../../firmware-protocol/messages.js';
import { checkBlobKey, type BlobStore } from '../blob/blob-store.js';
import { checkJpeg } from '../ingest/thumbnail.js';
import type { CommandEnd, SnapshotBlob } from './repository.js';
import type { CommandRecord } from './types.js';

/**
 * How a box's CommandResult ends its command: `done` → done; `failed` → failed with the box's code; `refused` →
 * failed with the box's code (command_unknown, command_invalid, command_expired). A done snapshot's JPEG is taken
 * out of the result (`jpeg_b64` → `sha256`, `size`) and kept as a blob `{tenant}/{device}/commands/{id}/snapshot-
 * <sha>.jpg`, like a thumbnail; a done result the collector cannot use (a snapshot without a JPEG) ends the command
 * failed / `invalid_result` rather than leaving it to expire.
 */
export function snapshotKey(c: Pick<CommandRecord, 'tenantId' | 'deviceId' | 'id'>, sha256: string): string {
  return checkBlobKey(`${c.tenantId}/${c.deviceId}/commands/${c.id}/snapshot-${sha256.slice(0, 16)}.jpg`);
}

function invalid(result: CommandResult, why: string): CommandEnd {
  return { state: 'failed', result: withoutJpeg(result), code: 'invalid_result', message: why };
}

function withoutJpeg(result: CommandResult): CommandResult {
  if (!result.result || !('jpeg_b64' in result.result)) return result;
  const { jpeg_b64: _dropped, ...rest } = result.result;
  return { ...result, result: rest };
}

export async function endFromResult(c: CommandRecord, result: CommandResult, blobs: BlobStore): Promise<CommandEnd> {
  if (result.status === 'failed' || result.status === 'refused') {
    return {
      state: 'failed',
      result: withoutJpeg(result),
      code: result.code ?? (result.status === 'refused' ? 'command_refused' : 'internal_error'),
      message: result.message ?? null,
    };
  }
  if (c.kind !== 'snapshot') return { state: 'done', result, code: null, message: null };
  const out = result.result;
  if (!out || !validateSnapshotResult.check(out)) return invalid(result, 'the snapshot result is not a SnapshotResult');
  const jpeg = Buffer.from(out.jpeg_b64, 'base64');
  if (jpeg.length > THUMBNAIL_MAX_BYTES)
    return invalid(result, `the snapshot is ${jpeg.length} bytes; the limit is ${THUMBNAIL_MAX_BYTES}`);
  try {
    // The thumbnail check (cloud/ingest/thumbnail.ts): a decodable JPEG of bounded dimensions.
    await checkJpeg(jpeg);
  } catch (err) {
    return invalid(result, `snapshot: ${(err as Error).message}`);
  }
  const sha256 = createHash('sha256').update(jpeg).digest('hex');
  const key = snapshotKey(c, sha256);
  await blobs.put(key, jpeg, { size: jpeg.length, sha256, contentType: 'image/jpeg' });
  const snapshot: SnapshotBlob = { key, sha256, size: jpeg.length };
  const { jpeg_b64: _jpeg, ...meta } = out;
  return {
    state: 'done',
    result: { ...result, result: { ...meta, sha256, size: jpeg.length } },
    code: null,
    message: null,
    snapshot,
  };
}
