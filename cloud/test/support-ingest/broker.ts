import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnMosquitto } from '../../../shared/testing/listen.js';

export { freePort };

/**
 * A private Mosquitto on a free loopback port, for tests that stop or kill the broker (the shared one at :1883 is
 * never touched). Persistence goes to a temp dir, so a clean stop keeps sessions like a production broker.
 */
export class PrivateBroker {
  private proc: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<PrivateBroker> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'vigil-mosquitto-'));
    writeFileSync(
      join(dir, 'mosquitto.conf'),
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'set_tcp_nodelay true',
        'persistence true',
        `persistence_location ${dir}/`,
        'log_dest none',
        '',
      ].join('\n'),
    );
    const b = new PrivateBroker(port, dir);
    await b.run();
    return b;
  }

  async run(): Promise<void> {
    this.proc = await spawnMosquitto(join(this.dir, 'mosquitto.conf'), this.port);
  }

  /** SIGKILL (state since the last save is lost) or SIGTERM (clean stop, sessions saved). */
  async stop(signal: 'SIGKILL' | 'SIGTERM' = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
  }

  async close(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
