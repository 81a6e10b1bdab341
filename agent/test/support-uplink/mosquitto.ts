import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tcpReachable } from '../../../shared/testing/index.js';

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

/**
 * A private Mosquitto on its own port, for tests that stop the broker. Never the shared one on 1883.
 * No persistence: a restart loses sessions, the harshest case for clients.
 */
export class MosquittoInstance {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'vigil-mosq-'));

  private constructor(readonly port: number) {}

  static async start(): Promise<MosquittoInstance> {
    const m = new MosquittoInstance(await freePort());
    await m.up();
    return m;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    const conf = join(this.dir, 'mosquitto.conf');
    writeFileSync(
      conf,
      `listener ${this.port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n`,
    );
    const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
    this.child = child;
    for (let i = 0; i < 100; i++) {
      if (await tcpReachable('127.0.0.1', this.port, 200)) return;
      if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode} (port ${this.port})`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`mosquitto did not listen on ${this.port}`);
  }

  async down(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    await exited;
    this.child = undefined;
  }

  async close(): Promise<void> {
    await this.down('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Ends the persistent session a test device left on a shared broker: connect once with the same client id and a
 * clean session, then disconnect.
 */
export async function clearMqttSession(url: string, clientId: string): Promise<void> {
  const { default: mqtt } = await import('mqtt');
  const client = mqtt.connect(url, { clientId, clean: true, reconnectPeriod: 0, connectTimeout: 5_000 });
  await new Promise<void>((resolve) => {
    client.once('connect', () => resolve());
    client.once('error', () => resolve());
    client.once('close', () => resolve());
  });
  await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
}
