/**
 * Test helpers for the vision stages: synthetic frames built in memory, and motion timelines over a camera input
 * (e.g. the generated lavfi scene from agent/camera/synthetic.ts) to compare with ground truth.
 */
import { CameraStream } from '../../camera/stream.js';
import type { CameraConfigInput } from '../../camera/config.js';
import type { Frame, PixelBox } from '../../camera/frame.js';
import { MotionDetector, type MotionOptions } from '../../motion/detector.js';

export {
  syntheticSceneInput,
  syntheticSceneGraph,
  syntheticSceneTruth,
  writeSyntheticClip,
} from '../../camera/synthetic.js';

/** A deterministic pseudo-random generator (mulberry32), so "noise" is the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface DrawSpec {
  /** Background luma. */
  background: number;
  /** Uniform noise amplitude: each pixel gets background ± noise. */
  noise?: number;
  random?: () => number;
  /** Filled rectangles [x1, y1, x2, y2] (x2/y2 exclusive) with their luma. */
  boxes?: Array<{ box: PixelBox; luma: number }>;
}

/** A yuv420p frame drawn in memory (grey chroma). */
export function makeFrame(width: number, height: number, spec: DrawSpec, seq = 0, fps = 10, camera = 'test'): Frame {
  const data = Buffer.alloc((width * height * 3) / 2, 128);
  const rnd = spec.random ?? Math.random;
  const noise = spec.noise ?? 0;
  for (let i = 0; i < width * height; i++) {
    const v = noise > 0 ? spec.background + (rnd() * 2 - 1) * noise : spec.background;
    data[i] = Math.max(0, Math.min(255, Math.round(v)));
  }
  for (const { box, luma } of spec.boxes ?? []) {
    const [x1, y1, x2, y2] = box;
    for (let y = Math.max(0, y1); y < Math.min(height, y2); y++)
      data.fill(luma, y * width + Math.max(0, x1), y * width + Math.min(width, x2));
  }
  return { camera, seq, width, height, data, mediaMs: (seq * 1000) / fps, wallMs: Date.now() };
}

export interface MotionSample {
  seq: number;
  mediaMs: number;
  boxes: PixelBox[];
  changedFraction: number;
  calibrating: boolean;
}

/** Runs a camera input through a MotionDetector, frame by frame (lossless), and returns what it saw. */
export async function motionTimeline(
  camera: CameraConfigInput,
  motion: Partial<MotionOptions> = {},
): Promise<MotionSample[]> {
  const cam = new CameraStream(camera).start();
  const md = await MotionDetector.create({ ...motion, width: cam.width, height: cam.height });
  const out: MotionSample[] = [];
  try {
    for await (const f of cam) {
      const r = await md.detect(f);
      out.push({
        seq: f.seq,
        mediaMs: f.mediaMs,
        boxes: r.boxes,
        changedFraction: r.changedFraction,
        calibrating: r.calibrating,
      });
    }
    if (cam.error) throw cam.error;
  } finally {
    await cam.stop();
    await md.close();
  }
  return out;
}

/** Spans [startMs, endMs] of consecutive frames with motion; endMs is the media time of the first still frame after. */
export function motionSpans(samples: MotionSample[]): Array<{ startMs: number; endMs: number }> {
  const spans: Array<{ startMs: number; endMs: number }> = [];
  let open: number | undefined;
  for (const s of samples) {
    const moving = s.boxes.length > 0;
    if (moving && open === undefined) open = s.mediaMs;
    if (!moving && open !== undefined) {
      spans.push({ startMs: open, endMs: s.mediaMs });
      open = undefined;
    }
  }
  const last = samples[samples.length - 1];
  if (open !== undefined && last) spans.push({ startMs: open, endMs: last.mediaMs });
  return spans;
}

/** True when `outer` contains `inner` (both [x1, y1, x2, y2]). */
export function boxCovers(outer: PixelBox, inner: PixelBox): boolean {
  return outer[0] <= inner[0] && outer[1] <= inner[1] && outer[2] >= inner[2] && outer[3] >= inner[3];
}
