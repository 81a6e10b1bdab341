/** What the detector produces and how a model wants its input. */

/** One detected object in source-image pixels: [x1, y1, x2, y2] (floats, x2/y2 exclusive). */
export interface Detection {
  label: string;
  classId: number;
  score: number;
  box: [number, number, number, number];
}

/** Output layouts the detector can decode. `auto` picks one from the output shapes. */
export type ModelType = 'yolox' | 'yolo' | 'ssd';

/**
 * How pixels become the input tensor. Values are 0..255 before `scale`; `padValue` is in the same 0..255 units.
 * `placement` says where the resized image sits in the input: `top-left` or `center` (letterbox, aspect kept) or
 * `stretch` (resized to the full input, aspect not kept).
 */
export interface InputNormalization {
  channelOrder: 'bgr' | 'rgb';
  scale: number;
  padValue: number;
  placement: 'top-left' | 'center' | 'stretch';
}

/** Per-format defaults: YOLOX as its own `preproc`; YOLO (v5/v8/v9/v11 exports) RGB /255 centred on grey 114. */
export const DEFAULT_NORMALIZATION: Readonly<Record<ModelType, InputNormalization>> = {
  yolox: { channelOrder: 'bgr', scale: 1, padValue: 114, placement: 'top-left' },
  yolo: { channelOrder: 'rgb', scale: 1 / 255, padValue: 114, placement: 'center' },
  // SSD-style exports (TF object-detection API) are usually trained on stretched RGB input.
  ssd: { channelOrder: 'rgb', scale: 1, padValue: 0, placement: 'stretch' },
};

/** Input tensor geometry as read from the session. */
export interface InputGeometry {
  width: number;
  height: number;
  layout: 'nchw' | 'nhwc';
}

/**
 * Where a source region landed in the input tensor: source pixel = (input pixel - offset) / scale + origin.
 * `scaleX`/`scaleY` differ only for `stretch`.
 */
export interface LetterboxTransform {
  originX: number;
  originY: number;
  scaleX: number;
  scaleY: number;
  offsetX: number;
  offsetY: number;
  /** Size of the resized image inside the input. */
  width: number;
  height: number;
}
