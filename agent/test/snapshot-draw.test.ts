import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../shared/paths/index.js';
import { testAsset } from '../../shared/testing/index.js';
import { grabFrame, type Frame } from '../camera/index.js';
import { overlayShapes } from '../cli/snapshot.js';
import { encodeFramePicture, yuv420ToRgb } from '../thumbnail/index.js';
import { drawOverlay, OVERLAY_STYLES, overlaySvg, type OverlayShape } from '../thumbnail/overlay.js';
import { agentCli } from './detect-helpers.js';

/**
 * `snapshot --draw` and the overlay it draws, on a real frame (vtest.avi). The drawn pictures are also written to
 * test-output/snapshot-draw/ (gitignored) for a person to look at.
 */
const vtestPath = testAsset('media', 'vtest.avi');
function vtest(): string {
  if (!vtestPath) throw new Error('test asset media/vtest.avi is missing (see ../shared/README.md)');
  return vtestPath;
}
const OUT = join(projectRoot(), 'test-output', 'snapshot-draw');
const tmp = mkdtempSync(join(tmpdir(), 'vigil-snap-draw-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Raw {
  width: number;
  height: number;
  data: Buffer;
}
async function decode(jpeg: Buffer | string): Promise<Raw> {
  const { data, info } = await sharp(jpeg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}
/** Mean [r, g, b] over the box [x1, y1, x2, y2) given in 0..1 of the frame. */
function mean(img: Raw, [x1, y1, x2, y2]: readonly number[]): [number, number, number] {
  const sum = [0, 0, 0];
  let n = 0;
  for (let y = Math.round(y1! * img.height); y < Math.round(y2! * img.height); y++) {
    for (let x = Math.round(x1! * img.width); x < Math.round(x2! * img.width); x++) {
      for (let c = 0; c < 3; c++) sum[c]! += img.data[(y * img.width + x) * 3 + c]!;
      n++;
    }
  }
  return sum.map((s) => s / n) as [number, number, number];
}
/** Mean absolute difference of two pictures of one size over a box. */
function diff(a: Raw, b: Raw, box: readonly number[]): number {
  const [x1, y1, x2, y2] = box.map((v, i) => Math.round(v * (i % 2 === 0 ? a.width : a.height)));
  let total = 0;
  let n = 0;
  for (let y = y1!; y < y2!; y++) {
    for (let x = x1!; x < x2!; x++) {
      for (let c = 0; c < 3; c++)
        total += Math.abs(a.data[(y * a.width + x) * 3 + c]! - b.data[(y * a.width + x) * 3 + c]!);
      n += 3;
    }
  }
  return total / n;
}
const rgbOf = (hex: string): number[] => [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));

const LOWER_HALF: OverlayShape = {
  kind: 'zone',
  name: 'lower_half',
  points: [
    [0, 0.5],
    [1, 0.5],
    [1, 1],
    [0, 1],
  ],
};

describe('drawOverlay on a vtest.avi frame', () => {
  let frame: Frame;
  let plain: Raw;
  let drawn: Raw;
  beforeAll(async () => {
    frame = await grabFrame({ name: 'vtest', input: vtest(), detect: { width: 768, height: 576, fps: 5 } });
    const plainJpeg = (await encodeFramePicture(frame, { quality: 90 })).jpeg;
    const drawnJpeg = await drawOverlay(yuv420ToRgb(frame.data, frame.width, frame.height), [LOWER_HALF]);
    plain = await decode(plainJpeg);
    drawn = await decode(drawnJpeg);
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, 'vtest-lower-half.jpg'), drawnJpeg);
  });

  it('keeps the picture size', () => {
    expect([drawn.width, drawn.height]).toEqual([768, 576]);
  });

  it("draws the zone's edge in the zone colour where the undrawn frame has none of it", () => {
    // A strip along the zone's top edge (y = 0.5), right of its name tag.
    const edge = [0.5, 0.497, 0.9, 0.503];
    expect(diff(plain, drawn, edge)).toBeGreaterThan(40);
    // The edge is (nearly) the zone colour: far closer to it than the frame was (JPEG blurs a thin line's colour).
    const zone = rgbOf(OVERLAY_STYLES.zone.color);
    const distance = (rgb: number[]): number => Math.hypot(...rgb.map((v, c) => v - zone[c]!));
    // (on vtest: 58 from the zone colour, from 205 before)
    expect(distance(mean(drawn, edge))).toBeLessThan(0.4 * distance(mean(plain, edge)));
  });

  it('tints the inside of the zone and lets the scene show through', () => {
    // Inside the zone, away from the edge, the name tag and the legend.
    const inside = [0.55, 0.65, 0.95, 0.9];
    const before = mean(plain, inside);
    const after = mean(drawn, inside);
    const zone = rgbOf(OVERLAY_STYLES.zone.color);
    const a = OVERLAY_STYLES.zone.fillOpacity;
    // Each channel moves a fraction `a` of the way towards the zone colour (JPEG noise allowed).
    for (let c = 0; c < 3; c++) {
      const expected = before[c]! + a * (zone[c]! - before[c]!);
      expect(Math.abs(after[c]! - expected)).toBeLessThan(8);
    }
    expect(after[1]! - before[1]!).toBeGreaterThan(10);
    // Not painted over: the picture's detail (differences from the patch mean) is mostly still there.
    expect(diff(plain, drawn, inside)).toBeLessThan(0.5 * 255 * a);
  });

  it('leaves the frame outside the zone as it was', () => {
    expect(diff(plain, drawn, [0.3, 0.05, 0.95, 0.45])).toBeLessThan(3);
  });

  it('names the zone on the picture, in a dark tag at its top-left corner', () => {
    const svg = overlaySvg([LOWER_HALF], 768, 576);
    expect(svg).toContain('>lower_half</text>');
    // The tag darkens what is under it: the frame there is brighter before than after.
    const tag = [0.01, 0.51, 0.1, 0.53];
    expect(mean(plain, tag)[1] - mean(drawn, tag)[1]).toBeGreaterThan(20);
  });
});

describe('overlaySvg', () => {
  it('escapes names and draws a legend of the kinds present only', () => {
    const svg = overlaySvg(
      [
        { kind: 'label_mask', name: 'a<b & "c" mask 1', points: LOWER_HALF.points },
        { kind: 'motion_mask', name: 'motion mask 1', points: LOWER_HALF.points },
      ],
      320,
      240,
    );
    expect(svg).toContain('a&lt;b &amp; &quot;c&quot; mask 1');
    expect(svg).toContain(OVERLAY_STYLES.label_mask.legend);
    expect(svg).toContain(OVERLAY_STYLES.motion_mask.legend);
    expect(svg).not.toContain(`>${OVERLAY_STYLES.zone.legend}<`);
    expect(svg).not.toContain(OVERLAY_STYLES.object_mask.legend);
  });
  it('says so when there is nothing to draw', () => {
    expect(overlaySvg([], 320, 240)).toContain('no zones, object masks or motion masks configured');
  });
});

describe('overlayShapes', () => {
  const tri: Array<[number, number]> = [
    [0, 0],
    [1, 0],
    [0, 1],
  ];
  it('names zones by name and numbers masks from 1 in config order, per label for label masks', () => {
    const shapes = overlayShapes({
      masks: [tri, tri],
      zones: { porch: { coordinates: tri }, drive: { coordinates: tri } },
      objects: { mask: [tri] },
      filters: { car: { mask: [tri, tri] }, person: { min_score: 0.6 } },
    });
    expect(shapes.map((s) => [s.kind, s.name])).toEqual([
      ['zone', 'porch'],
      ['zone', 'drive'],
      ['object_mask', 'object mask 1'],
      ['label_mask', 'car mask 1'],
      ['label_mask', 'car mask 2'],
      ['motion_mask', 'motion mask 1'],
      ['motion_mask', 'motion mask 2'],
    ]);
  });
});

describe('vigil-agent snapshot --draw', () => {
  // vtest.avi's native size; the two parked vehicles are at the top right, people walk across the middle.
  const config = join(tmp, 'agent.yaml');
  beforeAll(() => {
    writeFileSync(
      config,
      [
        `data_dir: ${join(tmp, 'data')}`,
        'cameras:',
        '  - name: yard',
        `    input: ${vtest()}`,
        '    detect: { width: 768, height: 576, fps: 5 }',
        '    masks:',
        '      - [[0.85, 0], [1, 0], [1, 0.1], [0.85, 0.1]]',
        '    objects:',
        '      mask:',
        '        - [[0.82, 0.08], [1, 0.08], [1, 0.2], [0.82, 0.2]]',
        '    filters:',
        '      person:',
        '        mask:',
        '          - [[0, 0], [0.3, 0], [0.3, 0.25], [0, 0.25]]',
        '    zones:',
        '      lower_half:',
        '        coordinates: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]',
        '      door:',
        '        coordinates: [[0.6, 0.1], [0.8, 0.1], [0.8, 0.3], [0.6, 0.3]]',
        '  - name: bare',
        `    input: ${vtest()}`,
        '    detect: { width: 384, height: 288, fps: 5 }',
        '',
      ].join('\n'),
    );
  });

  it('writes the frame with the zones and masks drawn, and lists what it drew', async () => {
    const out = join(OUT, 'vtest-yard.jpg');
    const r = agentCli(['snapshot', '--config', config, '--camera', 'yard', '--out', out, '--draw', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { width: number; height: number; drawn: Array<{ kind: string; name: string }> };
    expect([j.width, j.height]).toEqual([768, 576]);
    expect(j.drawn).toEqual([
      { kind: 'zone', name: 'lower_half' },
      { kind: 'zone', name: 'door' },
      { kind: 'object_mask', name: 'object mask 1' },
      { kind: 'label_mask', name: 'person mask 1' },
      { kind: 'motion_mask', name: 'motion mask 1' },
    ]);
    const plainOut = join(tmp, 'plain.jpg');
    expect(agentCli(['snapshot', '--config', config, '--camera', 'yard', '--out', plainOut]).code).toBe(0);
    const [plain, drawn] = await Promise.all([decode(plainOut), decode(out)]);
    // Each kind changed the picture where it is drawn: the zone edge, the object mask, the label mask, the motion mask.
    expect(diff(plain, drawn, [0.5, 0.497, 0.9, 0.503])).toBeGreaterThan(40);
    expect(diff(plain, drawn, [0.9, 0.14, 0.98, 0.18])).toBeGreaterThan(15);
    expect(diff(plain, drawn, [0.1, 0.15, 0.25, 0.22])).toBeGreaterThan(15);
    expect(diff(plain, drawn, [0.9, 0.03, 0.98, 0.07])).toBeGreaterThan(15);
    // … and not elsewhere (the grass between the paths, above the lower half).
    expect(diff(plain, drawn, [0.3, 0.35, 0.5, 0.45])).toBeLessThan(3);
  });

  it('says in words what it drew, and that there was nothing to draw on a bare camera', () => {
    const out = join(tmp, 'yard.jpg');
    const r = agentCli(['snapshot', '--config', config, '--camera', 'yard', '--out', out, '--draw']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[1]).toBe('drawn: 2 zones (lower_half, door), 2 object masks, 1 motion mask');
    const bare = agentCli([
      'snapshot',
      '--config',
      config,
      '--camera',
      'bare',
      '--out',
      join(OUT, 'bare.jpg'),
      '--draw',
    ]);
    expect(bare.code).toBe(0);
    expect(bare.stdout.split('\n')[1]).toBe('drawn: nothing (no zones, object masks or motion masks configured)');
  });
});
