import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testAsset } from '../../shared/testing/index.js';
import { agentCli, expectOneLineError, weirdModelBytes } from './detect-helpers.js';

const model = testAsset('models', 'yolox_nano.onnx');
const dog = testAsset('media', 'dog.jpg');
const grass = testAsset('media', 'grass.png');
const tmp = mkdtempSync(join(tmpdir(), 'vigil-cli-detect-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!model || !dog || !grass)('vigil-agent detect', () => {
  it('--json prints normalized boxes for dog.jpg', () => {
    const r = agentCli(['detect', dog as string, '--model', model as string, '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { detections: { label: string; score: number; box: number[] }[] };
    const labels = out.detections.map((d) => d.label);
    expect(labels).toEqual(expect.arrayContaining(['dog', 'bicycle', 'car']));
    const d = out.detections.find((x) => x.label === 'dog');
    expect(d?.box[0]).toBeCloseTo(133 / 768, 1);
    expect(d?.box[3]).toBeCloseTo(542 / 576, 1);
    for (const x of out.detections) for (const v of x.box) expect(v >= 0 && v <= 1).toBe(true);
  });
  it('--threshold filters, and the table names each object', () => {
    const r = agentCli(['detect', dog as string, '--model', model as string, '--threshold', '0.5']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^dog\s+0\.\d{3}\s+\d+\s+\d+\s+\d+\s+\d+$/m);
    expect(r.stdout).not.toMatch(/^truck/m);
  });
  it('grass.png: no detections', () => {
    const r = agentCli(['detect', grass as string, '--model', model as string, '--json']);
    expect(JSON.parse(r.stdout)).toEqual({ detections: [] });
  });
});

describe('vigil-agent detect errors', () => {
  it.skipIf(!model)('corrupt image → image_invalid', () => {
    const p = join(tmp, 'corrupt.jpg');
    writeFileSync(p, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 1, 2, 3, 4]));
    expectOneLineError(agentCli(['detect', p, '--model', model as string]), 'image_invalid');
  });
  it('missing model → model_not_found', () => {
    expectOneLineError(agentCli(['detect', dog ?? 'x.jpg', '--model', join(tmp, 'nope.onnx')]), 'model_not_found');
  });
  it('model of unknown format → model_format_unknown', () => {
    const p = join(tmp, 'weird.onnx');
    writeFileSync(p, weirdModelBytes());
    const r = agentCli(['detect', dog ?? 'x.jpg', '--model', p]);
    expectOneLineError(r, 'model_format_unknown');
    expect(r.stderr).toContain('weird [1, 3, 32, 32]');
  });
  it('bad --threshold → invalid_argument', () => {
    expectOneLineError(agentCli(['detect', 'x.jpg', '--threshold', '2']), 'invalid_argument');
  });
});
