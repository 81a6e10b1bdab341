/**
 * Real processes for the daemon tests: the collector (`vigil-cloud serve`), its CLI (pair codes, tokens), and
 * `vigil-agent pair|run|status|outbox`, all through the built bin/ scripts (run `npm run build` first).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../shared/paths/index.js';

const ROOT = projectRoot();
export const AGENT_BIN = join(ROOT, 'bin', 'vigil-agent.js');
export const CLOUD_BIN = join(ROOT, 'bin', 'vigil-cloud.js');

/** The daemon tests spawn the built CLI: fail clearly when dist/ lacks it. */
export function requireBuild(): void {
  if (!existsSync(join(ROOT, 'dist', 'agent', 'cli', 'run.js')))
    throw new Error('dist/agent/cli/run.js is missing: run `npm run build` before these tests');
}

const cleanEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  VIGIL_AGENT_CONFIG: '',
  VIGIL_DATA_DIR: '',
  VIGIL_CLOUD_CONFIG: '',
  NO_COLOR: '1',
  CI: process.env.CI ?? '',
});

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function runBin(bin: string, args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: cleanEnv(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        resolve({
          code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0,
          stdout,
          stderr,
        });
      },
    );
  });
}

export const agentCli = (args: string[], timeoutMs?: number): Promise<Run> => runBin(AGENT_BIN, args, timeoutMs);
export const cloudCli = (args: string[], timeoutMs?: number): Promise<Run> => runBin(CLOUD_BIN, args, timeoutMs);

function json<T>(r: Run, what: string): T {
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A long-running child with its output collected. */
export interface Proc {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** Kills (SIGKILL) every child a test started that is still running: a failed test leaves nothing behind. */
export function killLeftovers(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

export function startProc(bin: string, args: string[]): Proc {
  const child = spawn(process.execPath, [bin, ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exited };
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 60_000,
  everyMs = 250,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** With a time limit: a stuck child fails the test instead of hanging it. */
export async function exitOf(p: Proc, timeoutMs: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
  const code = await Promise.race([p.exited, limit]);
  clearTimeout(timer);
  if (code === 'timeout') {
    p.child.kill('SIGKILL');
    throw new Error(
      `process did not exit within ${timeoutMs} ms; stderr: ${p.err().slice(-2000)}; stdout ` +
        `tail: ${p.out().slice(-3000)}`,
    );
  }
  return code;
}

export interface CollectorProc {
  url: string;
  dataDir: string;
  proc: Proc;
  token: string;
  pairCode(): Promise<string>;
  /** Every event the collector holds (all pages). */
  events(): Promise<
    Array<{
      id: string;
      camera: string;
      label: string;
      rev: number;
      status: string;
      thumbnail?: { url: string; sha256: string } | null;
    }>
  >;
  get(path: string): Promise<Response>;
  /** A new API token of this role. */
  newToken(role: 'admin' | 'reader'): Promise<string>;
  stop(): Promise<void>;
}

/** `vigil-cloud serve` on a free port; `serveArgs` adds flags (e.g. `--config FILE`). */
export async function startCollector(dataDir: string, serveArgs: string[] = []): Promise<CollectorProc> {
  const proc = startProc(CLOUD_BIN, [
    'serve',
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--data-dir',
    dataDir,
    ...serveArgs,
  ]);
  const url = await waitFor(
    'the collector to listen',
    () => /listening on (http:\/\/[\d.]+:\d+)/.exec(proc.out() + proc.err())?.[1],
    30_000,
    100,
  );
  const token = json<{ token: string }>(
    await cloudCli(['token', 'create', '--json', '-n', 'daemon tests', '--data-dir', dataDir]),
    'token create',
  ).token;
  const get = (path: string): Promise<Response> => fetch(url + path, { headers: { authorization: `Bearer ${token}` } });
  return {
    url,
    dataDir,
    proc,
    token,
    get,
    newToken: async (role) =>
      json<{ token: string }>(
        await cloudCli(['token', 'create', '--json', '-n', `e2e ${role}`, '--role', role, '--data-dir', dataDir]),
        'token create',
      ).token,
    pairCode: async () =>
      json<{ code: string }>(
        await cloudCli(['pair-code', 'create', '--json', '--data-dir', dataDir]),
        'pair-code create',
      ).code,
    events: async () => {
      const all: Awaited<ReturnType<CollectorProc['events']>> = [];
      let cursor: string | null = null;
      do {
        const res = await get(`/v1/events?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        if (res.status !== 200) throw new Error(`GET /v1/events: ${res.status} ${await res.text()}`);
        const page = (await res.json()) as {
          events: Awaited<ReturnType<CollectorProc['events']>>;
          next_cursor: string | null;
        };
        all.push(...page.events);
        cursor = page.next_cursor;
      } while (cursor);
      return all;
    },
    stop: async () => {
      proc.child.kill('SIGTERM');
      await exitOf(proc, 20_000).catch(() => undefined);
    },
  };
}

/** A box: data dir + config file, paired with the collector through `vigil-agent pair`. */
export async function pairBox(
  collector: CollectorProc,
  dir: string,
  yamlBody: string,
): Promise<{ dataDir: string; config: string; deviceId: string }> {
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'agent.yaml');
  writeFileSync(config, `data_dir: ${dir}\n${yamlBody}`);
  const r = await agentCli([
    'pair',
    '--cloud',
    collector.url,
    '--code',
    await collector.pairCode(),
    '--data-dir',
    dir,
    '--config',
    config,
    '--json',
  ]);
  const out = json<{ device_id: string }>(r, 'vigil-agent pair');
  return { dataDir: dir, config, deviceId: out.device_id };
}

export interface OutboxListItem {
  kind: 'event' | 'thumbnail';
  eventId: string;
  rev: number;
  state: string;
}

export async function outboxItems(dataDir: string): Promise<OutboxListItem[]> {
  const r = await agentCli(['outbox', 'list', '--json', '--state', 'all', '--limit', '100000', '--data-dir', dataDir]);
  return json<{ items: OutboxListItem[] }>(r, 'outbox list').items;
}

export function startAgent(config: string, extra: string[] = []): Proc {
  return startProc(AGENT_BIN, ['run', '--config', config, ...extra]);
}

export async function agentStatus<T = Record<string, unknown>>(config: string): Promise<T> {
  return json<T>(await agentCli(['status', '--json', '--config', config], 15_000), 'vigil-agent status');
}
