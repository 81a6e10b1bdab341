import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

/**
 * The demo's child processes (collector, agent, one-shot CLI calls). Each runs in its own process group, so a
 * Ctrl-C in the terminal reaches the demo only and the demo stops them in order with ONE SIGTERM each (a second
 * signal would make them skip their clean shutdown). If the demo itself dies, `killAllNow` runs on exit.
 */
export interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<number>;
}

const running = new Set<Child>();

export function startChild(
  name: string,
  command: string,
  args: string[],
  o: { logFile?: string; env?: NodeJS.ProcessEnv; onLine?: (line: string) => void; input?: string } = {},
): Child {
  const proc = spawn(command, args, {
    detached: true,
    stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...(o.env ?? {}) },
  });
  // Given on stdin (e.g. a password for --password-stdin), never on the command line.
  if (o.input !== undefined) proc.stdin?.end(o.input);
  const log = o.logFile ? createWriteStream(o.logFile, { flags: 'a' }) : undefined;
  let pending = '';
  const onData = (chunk: Buffer): void => {
    log?.write(chunk);
    if (!o.onLine) return;
    pending += chunk.toString();
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      o.onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const child: Child = {
    name,
    proc,
    exited: new Promise((resolve) => {
      proc.once('error', () => resolve(127));
      proc.once('close', (code, signal) => {
        running.delete(child);
        log?.end();
        resolve(code ?? (signal ? 128 : 1));
      });
    }),
  };
  running.add(child);
  return child;
}

/** Runs a one-shot command to completion (with `input` on its stdin); rejects with its output when it fails. */
export async function runChild(
  name: string,
  command: string,
  args: string[],
  env?: NodeJS.ProcessEnv,
  input?: string,
): Promise<string> {
  let out = '';
  const child = startChild(name, command, args, {
    ...(env ? { env } : {}),
    ...(input !== undefined ? { input } : {}),
    onLine: (l) => (out += l + '\n'),
  });
  const code = await child.exited;
  if (code !== 0) throw new Error(`${name} failed (exit ${code}):\n${out.trim()}`);
  return out;
}

/** SIGTERM, then SIGKILL to the whole group after `graceMs`. Resolves with the exit code. */
export async function stopChild(child: Child, graceMs = 15_000): Promise<number> {
  if (!running.has(child)) return child.exited;
  const pid = child.proc.pid;
  if (pid !== undefined) signalGroup(pid, 'SIGTERM');
  const timer = setTimeout(() => pid !== undefined && signalGroup(pid, 'SIGKILL'), graceMs);
  const code = await child.exited;
  clearTimeout(timer);
  // Anything the child left in its group (e.g. an ffmpeg) goes too.
  if (pid !== undefined) signalGroup(pid, 'SIGKILL');
  return code;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** Last resort when the demo exits abruptly: no orphans. */
export function killAllNow(): void {
  for (const c of running) if (c.proc.pid !== undefined) signalGroup(c.proc.pid, 'SIGKILL');
}
