import { fork, type ChildProcess } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildReady } from './common.js';

/**
 * The bench's child processes: servers run in children (scripts/bench-ingest.ts with `--role`, see ./roles.ts), the
 * load generator in the parent, so they do not share an event loop.
 */

/** scripts/bench-ingest.ts (or .js once built), the entry that takes `--role`. */
const ENTRY = fileURLToPath(new URL(`../bench-ingest${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

export function startChild(args: string[]): Promise<{ child: ChildProcess; ready: ChildReady }> {
  const child = fork(ENTRY, args, {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (ready) => resolve({ child, ready: ready as ChildReady }));
    child.once('exit', (code) => reject(new Error(`bench child ${args.join(' ')} exited with ${code}`)));
  });
}

export async function ask<T>(child: ChildProcess, msg: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    child.send(msg);
  });
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.send('stop');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
