import type { PixelBox } from '../camera/frame.js';

/**
 * Connected components (8-neighbourhood) of the small motion mask, as bounding boxes scaled to frame pixels.
 *
 * Run-based labelling: each row is cut into runs of set pixels, a run is joined (union-find) with the runs of the
 * row above that touch it, diagonals included. Work is one pass over the mask plus a little per run, so a busy
 * scene costs about what a quiet one does. Buffers are allocated once per mask size: this runs on every frame.
 */
export class MotionRegions {
  private readonly runY: Int32Array;
  private readonly runX1: Int32Array;
  private readonly runX2: Int32Array;
  private readonly parent: Int32Array;
  private readonly sx: number;
  private readonly sy: number;
  // Per-root accumulators, indexed by run id.
  private readonly bx1: Int32Array;
  private readonly by1: Int32Array;
  private readonly bx2: Int32Array;
  private readonly by2: Int32Array;
  private readonly area: Int32Array;

  constructor(
    private readonly w: number,
    private readonly h: number,
    private readonly frameWidth: number,
    private readonly frameHeight: number,
  ) {
    const maxRuns = Math.ceil(w / 2) * h;
    this.runY = new Int32Array(maxRuns);
    this.runX1 = new Int32Array(maxRuns);
    this.runX2 = new Int32Array(maxRuns);
    this.parent = new Int32Array(maxRuns);
    this.bx1 = new Int32Array(maxRuns);
    this.by1 = new Int32Array(maxRuns);
    this.bx2 = new Int32Array(maxRuns);
    this.by2 = new Int32Array(maxRuns);
    this.area = new Int32Array(maxRuns);
    this.sx = frameWidth / w;
    this.sy = frameHeight / h;
  }

  private find(i: number): number {
    const parent = this.parent;
    let r = i;
    while (parent[r] !== r) r = parent[r]!;
    while (parent[i] !== r) {
      const next = parent[i]!;
      parent[i] = r;
      i = next;
    }
    return r;
  }

  private union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return;
    // The older run becomes the root: roots then come out in scan order (top-left first).
    if (ra < rb) this.parent[rb] = ra;
    else this.parent[ra] = rb;
  }

  /**
   * Boxes of components whose area, in frame pixels (mask pixels × scale²), is at least `minArea`.
   * `mask` holds 0 or non-zero per mask pixel.
   */
  boxes(mask: Uint8Array, minArea: number): PixelBox[] {
    const { w, h, runY, runX1, runX2, parent } = this;
    let runs = 0;
    let prevStart = 0;
    let prevEnd = 0;
    for (let y = 0; y < h; y++) {
      const row = y * w;
      const rowStart = runs;
      let j = prevStart;
      let x = 0;
      while (x < w) {
        if (mask[row + x] === 0) {
          x++;
          continue;
        }
        const x1 = x;
        while (x < w && mask[row + x] !== 0) x++;
        const x2 = x - 1;
        const id = runs++;
        runY[id] = y;
        runX1[id] = x1;
        runX2[id] = x2;
        parent[id] = id;
        // Runs of the row above touching [x1-1, x2+1] (8-neighbourhood).
        while (j < prevEnd && runX2[j]! < x1 - 1) j++;
        for (let k = j; k < prevEnd && runX1[k]! <= x2 + 1; k++) this.union(id, k);
      }
      prevStart = rowStart;
      prevEnd = runs;
    }
    if (runs === 0) return [];
    const { bx1, by1, bx2, by2, area } = this;
    for (let i = 0; i < runs; i++) {
      const r = this.find(i);
      const len = runX2[i]! - runX1[i]! + 1;
      if (r === i) {
        bx1[r] = runX1[i]!;
        bx2[r] = runX2[i]!;
        by1[r] = runY[i]!;
        by2[r] = runY[i]!;
        area[r] = len;
        continue;
      }
      if (runX1[i]! < bx1[r]!) bx1[r] = runX1[i]!;
      if (runX2[i]! > bx2[r]!) bx2[r] = runX2[i]!;
      if (runY[i]! > by2[r]!) by2[r] = runY[i]!;
      area[r] = area[r]! + len;
    }
    const out: PixelBox[] = [];
    const pxArea = this.sx * this.sy;
    for (let i = 0; i < runs; i++) {
      if (parent[i] !== i || area[i]! * pxArea < minArea) continue;
      out.push([
        Math.max(0, Math.floor(bx1[i]! * this.sx)),
        Math.max(0, Math.floor(by1[i]! * this.sy)),
        Math.min(this.frameWidth, Math.ceil((bx2[i]! + 1) * this.sx)),
        Math.min(this.frameHeight, Math.ceil((by2[i]! + 1) * this.sy)),
      ]);
    }
    return out;
  }
}
