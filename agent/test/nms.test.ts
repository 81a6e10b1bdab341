import { describe, expect, it } from 'vitest';
import { iou, nmsClasswise } from '../detect/nms.js';
import { planRegions, squareCrop } from '../detect/regions.js';

describe('iou', () => {
  it('is 1 for equal boxes, 0 for disjoint, and the overlap ratio otherwise', () => {
    expect(iou([0, 0, 10, 10], [0, 0, 10, 10])).toBe(1);
    expect(iou([0, 0, 10, 10], [10, 10, 20, 20])).toBe(0);
    expect(iou([0, 0, 10, 10], [5, 0, 15, 10])).toBeCloseTo(50 / 150, 6);
  });
});

describe('nmsClasswise', () => {
  const d = (box: [number, number, number, number], score: number, classId: number) => ({ box, score, classId });
  it('drops overlapping boxes of the same class, keeps other classes and sorts by score', () => {
    const kept = nmsClasswise(
      [d([0, 0, 10, 10], 0.6, 0), d([1, 0, 11, 10], 0.9, 0), d([0, 0, 10, 10], 0.5, 1), d([50, 50, 60, 60], 0.4, 0)],
      0.45,
    );
    expect(kept.map((k) => [k.score, k.classId])).toEqual([
      [0.9, 0],
      [0.5, 1],
      [0.4, 0],
    ]);
  });
  it('keeps boxes whose overlap is at the threshold or below', () => {
    expect(nmsClasswise([d([0, 0, 10, 10], 0.9, 0), d([5, 0, 15, 10], 0.8, 0)], 0.34)).toHaveLength(2);
    expect(nmsClasswise([d([0, 0, 10, 10], 0.9, 0), d([5, 0, 15, 10], 0.8, 0)], 0.33)).toHaveLength(1);
  });
});

describe('region planning', () => {
  it('grows a motion box into a crop of at least the model input, clamped to the frame, on even pixels', () => {
    const c = squareCrop([900, 500, 950, 600], 1920, 1080, 416, 416, 0.1);
    expect(c[2] - c[0]).toBeGreaterThanOrEqual(416);
    expect(c[3] - c[1]).toBeGreaterThanOrEqual(416);
    expect(c[0] % 2).toBe(0);
    expect(c[0]).toBeLessThanOrEqual(900);
    expect(c[2]).toBeGreaterThanOrEqual(950);
    const edge = squareCrop([0, 0, 20, 20], 1920, 1080, 416, 416, 0.1);
    expect(edge).toEqual([0, 0, 416, 416]);
  });
  it('uses one crop for a small moving object on a large frame', () => {
    const plan = planRegions([[900, 500, 950, 600]], 1920, 1080, { inputWidth: 416, inputHeight: 416 });
    expect(plan.mode).toBe('regions');
    expect(plan.regions).toHaveLength(1);
  });
  it('falls back to the whole frame for two distant regions (two runs cost more than one)', () => {
    const plan = planRegions(
      [
        [10, 10, 60, 60],
        [1800, 1000, 1850, 1050],
      ],
      1920,
      1080,
      { inputWidth: 416, inputHeight: 416 },
    );
    expect(plan).toEqual({ mode: 'frame', regions: [[0, 0, 1920, 1080]] });
  });
  it('merges overlapping crops into one', () => {
    const plan = planRegions(
      [
        [900, 500, 950, 600],
        [960, 520, 1000, 610],
      ],
      1920,
      1080,
      { inputWidth: 416, inputHeight: 416 },
    );
    expect(plan.mode).toBe('regions');
    expect(plan.regions).toHaveLength(1);
  });
  it('always picks the whole frame for 480x360 frames and a 416 model (a crop would be 87% of the frame)', () => {
    const plan = planRegions([[10, 10, 40, 60]], 480, 360, { inputWidth: 416, inputHeight: 416 });
    expect(plan.mode).toBe('frame');
  });
  it('plans nothing without motion', () => {
    expect(planRegions([], 640, 360, { inputWidth: 416, inputHeight: 416 }).regions).toEqual([]);
  });
});
