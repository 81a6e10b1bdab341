import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../shared/paths/index.js';
import { inCI } from '../../shared/testing/index.js';

/** The real `vigil-cloud` binary (needs `npm run build`; `npm test` builds first). */
const root = projectRoot();
const bin = join(root, 'bin', 'vigil-cloud.js');
const built = existsSync(join(root, 'dist', 'cloud', 'cli', 'main.js'));

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: 'utf8',
    env: { ...process.env, VIGIL_LOG_LEVEL: 'warn' },
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.runIf(built)('vigil-cloud CLI', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-cli-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates, lists and revokes pairing codes', () => {
    const created = run(['pair-code', 'create', '--name', 'garage', '--ttl', '20m', '--data-dir', dir, '--json']);
    expect(created.status, created.stderr).toBe(0);
    const code = JSON.parse(created.stdout) as {
      code: string;
      id: string;
      name: string;
      state: string;
      expires_at: string;
    };
    expect(code.code).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}$/);
    expect(code).toMatchObject({ name: 'garage', state: 'pending' });
    expect(Date.parse(code.expires_at) - Date.now()).toBeGreaterThan(19 * 60_000);

    const listed = run(['pair-code', 'list', '--data-dir', dir, '--json']);
    expect(listed.status).toBe(0);
    const codes = (JSON.parse(listed.stdout) as { pairing_codes: Array<{ id: string; state: string }> }).pairing_codes;
    expect(codes.map((c) => c.id)).toContain(code.id);
    expect(listed.stdout).not.toContain(code.code);

    expect(run(['pair-code', 'revoke', code.code, '--data-dir', dir]).status).toBe(0);
    const again = run(['pair-code', 'revoke', code.code, '--data-dir', dir]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/^vigil-cloud: error: not_found: /);
  });

  it('creates API tokens, printed once', () => {
    const r = run(['token', 'create', '--name', 'phone', '--role', 'admin', '--data-dir', dir, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const t = JSON.parse(r.stdout) as { token: string; role: string; tenant: string };
    expect(t).toMatchObject({ role: 'admin', tenant: 'default' });
    expect(t.token).toMatch(/^vgt_[A-Za-z0-9_-]{43}$/);
    const list = run(['token', 'list', '--data-dir', dir, '--json']);
    expect(list.stdout).not.toContain(t.token);
    const bad = run(['token', 'create', '--name', 'x', '--role', 'root', '--data-dir', dir]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--role must be one of admin, reader');
  });

  it('serves on port 0, prints its URL, answers with CLI-made credentials, and stops on SIGTERM', async () => {
    const token = (
      JSON.parse(run(['token', 'create', '--name', 'app', '--data-dir', dir, '--json']).stdout) as { token: string }
    ).token;
    const child: ChildProcess = spawn(
      process.execPath,
      [bin, 'serve', '--port', '0', '--host', '127.0.0.1', '--data-dir', dir],
      {
        env: { ...process.env, VIGIL_LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout!.on('data', (b: Buffer) => {
          out += b.toString();
          const m = /vigil-cloud listening on (http:\/\/\S+)/.exec(out);
          // Wait for the JSON log line as well (pino writes asynchronously).
          if (m && out.includes('"msg":"vigil-cloud listening"')) resolve(m[1]!);
        });
        child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      // The JSON log line carries the same URL.
      expect(out).toMatch(new RegExp(`"url":"${url.replace(/[.]/g, '\\.')}"`));
      expect((await fetch(url + '/healthz')).status).toBe(200);
      const events = await fetch(url + '/v1/events', { headers: { authorization: `Bearer ${token}` } });
      expect(events.status).toBe(200);
      expect(events.headers.get('x-request-id')).toBeTruthy();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(out).toContain('vigil-cloud stopped');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

if (!built) {
  if (inCI) throw new Error('dist/ is missing: CI must run `npm run build` before the CLI tests');
  process.stderr.write('\n!!! SKIPPING vigil-cloud CLI tests: run `npm run build` first (npm test does)\n\n');
}
