import { Type, type Static } from '@sinclair/typebox';
import { validator } from '../../shared/schema/index.js';
import { THUMBNAIL_MAX_BYTES, THUMBNAIL_MAX_SIDE } from '../limits.js';
import { Sha256, top, wireObject } from './common.js';

/** ThumbnailInfo: the announcement of a thumbnail inside an event (the JPEG itself travels separately). */

export const ThumbnailInfo = wireObject(
  {
    sha256: Sha256('Lowercase hex SHA-256 of the exact JPEG bytes that will be uploaded.'),
    size: Type.Integer({
      minimum: 1,
      maximum: THUMBNAIL_MAX_BYTES,
      description: `Size of the JPEG in bytes (at most ${THUMBNAIL_MAX_BYTES}).`,
    }),
    width: Type.Integer({ minimum: 1, maximum: THUMBNAIL_MAX_SIDE, description: 'Image width in pixels.' }),
    height: Type.Integer({ minimum: 1, maximum: THUMBNAIL_MAX_SIDE, description: 'Image height in pixels.' }),
    content_type: Type.Literal('image/jpeg', { description: 'Media type of the thumbnail; only image/jpeg in v1.' }),
  },
  {
    ...top('thumbnail-info', 'ThumbnailInfo'),
    description:
      "Announces a thumbnail in an event's `thumbnail` field, so the collector knows one will follow and can " +
      'check it. The JPEG itself travels separately: HTTP `PUT ' +
      '/v1/devices/{device_id}/events/{event_id}/thumbnail` or MQTT `vigil/v1/{device_id}/thumbnails/{event_id}`.',
  },
);
export type ThumbnailInfo = Static<typeof ThumbnailInfo>;

export const validateThumbnailInfo = validator(ThumbnailInfo);
