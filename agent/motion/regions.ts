import type { PixelBox } from '../camera/frame.js';

/**
 * Connected components (8-neighbourhood) of the small motion mask, as bounding boxes scaled to frame pixels.
 * Buffers are allocated once per mask size: this runs on every frame.
 */
export class MotionRegions {
  private readonly labels: Int32Array;
  private readonly stack: Int32Array;
  private readonly sx: number;
  private readonly sy: number;

  constructor(
    private readonly w: number,
    private readonly h: number,
    private readonly frameWidth: number,
    private readonly frameHeight: number,
  ) {
    this.labels = new Int32Array(w * h);
    this.stack = new Int32Array(w * h);
    this.sx = frameWidth / w;
    this.sy = frameHeight / h;
  }

  /**
   * Boxes of components whose area, in frame pixels (mask pixels × scale²), is at least `minArea`.
   * `mask` holds 0 or non-zero per mask pixel.
   */
  boxes(mask: Uint8Array, minArea: number): PixelBox[] {
    const { w, h, labels, stack } = this;
    labels.fill(0);
    const out: PixelBox[] = [];
    const pxArea = this.sx * this.sy;
    let label = 0;
    for (let start = 0; start < w * h; start++) {
      if (mask[start] === 0 || labels[start] !== 0) continue;
      label++;
      let x1 = w;
      let y1 = h;
      let x2 = -1;
      let y2 = -1;
      let count = 0;
      let top = 0;
      stack[top++] = start;
      labels[start] = label;
      while (top > 0) {
        const i = stack[--top]!;
        const x = i % w;
        const y = (i - x) / w;
        count++;
        if (x < x1) x1 = x;
        if (x > x2) x2 = x;
        if (y < y1) y1 = y;
        if (y > y2) y2 = y;
        for (let dy = -1; dy <= 1; dy++) {
          const ny = y + dy;
          if (ny < 0 || ny >= h) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const nx = x + dx;
            if (nx < 0 || nx >= w) continue;
            const j = ny * w + nx;
            if (mask[j] !== 0 && labels[j] === 0) {
              labels[j] = label;
              stack[top++] = j;
            }
          }
        }
      }
      if (count * pxArea < minArea) continue;
      out.push([
        Math.max(0, Math.floor(x1 * this.sx)),
        Math.max(0, Math.floor(y1 * this.sy)),
        Math.min(this.frameWidth, Math.ceil((x2 + 1) * this.sx)),
        Math.min(this.frameHeight, Math.ceil((y2 + 1) * this.sy)),
      ]);
    }
    return out;
  }
}
