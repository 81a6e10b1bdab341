import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../shared/paths/index.js';
import { MemoryNonceCache, type DeviceCredentials } from '../../shared/signing/index.js';
import { testJpeg } from '../../shared/testing/index.js';
import type { Command, CommandResult } from '../../firmware-protocol/messages.js';
import { sqliteBackend } from './support/backends.js';
import { startTestCloud, type TestCloud } from './support/cloud.js';
import { commandResult, polledCommands } from './support/commands.js';

/**
 * `vigil-cloud command send` (the CLI's source run with tsx, in a child process) against a running collector, with
 * an HTTPS-only fake box answering its long-poll: a snapshot is written to --out and the command is done; a refused
 * command and one that expires exit non-zero naming command_refused / device_offline; a missing token is a usage
 * error.
 */
const run = promisify(execFile);
const root = projectRoot();
const JPEG = testJpeg(3_000, 7);

let t: TestCloud;
let dir: string;

/** An HTTPS-only box: long-polls and answers each command with `answer` until stopped. */
function fakeBox(creds: DeviceCredentials, answer: (c: Command) => Partial<CommandResult>): () => Promise<void> {
  let stopped = false;
  const nonces = new MemoryNonceCache();
  const loop = (async () => {
    while (!stopped) {
      for (const c of await polledCommands(t.url, creds, 1, nonces)) {
        const result = commandResult(c, answer(c));
        const posted = await t.signedFetch(
          creds,
          'POST',
          `/v1/devices/${creds.deviceId}/results`,
          Buffer.from(JSON.stringify(result)),
        );
        expect(posted.status).toBe(200);
      }
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}

async function cli(args: string[], token: string | null = t.tokens.admin) {
  const env = { ...process.env, VIGIL_CLOUD_URL: t.url, VIGIL_CLOUD_TOKEN: token ?? '' };
  try {
    const r = await run(process.execPath, ['--import', 'tsx', 'cloud/cli/main.ts', 'command', 'send', ...args], {
      cwd: root,
      env,
      timeout: 60_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('vigil-cloud command send', () => {
  beforeAll(async () => {
    t = await startTestCloud(sqliteBackend, { overrides: { commands: { sweep_interval: '100ms' } } });
    dir = mkdtempSync(join(tmpdir(), 'vigil-cmd-cli-'));
  });
  afterAll(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('snapshot: waits for the result and writes the JPEG to --out', async () => {
    const creds = await t.pairDevice('cam-box');
    const stop = fakeBox(creds, (c) =>
      c.kind === 'snapshot'
        ? {
            status: 'done',
            result: {
              camera: c.args.camera,
              width: 64,
              height: 48,
              captured_at: new Date().toISOString(),
              jpeg_b64: JPEG.toString('base64'),
            },
          }
        : { status: 'done', result: { uptime_s: 5 } },
    );
    try {
      const out = join(dir, 'front.jpg');
      const r = await cli(['--device', creds.deviceId, 'snapshot', '--camera', 'front', '--out', out, '--wait', '20']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`${out}: ${JPEG.length} bytes, 64x48`);
      expect(readFileSync(out).equals(JPEG)).toBe(true);
      expect(statSync(out).mode & 0o777).toBe(0o600);
      const status = await cli(['--device', creds.deviceId, 'status', '--json']);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({
        state: 'done',
        result: { result: { uptime_s: 5 } },
        error: null,
      });
    } finally {
      await stop();
    }
  });

  it('a refused command exits non-zero with command_refused and the box reason', async () => {
    const creds = await t.pairDevice('refuser');
    const stop = fakeBox(creds, () => ({ status: 'refused', code: 'command_unknown', message: 'unknown kind' }));
    try {
      const r = await cli(['--device', creds.deviceId, 'frobnicate', '--wait', '20']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('command_refused');
      expect(r.stderr).toContain('command_unknown');
    } finally {
      await stop();
    }
  });

  it('a box that never answers: device_offline after the ttl; unfinished after --wait: command_pending', async () => {
    const creds = await t.pairDevice('silent');
    const expired = await cli(['--device', creds.deviceId, 'status', '--ttl', '1s', '--wait', '10']);
    expect(expired.code).not.toBe(0);
    expect(expired.stderr).toContain('device_offline');
    const pending = await cli(['--device', creds.deviceId, 'status', '--wait', '0.5']);
    expect(pending.code).toBe(3);
    expect(pending.stderr).toMatch(/command_pending.*cmd_/);
  });

  it('usage errors: no token, a snapshot without --camera, an unknown device', async () => {
    const creds = await t.pairDevice('usage');
    const noToken = await cli(['--device', creds.deviceId, 'status'], null);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('VIGIL_CLOUD_TOKEN');
    expect((await cli(['--device', creds.deviceId, 'snapshot'])).code).toBe(2);
    const unknown = await cli(['--device', 'dev_nope', 'status']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('device_unknown');
  });
});
