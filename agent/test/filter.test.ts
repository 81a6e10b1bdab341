/** The object filter (agent/filter): object masks at the bottom-centre, per-label masks, area and ratio limits. */
import { describe, expect, it } from 'vitest';
import type { Detection } from '../detect/types.js';
import { ObjectFilter, areaInPixels, isEmptyFilter, shapeProblem, type ObjectFilterConfig } from '../filter/index.js';

const W = 200;
const H = 100;
const det = (label: string, box: Detection['box'], score = 0.9): Detection => ({ label, classId: 0, score, box });
/** The top-right quarter of the frame. */
const TOP_RIGHT: [number, number][] = [
  [0.5, 0],
  [1, 0],
  [1, 0.5],
  [0.5, 0.5],
];
const filter = (config: Partial<ObjectFilterConfig>) => new ObjectFilter({ mask: [], labels: {}, ...config }, W, H);

describe('object masks', () => {
  it('drops a detection whose bottom-centre is in a mask, whatever the rest of the box covers', () => {
    const f = filter({ mask: [TOP_RIGHT] });
    // Feet at (150, 40): inside the top-right quarter.
    expect(f.reason(det('car', [130, 10, 170, 40]))).toBe('mask');
    // Mostly inside the mask but feet at (150, 70): below it, kept (a person walking past a masked car).
    expect(f.reason(det('person', [120, 5, 180, 70]))).toBeUndefined();
    // Feet in the other half.
    expect(f.reason(det('car', [10, 10, 50, 40]))).toBeUndefined();
  });

  it("a label's own mask drops that label only", () => {
    const f = filter({ labels: { car: { mask: [TOP_RIGHT] } } });
    expect(f.reason(det('car', [130, 10, 170, 40]))).toBe('mask');
    expect(f.reason(det('person', [130, 10, 170, 40]))).toBeUndefined();
  });

  it('apply() keeps the rest in order and says why each one was dropped', () => {
    const f = filter({ mask: [TOP_RIGHT], labels: { person: { max_area: 0.1 } } });
    const a = det('car', [130, 10, 170, 40]);
    const b = det('person', [0, 0, 100, 100]);
    const c = det('person', [10, 50, 20, 80]);
    const d = det('dog', [20, 60, 40, 80]);
    const r = f.apply([a, b, c, d]);
    expect(r.kept).toEqual([c, d]);
    expect(r.dropped.map((x) => x.reason)).toEqual(['mask', 'max_area']);
  });
});

describe('size and shape limits', () => {
  it('areas ≤ 1 are fractions of the frame, larger ones pixels', () => {
    expect(areaInPixels(0.01, W, H)).toBe(200);
    expect(areaInPixels(1, W, H)).toBe(20000);
    expect(areaInPixels(500, W, H)).toBe(500);
  });

  it('min_area / max_area in fractions and pixels', () => {
    const box: Detection['box'] = [0, 0, 20, 20]; // 400 px = 2% of the frame
    expect(shapeProblem(box, { min_area: 0.03 }, W, H)).toBe('min_area');
    expect(shapeProblem(box, { min_area: 0.01 }, W, H)).toBeUndefined();
    expect(shapeProblem(box, { max_area: 0.01 }, W, H)).toBe('max_area');
    expect(shapeProblem(box, { max_area: 300 }, W, H)).toBe('max_area');
    expect(shapeProblem(box, { min_area: 401 }, W, H)).toBe('min_area');
    expect(shapeProblem(box, { min_area: 400, max_area: 400 }, W, H)).toBeUndefined();
  });

  it('ratio is width/height', () => {
    const standing: Detection['box'] = [0, 0, 10, 30]; // 0.33
    const lying: Detection['box'] = [0, 0, 30, 10]; // 3
    expect(shapeProblem(standing, { min_ratio: 0.5 }, W, H)).toBe('min_ratio');
    expect(shapeProblem(lying, { max_ratio: 2 }, W, H)).toBe('max_ratio');
    expect(shapeProblem(standing, { max_ratio: 2 }, W, H)).toBeUndefined();
    expect(shapeProblem(lying, { min_ratio: 0.5 }, W, H)).toBeUndefined();
  });

  it('limits apply to their label only; a label without filters passes', () => {
    const f = filter({ labels: { person: { max_area: 0.01 } } });
    expect(f.reason(det('person', [0, 0, 50, 50]))).toBe('max_area');
    expect(f.reason(det('car', [0, 0, 50, 50]))).toBeUndefined();
  });

  it('an empty config drops nothing (and says so)', () => {
    expect(isEmptyFilter({ mask: [], labels: {} })).toBe(true);
    expect(isEmptyFilter({ mask: [], labels: { person: { mask: [] } } })).toBe(true);
    expect(isEmptyFilter({ mask: [], labels: { person: { min_ratio: 0.2 } } })).toBe(false);
    expect(isEmptyFilter({ mask: [TOP_RIGHT], labels: {} })).toBe(false);
  });
});
