import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import type { Frame } from '../camera/frame.js';
import { cropBox, cutThumbnailSource, encodeSnapshotPicture, encodeThumbnailPicture } from '../thumbnail/encode.js';
import { ThumbnailStore } from '../thumbnail/store.js';
import { drawBox, yuv420ToRgb } from '../thumbnail/yuv.js';
import type { EventMessage, ThumbnailCandidate } from '../track/messages.js';
import { newEventMessage } from './support/event-message.js';
import { isJpeg } from './support/jpeg.js';

function frame(w: number, h: number): Frame {
  const data = Buffer.alloc((w * h * 3) / 2);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = x < w / 2 ? 40 : 200;
  data.fill(128, w * h);
  return { camera: 'c', seq: 0, width: w, height: h, data, mediaMs: 0, wallMs: 0 };
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('yuv → rgb', () => {
  it('converts luma to grey with limited-range expansion', () => {
    const f = frame(8, 4);
    const rgb = yuv420ToRgb(f.data, 8, 4);
    expect([rgb.width, rgb.height]).toEqual([8, 4]);
    expect([...rgb.data.subarray(0, 3)]).toEqual([28, 28, 28]);
    expect([...rgb.data.subarray(7 * 3, 7 * 3 + 3)]).toEqual([214, 214, 214]);
  });
  it('draws a box outline', () => {
    const img = { width: 10, height: 10, data: Buffer.alloc(300) };
    drawBox(img, [2, 2, 8, 8], [255, 0, 0], 1);
    expect(img.data[(2 * 10 + 2) * 3]).toBe(255);
    expect(img.data[(5 * 10 + 5) * 3]).toBe(0);
  });
});

describe('JPEG encoding', () => {
  const f = frame(640, 360);
  const picture = {
    width: 640,
    height: 360,
    data: f.data,
    box: [100, 50, 300, 350] as [number, number, number, number],
    score: 0.9,
  };
  it('crops around the box with margin, at most maxSize', async () => {
    expect(cropBox(picture, 0.1)).toEqual([80, 20, 320, 360]);
    const jpg = (await encodeThumbnailPicture(picture, { maxSize: 160 })).jpeg;
    expect(isJpeg(jpg)).toBe(true);
    const meta = await sharp(jpg).metadata();
    expect(meta.format).toBe('jpeg');
    expect(Math.max(meta.width ?? 0, meta.height ?? 0)).toBe(160);
  });
  it('a cut of the thumbnail region gives the same JPEG as the whole frame, at a fraction of the bytes', async () => {
    for (const box of [
      [100, 50, 300, 350],
      [3, 7, 41, 99],
      [601, 300, 640, 360],
    ] as [number, number, number, number][]) {
      const whole = { ...picture, box };
      const cut = cutThumbnailSource(whole, 0.15);
      expect(cut.data.length).toBe((cut.width * cut.height * 3) / 2);
      expect(cut.data.length).toBeLessThan(f.data.length / 2);
      expect((await encodeThumbnailPicture(cut)).jpeg.equals((await encodeThumbnailPicture(whole)).jpeg)).toBe(true);
    }
  });
  it('encodes a full-frame snapshot with the box drawn', async () => {
    const jpg = (await encodeSnapshotPicture(picture, { snapshotMaxSize: 320 })).jpeg;
    const meta = await sharp(jpg).metadata();
    expect([meta.width, meta.height]).toEqual([320, 180]);
    const { data, info } = await sharp(jpg).raw().toBuffer({ resolveWithObject: true });
    // The red outline survives JPEG: pixel on the left edge of the box (x=100/2, y=200/2).
    const o = (100 * info.width + 50) * info.channels;
    expect((data[o] as number) - (data[o + 1] as number)).toBeGreaterThan(60);
  });
});

describe('ThumbnailStore', () => {
  it('encodes only when a message goes out and the picture changed; forgets ended events', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigil-thumb-'));
    dirs.push(dir);
    const store = new ThumbnailStore(dir, { maxSize: 100 });
    const f = frame(320, 180);
    await store.keep(f, { id: 'evt_A', box: [10, 10, 100, 100], score: 0.9, kind: 'best', announced: true });
    f.data.fill(16, 0, 320 * 180); // the caller's frame buffer is reused: the store must have its own copy
    expect(store.encoded).toBe(0);
    const base = newEventMessage('evt_A', 'c');
    const withPaths = (await store.attach(base)).message;
    expect(withPaths.thumbnail).toBe(join(dir, 'evt_A.jpg'));
    expect(withPaths.snapshot).toBe(join(dir, 'evt_A-snapshot.jpg'));
    const bytes = await readFile(withPaths.thumbnail as string);
    expect(isJpeg(bytes)).toBe(true);
    const { data } = await sharp(bytes).greyscale().raw().toBuffer({ resolveWithObject: true });
    // taken from the copy (luma 40 → grey 28), not the cleared buffer (0)
    expect(Math.max(...data)).toBeGreaterThan(20);
    await store.attach({ ...base, type: 'update' });
    expect(store.encoded).toBe(1);
    const end = (await store.attach({ ...base, type: 'end' })).message;
    expect(end.thumbnail).toBe(withPaths.thumbnail);
    expect(store.size).toBe(0);
  });
});

describe('ThumbnailStore without a folder (the daemon)', () => {
  it('hands the pictures on in memory with their size, on every message of the event, and writes no file', async () => {
    const store = new ThumbnailStore(undefined, { maxSize: 100 });
    const f = frame(320, 180);
    await store.keep(f, { id: 'evt_A', box: [10, 10, 100, 140], score: 0.9, kind: 'best', announced: true });
    const base = newEventMessage('evt_A', 'c');
    const first = await store.attach(base);
    expect(first.message.thumbnail).toBeUndefined();
    expect(first.message.snapshot).toBeUndefined();
    const thumb = first.pictures.thumbnail;
    expect(thumb && isJpeg(thumb.jpeg)).toBe(true);
    const meta = await sharp(thumb?.jpeg).metadata();
    expect([thumb?.width, thumb?.height]).toEqual([meta.width, meta.height]);
    expect(Math.max(thumb?.width ?? 0, thumb?.height ?? 0)).toBe(100);
    expect(first.pictures.snapshot?.width).toBe(320);
    // Unchanged picture: not encoded again, the same bytes come with the next message (the sink may need them again).
    const next = await store.attach({ ...base, type: 'update' });
    expect(store.encoded).toBe(1);
    expect(next.pictures.thumbnail?.jpeg).toBe(thumb?.jpeg);
    const end = await store.attach({ ...base, type: 'end' });
    expect(end.pictures.thumbnail?.jpeg).toBe(thumb?.jpeg);
    expect(store.size).toBe(0);
  });
});

describe('ThumbnailStore memory', () => {
  const W = 640;
  const H = 360;
  const frameBytes = (W * H * 3) / 2;
  const person = (i: number): [number, number, number, number] => [
    (i * 29) % 600,
    (i * 17) % 250,
    ((i * 29) % 600) + 30,
    ((i * 17) % 250) + 80,
  ];
  const cand = (
    id: string,
    box: [number, number, number, number],
    announced: boolean,
    kind: ThumbnailCandidate['kind'] = 'best',
  ): ThumbnailCandidate => ({ id, box, score: 0.6, kind, announced });
  const msg = (id: string, type: EventMessage['type'] = 'new'): EventMessage => ({
    type,
    id,
    camera: 'c',
    label: 'person',
    score: 0.8,
    top_score: 0.8,
    box: [0, 0, 1, 1],
    started_at: new Date(0).toISOString(),
    ended_at: null,
    stationary: false,
    zones: [],
    current_zones: [],
  });

  it('tracks that have not passed the gate hold only their crops, never a frame', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigil-thumb-'));
    dirs.push(dir);
    const store = new ThumbnailStore(dir);
    for (let seq = 0; seq < 30; seq++)
      await store.keep(
        { ...frame(W, H), seq },
        Array.from({ length: 40 }, (_, i) => cand(`evt_${i}`, person(i + seq), false)),
      );
    expect(store.size).toBe(40);
    expect(store.framesHeld).toBe(0);
    // 40 person crops (30x80 + margin ≈ 40x104 → ~6 KB each) instead of 40 frames (345 KB each).
    expect(store.bytes).toBeLessThan(40 * 8 * 1024);
    expect(store.bytes).toBeLessThan(frameBytes);
  });
  it('announced events share one frame copy per frame, and at most maxFrames frames are held', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigil-thumb-'));
    dirs.push(dir);
    const store = new ThumbnailStore(dir, { maxFrames: 2 });
    // Five events whose best views are in the same frame: one copy.
    await store.keep(
      frame(W, H),
      Array.from({ length: 5 }, (_, i) => cand(`evt_${i}`, person(i), true)),
    );
    expect(store.framesHeld).toBe(1);
    expect(store.bytes).toBeLessThan(frameBytes + 5 * 8 * 1024);
    // Then each gets a better view in a frame of its own: never more than 2 frames held.
    for (let i = 0; i < 5; i++) {
      await store.keep({ ...frame(W, H), seq: i + 1 }, cand(`evt_${i}`, person(i + 7), true));
      expect(store.framesHeld).toBeLessThanOrEqual(2);
      expect(store.bytes).toBeLessThan(2 * frameBytes + 5 * 40 * 1024);
    }
    // Every event still gets its thumbnail and snapshot (early-encoded or from a held frame), then frames are freed.
    for (let i = 0; i < 5; i++) {
      const m = (await store.attach(msg(`evt_${i}`))).message;
      expect(isJpeg(await readFile(m.thumbnail as string))).toBe(true);
      const snap = await readFile(m.snapshot as string);
      expect(isJpeg(snap)).toBe(true);
      expect((await sharp(snap).metadata()).width).toBe(W);
    }
    expect(store.framesHeld).toBe(0);
    expect(store.bytes).toBeLessThan(5 * 8 * 1024);
  });
  it(
    'a snapshot request at the announcement keeps that frame for the snapshot and the older best crop for the ' +
      'thumbnail',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'vigil-thumb-'));
      dirs.push(dir);
      const store = new ThumbnailStore(dir);
      await store.keep(frame(W, H), cand('evt_A', [100, 100, 200, 300], false));
      expect(store.framesHeld).toBe(0);
      const later = frame(W, H);
      later.data.fill(235, 0, W * H); // a different (white) frame at the announcement
      await store.keep(later, cand('evt_A', [120, 100, 220, 300], true, 'snapshot'));
      expect(store.framesHeld).toBe(1);
      const m = (await store.attach(msg('evt_A'))).message;
      const thumb = await sharp(await readFile(m.thumbnail as string))
        .greyscale()
        .raw()
        .toBuffer();
      const snap = await sharp(await readFile(m.snapshot as string))
        .greyscale()
        .raw()
        .toBuffer({ resolveWithObject: true });
      expect(Math.min(...thumb)).toBeLessThan(60); // the crop comes from the first frame (dark left half)
      // the snapshot from the white one
      expect(snap.data[(300 * snap.info.width + 400) * snap.info.channels]).toBeGreaterThan(230);
    },
  );
});
