/**
 * A decoded video frame as it travels camera → motion → detect → track → thumbnail.
 *
 * Frames are planar YUV 4:2:0 (`yuv420p`, ffmpeg's native output for most cameras): the Y plane (width×height
 * bytes) is the greyscale image that motion needs for free, and the U/V planes (each (width/2)×(height/2)) are
 * read only when a region is cut for the detector or a thumbnail. Width and height are even.
 */
export interface Frame {
  /** Camera name from config. */
  camera: string;
  /** Frame counter from the start of the stream (0-based), counting every delivered frame. */
  seq: number;
  width: number;
  height: number;
  /** yuv420p bytes: Y plane, then U, then V. Length = width*height*3/2. */
  data: Buffer;
  /** Media time in ms from the start of the input (file position for files; time since start for live). */
  mediaMs: number;
  /** Wall-clock time (ms since epoch) when the frame was delivered. */
  wallMs: number;
}

/** A box in pixel coordinates of the frame: [x1, y1, x2, y2], x2/y2 exclusive. */
export type PixelBox = [number, number, number, number];

/** The Y (luma) plane of a frame, without copying. */
export function lumaPlane(frame: Frame): Buffer {
  return frame.data.subarray(0, frame.width * frame.height);
}

export function frameByteLength(width: number, height: number): number {
  return (width * height * 3) / 2;
}
