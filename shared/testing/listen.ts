import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { tcpReachable } from './index.js';

/**
 * Loopback ports for the private servers tests and the demo start (a Mosquitto that a test may stop or kill, never
 * the shared one at :1883): a free port, waiting until something listens on it, and a private Mosquitto started
 * from a config file and waited for.
 */

/** A free TCP port on loopback (bound and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface WaitForListenerOptions {
  /** True once the process that should listen has exited: waiting stops at once. */
  exited?: () => boolean;
  /** Pause between attempts, ms (each attempt itself waits up to 200 ms). */
  intervalMs?: number;
  tries?: number;
}

/** Waits until something accepts connections on 127.0.0.1:`port`. */
export async function waitForListener(
  port: number,
  o: WaitForListenerOptions = {},
): Promise<'listening' | 'exited' | 'timed out'> {
  for (let i = 0; i < (o.tries ?? 100); i++) {
    if (o.exited?.()) return 'exited';
    if (await tcpReachable('127.0.0.1', port, 200)) return 'listening';
    if (o.exited?.()) return 'exited';
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 50));
  }
  return 'timed out';
}

/**
 * `mosquitto -c conf`, resolved once it listens on `port`. Throws when it exits first (its config's log, if any,
 * says why) or does not listen in time (it is killed then).
 */
export async function spawnMosquitto(conf: string, port: number, intervalMs = 50): Promise<ChildProcess> {
  const proc = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  const state = await waitForListener(port, { exited: () => proc.exitCode !== null, intervalMs });
  if (state === 'listening') return proc;
  if (state === 'exited') throw new Error(`mosquitto -c ${conf} exited with ${proc.exitCode} (port ${port})`);
  proc.kill('SIGKILL');
  throw new Error(`private mosquitto (-c ${conf}) did not listen on ${port}`);
}
