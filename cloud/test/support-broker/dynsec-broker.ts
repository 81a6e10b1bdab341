import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { projectRoot } from '../../../shared/paths/index.js';
import { tcpReachable } from '../../../shared/testing/index.js';

/**
 * A private Mosquitto running THE SHIPPED broker config (scripts/mosquitto/mosquitto.conf: anonymous off, the
 * dynamic-security plugin) on a free loopback port, with a fresh dynamic-security bootstrap made by
 * `mosquitto_ctrl dynsec init` — exactly as scripts/mosquitto/README.md tells an operator. Only the machine-specific
 * lines are rewritten for the test: listener port, file locations, plugin path, logging, include_dir.
 */
export const SHIPPED_CONF = join(projectRoot(), 'scripts', 'mosquitto', 'mosquitto.conf');
const PLUGIN_PATHS = [
  '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/mosquitto_dynamic_security.so',
  '/usr/local/lib/mosquitto_dynamic_security.so',
];

function runs(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT'; // `mosquitto -h` exits non-zero after its help
  }
}

export function dynsecPlugin(): string | undefined {
  return PLUGIN_PATHS.find((p) => existsSync(p));
}

/** Mosquitto, mosquitto_ctrl and the plugin are installed. */
export function dynsecAvailable(): boolean {
  return runs('mosquitto', ['-h']) && runs('mosquitto_ctrl', ['--help']) && dynsecPlugin() !== undefined;
}

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

/** The shipped config with the test's port and paths. Throws if a line it relies on is missing. */
export function testConfig(port: number, dir: string, plugin: string): string {
  let text = readFileSync(SHIPPED_CONF, 'utf8');
  const swap = (re: RegExp, line: string): void => {
    if (!re.test(text)) throw new Error(`${SHIPPED_CONF}: no line matching ${re}`);
    text = text.replace(re, line);
  };
  swap(/^listener 1883 127\.0\.0\.1$/m, `listener ${port} 127.0.0.1`);
  swap(/^plugin \S+$/m, `plugin ${plugin}`);
  swap(/^plugin_opt_config_file \S+$/m, `plugin_opt_config_file ${join(dir, 'dynamic-security.json')}`);
  swap(/^persistence_location \S+$/m, `persistence_location ${dir}/`);
  swap(/^log_dest \S+$/m, `log_dest file ${join(dir, 'mosquitto.log')}`);
  swap(/^include_dir \S+$/m, '');
  // As root, Mosquitto would switch to the `mosquitto` user, which cannot use the test's private temp dir.
  if (process.getuid?.() === 0) text += '\nuser root\n';
  return text;
}

export class DynsecBroker {
  private proc: ChildProcess | undefined;
  readonly admin = { username: 'vigil-admin', password: randomBytes(12).toString('base64url') };

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<DynsecBroker> {
    const plugin = dynsecPlugin();
    if (!plugin) throw new Error('mosquitto_dynamic_security.so not found');
    const b = new DynsecBroker(await freePort(), mkdtempSync(join(tmpdir(), 'vigil-dynsec-')));
    execFileSync('mosquitto_ctrl', ['dynsec', 'init', join(b.dir, 'dynamic-security.json'), b.admin.username, b.admin.password], { stdio: 'ignore' });
    writeFileSync(join(b.dir, 'mosquitto.conf'), testConfig(b.port, b.dir, plugin));
    await b.run();
    return b;
  }

  async run(): Promise<void> {
    const proc = spawn('mosquitto', ['-c', join(this.dir, 'mosquitto.conf')], { stdio: 'ignore' });
    this.proc = proc;
    for (let i = 0; i < 100; i++) {
      if (await tcpReachable('127.0.0.1', this.port, 200)) return;
      if (proc.exitCode !== null) throw new Error(`mosquitto exited with ${proc.exitCode}; see ${join(this.dir, 'mosquitto.log')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`private mosquitto did not listen on ${this.port}`);
  }

  /** A client with these options; rejects with the broker's refusal (e.g. "Not authorized"). */
  connect(options: IClientOptions = {}): Promise<MqttClient> {
    return mqtt.connectAsync(this.url, { reconnectPeriod: 0, connectTimeout: 5_000, protocolVersion: 5, ...options });
  }

  /** The bootstrap admin (its role may read every topic): an observer of what the broker actually delivers. */
  observer(): Promise<MqttClient> {
    return this.connect({ username: this.admin.username, password: this.admin.password, clientId: `observer-${randomBytes(4).toString('hex')}` });
  }

  async close(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (p && p.exitCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
