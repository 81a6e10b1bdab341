import type { ChildProcess } from 'node:child_process';
import { tcpReachable } from '../../../shared/testing/index.js';

/** Keeps the last 4000 characters of a collector child's stderr and prints them if it exits other than killed. */
export function reportUnexpectedExit(child: ChildProcess): void {
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGKILL' && signal !== 'SIGTERM')
      process.stderr.write(`collector exited ${code} ${signal}: ${stderr}\n`);
  });
}

/** Resolves once the collector child listens on `port` (30 s at most); throws if it exits first. */
export async function waitListening(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`collector exited with ${child.exitCode} before listening`);
    if (await tcpReachable('127.0.0.1', port, 200)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('collector did not listen within 30 s');
}
