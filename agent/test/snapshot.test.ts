import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../shared/paths/index.js';
import { encodeFramePicture } from '../thumbnail/index.js';

const BIN = join(projectRoot(), 'bin', 'vigil-agent.js');

function agent(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, VIGIL_AGENT_CONFIG: '', VIGIL_DATA_DIR: '' }, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

let dir: string;
let config: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-snap-'));
  config = join(dir, 'agent.yaml');
  writeFileSync(
    config,
    [
      `data_dir: ${join(dir, 'data')}`,
      'cameras:',
      '  - name: red',
      '    input: lavfi:color=c=0xff0000:size=640x480:rate=5',
      '    detect: { width: 320, height: 240, fps: 5 }',
      '    labels: [person]',
      '  - name: pattern',
      '    input: lavfi:testsrc2=size=640x360:rate=5',
      '  - name: gone',
      `    input: ${join(dir, 'no-such-clip.mp4')}`,
      '',
    ].join('\n'),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('vigil-agent snapshot', () => {
  it("writes a JPEG of one frame at the camera's detect size, in the right colours", async () => {
    const out = join(dir, 'shots', 'red.jpg');
    const r = await agent(['snapshot', '--config', config, '--camera', 'red', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const bytes = readFileSync(out);
    expect(r.stdout.trim()).toBe(`${out}  ${bytes.length} bytes  320x240  camera red`);
    const meta = await sharp(bytes).metadata();
    expect(meta).toMatchObject({ format: 'jpeg', width: 320, height: 240 });
    const { channels } = await sharp(bytes).stats();
    expect(channels[0]!.mean).toBeGreaterThan(230); // red
    expect(channels[1]!.mean).toBeLessThan(25);
    expect(channels[2]!.mean).toBeLessThan(25);
  });

  it('prints JSON with --json', async () => {
    const out = join(dir, 'pattern.jpg');
    const r = await agent(['snapshot', '--config', config, '--camera', 'pattern', '--out', out, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { camera: string; path: string; bytes: number; width: number; height: number };
    expect(j).toEqual({ camera: 'pattern', path: out, bytes: readFileSync(out).length, width: 640, height: 360 });
    // a test pattern, not a flat image: many distinct colours
    const { channels } = await sharp(out).stats();
    expect(channels.every((c) => c.stdev > 30)).toBe(true);
  });

  it('names the configured cameras when the camera is unknown, and writes nothing', async () => {
    const out = join(dir, 'x.jpg');
    const r = await agent(['snapshot', '--config', config, '--camera', 'garage', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'vigil-agent: error: unknown_camera: no camera "garage"; configured cameras: red, pattern, gone\n',
    );
    expect(existsSync(out)).toBe(false);
  });

  it('fails in one line when the camera gives no frame', async () => {
    const out = join(dir, 'gone.jpg');
    const r = await agent(['snapshot', '--config', config, '--camera', 'gone', '--out', out, '--timeout', '5']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^vigil-agent: error: camera_\w+: .*gone/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('encodeFramePicture', () => {
  it('converts yuv420p (BT.601 limited range) to RGB', async () => {
    // Y=81 U=90 V=240 is pure red in BT.601 limited range
    const w = 16;
    const h = 8;
    const data = Buffer.concat([
      Buffer.alloc(w * h, 81),
      Buffer.alloc((w * h) / 4, 90),
      Buffer.alloc((w * h) / 4, 240),
    ]);
    const { data: px } = await sharp((await encodeFramePicture({ width: w, height: h, data }, { quality: 100 })).jpeg)
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect(px[0]).toBeGreaterThan(240);
    expect(px[1]).toBeLessThan(15);
    expect(px[2]).toBeLessThan(15);
  });
});
