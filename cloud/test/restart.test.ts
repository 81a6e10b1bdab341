import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Pool } from 'undici';
import { POSTGRES_URL } from '../../shared/testing/index.js';
import { projectRoot } from '../../shared/paths/index.js';
import { openStore } from '../store/index.js';
import { loadSecretsKey, SecretBox } from '../pairing/secret-box.js';
import { testBackends, dropSchema } from './support/backends.js';
import { freePort } from './support-ingest/broker.js';
import { reportUnexpectedExit, waitListening } from './support-ingest/collector-process.js';
import { pairThroughStore } from './support-ingest/pair-store.js';
import { signed, wireEvent } from './support-ingest/wire.js';

/**
 * Real processes: a collector is SIGKILLed at a random moment while a box streams signed events at it, then
 * restarted on the same data dir (and database). Every event that was acked before the kill is in the database,
 * and resending the unacked ones afterwards yields accepted or duplicate — never a conflict, never a loss.
 *
 * Runs `node bin/vigil-cloud.js serve` when the build has that command, else a small entry around createCloud.
 */
const root = projectRoot();
const builtServe = existsSync(join(root, 'dist', 'cloud', 'cli', 'serve.js'));
const backends = await testBackends();

const children: ChildProcess[] = [];
const dirs: string[] = [];
const schemas: string[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  for (const s of schemas.splice(0)) await dropSchema(s).catch(() => undefined);
});

function startCollector(dataDir: string, port: number, configFile: string | undefined): ChildProcess {
  const extra = configFile ? ['--config', configFile] : [];
  const args = builtServe
    ? [join(root, 'bin', 'vigil-cloud.js'), 'serve', '--data-dir', dataDir, '--port', String(port), ...extra]
    : [
        '--import',
        'tsx',
        join(root, 'cloud', 'test', 'support-ingest', 'collector-entry.ts'),
        '--data-dir',
        dataDir,
        '--port',
        String(port),
        ...extra,
      ];
  const child = spawn(process.execPath, args, {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, VIGIL_CLOUD__SERVER__HOST: '127.0.0.1', VIGIL_LOG_LEVEL: 'warn' },
  });
  reportUnexpectedExit(child);
  children.push(child);
  return child;
}

/** Resolves when the process has exited (at once if it already has); SIGKILLs it after `ms`. */
function waitExit(child: ChildProcess, ms = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

describe.each(backends)('collector killed with SIGKILL mid-stream ($name)', (backend) => {
  it('keeps every acked event across the restart', { timeout: 180_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-restart-'));
    dirs.push(dataDir);
    let configFile: string | undefined;
    let dbUrl: string | undefined;
    let schema: string | undefined;
    if (backend.name === 'postgres') {
      schema = `vigil_restart_${randomBytes(5).toString('hex')}`;
      schemas.push(schema);
      dbUrl = POSTGRES_URL;
      configFile = join(dataDir, 'cloud.yaml');
      writeFileSync(configFile, `database:\n  url: ${dbUrl}\n  schema: ${schema}\n`);
    }

    // Pair a box straight through the store, with the secrets key the collector will load from the data dir.
    const store = await openStore({ dataDir, url: dbUrl, schema });
    const secrets = new SecretBox(loadSecretsKey(undefined, dataDir));
    const dev = await pairThroughStore(store, secrets);
    await store.close();

    const port = await freePort();
    const url = `/v1/devices/${dev.deviceId}/events`;
    const events = new Map<string, Record<string, unknown>>();
    const acked = new Set<string>();

    for (let round = 0; round < 2; round++) {
      const child = startCollector(dataDir, port, configFile);
      await waitListening(port, child);
      const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 4 });
      // Kill after a random number of acks in this round (5..40): somewhere inside the stream.
      const killAfter = 5 + Math.floor(Math.random() * 36);
      let ackedThisRound = 0;
      let killed = false;
      const deadline = Date.now() + 20_000;
      const worker = async (): Promise<void> => {
        while (!killed) {
          if (Date.now() > deadline) {
            killed = true;
            child.kill('SIGKILL');
          }
          const e = wireEvent(dev.deviceId);
          events.set(e.id as string, e);
          const r = signed(dev, 'POST', url, e);
          try {
            const res = await pool.request({ method: 'POST', path: url, headers: r.headers, body: r.payload });
            const body = (await res.body.json()) as { acks?: { id: string; status: string }[] };
            if (res.statusCode === 200) {
              for (const a of body.acks ?? []) if (a.status === 'accepted' || a.status === 'duplicate') acked.add(a.id);
              if (++ackedThisRound >= killAfter && !killed) {
                killed = true;
                child.kill('SIGKILL');
              }
            }
          } catch {
            // connection reset by the kill: this event is unacked
          }
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      await waitExit(child);
      await pool.destroy();
    }

    // Restart once more; resend everything that was never acked; then check the database.
    const child = startCollector(dataDir, port, configFile);
    await waitListening(port, child);
    const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 2 });
    const resent: Record<string, number> = {};
    for (const [id, e] of events) {
      if (acked.has(id)) continue;
      const r = signed(dev, 'POST', url, e);
      const res = await pool.request({ method: 'POST', path: url, headers: r.headers, body: r.payload });
      const body = (await res.body.json()) as { acks: { status: string }[] };
      expect(res.statusCode).toBe(200);
      const status = body.acks[0]!.status;
      resent[status] = (resent[status] ?? 0) + 1;
    }
    await pool.close();
    child.kill('SIGTERM');
    await waitExit(child);

    const check = await openStore({ dataDir, url: dbUrl, schema });
    try {
      const missing: string[] = [];
      for (const id of acked) if (!(await check.findDeviceEvent(dev.deviceId, id))) missing.push(id);
      expect(acked.size).toBeGreaterThanOrEqual(10);
      expect(missing).toEqual([]);
      // Everything ever sent is now stored exactly once.
      const stored = (await check.listEvents('default', { deviceId: dev.deviceId }, 1000)).events.length;
      expect(stored).toBe(events.size);
      expect(Object.keys(resent).every((s) => s === 'accepted' || s === 'duplicate')).toBe(true);
    } finally {
      await check.close();
    }
  });
});
