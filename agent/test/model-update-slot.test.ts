/**
 * The detector slot the cameras share (agent/detect/detector-slot.ts), with two real YOLOX-nano sessions: a swap
 * takes effect for the next call, calls already started finish on the old session, and the old session is closed
 * only after the last of them (never under a running call).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ObjectDetector } from '../detect/detector.js';
import { DetectorSlot } from '../detect/detector-slot.js';
import { frameFromImage, YOLOX, yoloxVariant } from './support-models/models.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('DetectorSlot', () => {
  it('swaps between calls: in-flight calls end on the old session, which is closed after them', {
    timeout: 60_000,
  }, async () => {
    const dog = await frameFromImage('dog.jpg');
    const dir = mkdtempSync(join(tmpdir(), 'vigil-slot-'));
    dirs.push(dir);
    const variant = join(dir, 'variant.onnx');
    writeFileSync(variant, yoloxVariant('slot'));
    const a = await ObjectDetector.create({ modelPath: YOLOX() });
    const b = await ObjectDetector.create({ modelPath: variant });
    const slot = new DetectorSlot(a, { id: null, name: null });
    expect(slot.model).toMatchObject({ id: null, sha256: a.sha256, path: YOLOX(), format: 'yolox' });

    const order: string[] = [];
    const noted =
      <T>(what: string) =>
      (v: T): T => {
        order.push(what);
        return v;
      };
    // Two calls in flight on the old session (the second queued behind the first), then the swap.
    const p1 = slot.detectFrame(dog).then(noted('call 1'));
    const p2 = slot.detectFrame(dog).then(noted('call 2'));
    const swapped = slot.swap(b, { id: 'mdl_01JTESTTESTTESTTESTTESTTES', name: 'variant' }).then(noted('swap done'));
    // The next call already runs on the new session.
    expect(slot.detector).toBe(b);
    expect(slot.model).toMatchObject({ id: 'mdl_01JTESTTESTTESTTESTTESTTES', name: 'variant', sha256: b.sha256 });
    const p3 = slot.detectFrame(dog);

    const [r1, r2, r3] = await Promise.all([p1, p2, p3]);
    const m = await swapped;
    // Both old calls completed (the old session was not closed under them) before the swap finished.
    expect(order).toEqual(['call 1', 'call 2', 'swap done']);
    for (const r of [r1, r2, r3]) expect(r.detections.some((d) => d.label === 'dog' && d.score > 0.5)).toBe(true);
    expect(a.totals.calls).toBe(2);
    expect(b.totals.calls).toBe(1);
    expect(m.sha256).toBe(b.sha256);
    expect(a.sha256).not.toBe(b.sha256);
    // The old session is closed now; the slot goes on with the new one.
    await expect(a.detectFrame(dog)).rejects.toThrow();
    await slot.detectFrame(dog);
    expect(b.totals.calls).toBe(2);
    await slot.close();
    await expect(slot.detectFrame(dog)).rejects.toThrow();
  });

  it('a swap with nothing in flight closes the old session at once', { timeout: 60_000 }, async () => {
    const dog = await frameFromImage('dog.jpg');
    const a = await ObjectDetector.create({ modelPath: YOLOX() });
    const b = await ObjectDetector.create({ modelPath: YOLOX() });
    const slot = new DetectorSlot(a, { id: null, name: null });
    await slot.swap(b, { id: null, name: null });
    await expect(a.detectFrame(dog)).rejects.toThrow();
    expect((await slot.detectFrame(dog)).detections.length).toBeGreaterThan(0);
    await slot.close();
  });
});
