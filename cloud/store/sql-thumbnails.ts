import { VigilError } from '../errors.js';
import type { SqlDatabase } from '../db/sql.js';
import { DEVICE_COLUMNS, type DeviceRow } from './sql-rows.js';
import type { Store, ThumbnailInput, ThumbnailRecord } from './store.js';

/** Thumbnail records (the bytes live in the blob store): one per event, replaceable by a later announcement. */
interface ThumbRow {
  event_id: string;
  tenant_id: string;
  device_id: string;
  blob_key: string;
  sha256: string;
  size: number;
  content_type: string;
  created_at: number;
}

const thumb = (r: ThumbRow): ThumbnailRecord => ({
  tenantId: r.tenant_id,
  deviceId: r.device_id,
  eventId: r.event_id,
  blobKey: r.blob_key,
  sha256: r.sha256,
  size: Number(r.size),
  contentType: r.content_type,
  createdAt: Number(r.created_at),
});

export class SqlThumbnails implements Pick<Store, 'recordThumbnail' | 'findDeviceThumbnail' | 'getThumbnail'> {
  constructor(private readonly db: SqlDatabase) {}

  async recordThumbnail(
    input: ThumbnailInput,
    receivedAt: number,
    options: { replace?: boolean } = {},
  ): Promise<'stored' | 'duplicate' | 'conflict'> {
    return this.db.tx(async (x) => {
      const d = await x.get<DeviceRow>(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = ?`, [input.deviceId]);
      if (!d) throw new VigilError('unknown_device', `unknown device ${input.deviceId}`);
      if (d.revoked_at !== null) throw new VigilError('device_revoked', `device ${input.deviceId} is revoked`);
      const owner = await x.get<{ device_id: string }>('SELECT device_id FROM events WHERE id = ?', [input.eventId]);
      if (owner && owner.device_id !== input.deviceId) return 'conflict';
      const inserted = await x.get<{ event_id: string }>(
        `INSERT INTO thumbnails (event_id, tenant_id, device_id, blob_key, sha256, size, content_type, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (event_id) DO NOTHING RETURNING event_id`,
        [
          input.eventId,
          d.tenant_id,
          input.deviceId,
          input.blobKey,
          input.sha256,
          input.size,
          input.contentType,
          receivedAt,
        ],
      );
      if (!inserted) {
        const existing = await x.get<ThumbRow>(`SELECT * FROM thumbnails WHERE event_id = ?${this.db.forUpdate}`, [
          input.eventId,
        ]);
        if (!existing || existing.device_id !== input.deviceId) return 'conflict';
        if (existing.sha256 === input.sha256) return 'duplicate';
        if (!options.replace) return 'conflict';
        await x.run(
          'UPDATE thumbnails SET blob_key = ?, sha256 = ?, size = ?, content_type = ?, created_at = ?' +
            ' WHERE event_id = ?',
          [input.blobKey, input.sha256, input.size, input.contentType, receivedAt, input.eventId],
        );
      }
      await x.run(
        'UPDATE events SET thumbnail_sha256 = ?, thumbnail_size = ?, updated_at = ? WHERE id = ? AND device_id = ?',
        [input.sha256, input.size, receivedAt, input.eventId, input.deviceId],
      );
      return 'stored';
    });
  }

  async findDeviceThumbnail(deviceId: string, eventId: string): Promise<ThumbnailRecord | undefined> {
    const r = await this.db.get<ThumbRow>('SELECT * FROM thumbnails WHERE device_id = ? AND event_id = ?', [
      deviceId,
      eventId,
    ]);
    return r && thumb(r);
  }

  async getThumbnail(tenantId: string, eventId: string): Promise<ThumbnailRecord | undefined> {
    const r = await this.db.get<ThumbRow>('SELECT * FROM thumbnails WHERE tenant_id = ? AND event_id = ?', [
      tenantId,
      eventId,
    ]);
    return r && thumb(r);
  }
}
