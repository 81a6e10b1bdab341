import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnMosquitto } from '../../../shared/testing/listen.js';

export { freePort };

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
      `listener ${this.port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\n` +
        'max_queued_messages 100000\n',
    );
    this.child = await spawnMosquitto(conf, this.port, 100);
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
