/** Thumbnails: best-picture keeping and JPEG encoding (crop + full-frame snapshot). */
export { ThumbnailStore, type ThumbnailStoreOptions, type EventPictures, type AttachedMessage } from './store.js';
export {
  encodeThumbnailPicture,
  encodeSnapshotPicture,
  encodeFramePicture,
  type EncodedPicture,
  cropBox,
  cutThumbnailSource,
  type BestPicture,
  type ThumbnailOptions,
} from './encode.js';
export { yuv420ToRgb, cutYuv420, drawBox, type RgbBuffer, type YuvCut } from './yuv.js';
