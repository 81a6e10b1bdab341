/** Thumbnails: best-picture keeping and JPEG encoding (crop + full-frame snapshot). */
export { ThumbnailStore } from './store.js';
export { encodeThumbnail, encodeSnapshot, cropBox, type BestPicture, type ThumbnailOptions } from './encode.js';
export { yuv420ToRgb, drawBox, type RgbBuffer } from './yuv.js';
