import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { freePort, spawnMosquitto } from '../../../shared/testing/listen.js';
import { dynsecInstalled, findDynsecPlugin, initDynsec, privateMosquittoConfig } from '../../broker/mosquitto-conf.js';

/**
 * A private Mosquitto running THE SHIPPED broker config (scripts/mosquitto/mosquitto.conf: anonymous off, the
 * dynamic-security plugin) on a free loopback port, with a fresh dynamic-security bootstrap made by
 * `mosquitto_ctrl dynsec init` — exactly as scripts/mosquitto/README.md tells an operator. Only the machine-specific
 * lines are rewritten (cloud/broker/mosquitto-conf.ts): listener port, file locations, plugin path, logging.
 */
export { freePort };
export { SHIPPED_MOSQUITTO_CONF as SHIPPED_CONF } from '../../broker/mosquitto-conf.js';

/** Mosquitto, mosquitto_ctrl and the plugin are installed. */
export function dynsecAvailable(): boolean {
  return dynsecInstalled();
}

export class DynsecBroker {
  private proc: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly admin: { username: string; password: string },
  ) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** `port`, `admin`: chosen before (e.g. for a collector started while the broker is still down). */
  static async start(port?: number, admin?: { username: string; password: string }): Promise<DynsecBroker> {
    const plugin = findDynsecPlugin();
    if (!plugin) throw new Error('mosquitto_dynamic_security.so not found');
    const login = admin ?? { username: 'vigil-admin', password: randomBytes(12).toString('base64url') };
    const b = new DynsecBroker(port ?? (await freePort()), mkdtempSync(join(tmpdir(), 'vigil-dynsec-')), login);
    initDynsec(b.dir, b.admin.username, b.admin.password);
    writeFileSync(join(b.dir, 'mosquitto.conf'), privateMosquittoConfig({ port: b.port, dir: b.dir, plugin }));
    await b.run();
    return b;
  }

  async run(): Promise<void> {
    this.proc = await spawnMosquitto(join(this.dir, 'mosquitto.conf'), this.port);
  }

  /** A client with these options; rejects with the broker's refusal (e.g. "Not authorized"). */
  connect(options: IClientOptions = {}): Promise<MqttClient> {
    return mqtt.connectAsync(this.url, { reconnectPeriod: 0, connectTimeout: 5_000, protocolVersion: 5, ...options });
  }

  /** The bootstrap admin (its role may read every topic): an observer of what the broker actually delivers. */
  observer(): Promise<MqttClient> {
    return this.connect({
      username: this.admin.username,
      password: this.admin.password,
      clientId: `observer-${randomBytes(4).toString('hex')}`,
    });
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
