import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { VECTORS_FILE, type SigningVector } from '../vectors/generate.js';

const SCRIPT = fileURLToPath(new URL('../reference/vigil_sign.py', import.meta.url));
const vectors = JSON.parse(readFileSync(VECTORS_FILE, 'utf8')) as SigningVector[];
const tmp = mkdtempSync(join(tmpdir(), 'vigil-vectors-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(file: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('python3', [SCRIPT, file, '--verbose'], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`python3 is required for this test: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('independent Python reference (reference/vigil_sign.py)', () => {
  it('reproduces every expected_signature and every verdict of the vectors', () => {
    const r = run(VECTORS_FILE);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const v of vectors) expect(r.stdout).toContain(`ok   ${v.name} ${v.expected_signature}`);
    expect(r.stdout).toContain(`${vectors.length} vectors, 0 failed`);
  });

  it('exits non-zero when a vector is wrong (a signature, or a verdict)', () => {
    const badSig = vectors.map((v, i) =>
      i === 0 ? { ...v, expected_signature: v.presented_signature.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) } : v,
    );
    writeFileSync(join(tmp, 'bad-sig.json'), JSON.stringify(badSig));
    const r1 = run(join(tmp, 'bad-sig.json'));
    expect(r1.status).toBe(1);
    expect(r1.stdout).toContain(`FAIL ${vectors[0]!.name}`);

    const badVerdict = vectors.map((v) => (v.name === 'tampered-body' ? { ...v, reason: 'signature_mismatch' } : v));
    writeFileSync(join(tmp, 'bad-verdict.json'), JSON.stringify(badVerdict));
    const r2 = run(join(tmp, 'bad-verdict.json'));
    expect(r2.status).toBe(1);
    expect(r2.stdout).toContain('FAIL tampered-body: verifier said body_hash_mismatch');
  });
});
