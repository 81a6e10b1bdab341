import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { projectRoot } from '../../shared/paths/index.js';
import { encodeModel, OnnxType } from '../motion/onnx-proto.js';

/** Helpers for the detector, pipeline and CLI tests. */

/** A tiny valid ONNX model whose one output has a shape no detector layout has. */
export function weirdModelBytes(): Uint8Array {
  return encodeModel({
    graphName: 'weird',
    nodes: [{ op: 'Identity', inputs: ['images'], outputs: ['weird'] }],
    initializers: [],
    inputs: [{ name: 'images', type: OnnxType.FLOAT, dims: [1, 3, 32, 32] }],
    outputs: [{ name: 'weird', type: OnnxType.FLOAT, dims: [1, 3, 32, 32] }],
    opset: 13,
    irVersion: 8,
    producer: 'vigil-test',
    producerVersion: '1',
  });
}

// Runs the built CLI (`npm run build` first; `npm test` does it).
const root = projectRoot();
export function agentCli(args: string[], timeoutMs = 120_000): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'vigil-agent.js'), ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, VIGIL_DEBUG: '' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exactly one stderr line `vigil-agent: error: <code>: …`, non-zero exit. */
export function expectOneLineError(r: { code: number | null; stderr: string }, code: string): void {
  expect(r.code).not.toBe(0);
  expect(r.code).not.toBeNull();
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^vigil-agent: error: ${code}: \\S`));
  expect(r.stderr).not.toMatch(/\n\s+at /);
}
