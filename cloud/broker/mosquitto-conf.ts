import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../shared/paths/index.js';

/**
 * The shipped Mosquitto config (scripts/mosquitto/mosquitto.conf) run as a private instance — by the tests and by
 * the demo (`npm start`): the same security settings (anonymous off, dynamic-security plugin), with only the
 * machine-specific lines rewritten: listener port, file locations, plugin path, logging, include_dir.
 */
export const SHIPPED_MOSQUITTO_CONF = join(projectRoot(), 'scripts', 'mosquitto', 'mosquitto.conf');

const DYNSEC_PLUGIN_PATHS = [
  '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/arm-linux-gnueabihf/mosquitto_dynamic_security.so',
  '/usr/lib/mosquitto_dynamic_security.so',
  '/usr/local/lib/mosquitto_dynamic_security.so',
  '/opt/homebrew/lib/mosquitto_dynamic_security.so',
];

export function findDynsecPlugin(): string | undefined {
  return DYNSEC_PLUGIN_PATHS.find((p) => existsSync(p));
}

function runs(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT'; // `mosquitto -h` exits non-zero after its help
  }
}

/** Mosquitto, mosquitto_ctrl and the dynamic-security plugin are installed. */
export function dynsecInstalled(): boolean {
  return findDynsecPlugin() !== undefined && runs('mosquitto', ['-h']) && runs('mosquitto_ctrl', ['--help']);
}

/** The shipped config for a private instance on 127.0.0.1:`port` keeping its files in `dir`. */
export function privateMosquittoConfig(o: { port: number; dir: string; plugin: string }): string {
  let text = readFileSync(SHIPPED_MOSQUITTO_CONF, 'utf8');
  const swap = (re: RegExp, line: string): void => {
    if (!re.test(text)) throw new Error(`${SHIPPED_MOSQUITTO_CONF}: no line matching ${re}`);
    text = text.replace(re, line);
  };
  swap(/^listener 1883 127\.0\.0\.1$/m, `listener ${o.port} 127.0.0.1`);
  swap(/^plugin \S+$/m, `plugin ${o.plugin}`);
  swap(/^plugin_opt_config_file \S+$/m, `plugin_opt_config_file ${join(o.dir, 'dynamic-security.json')}`);
  swap(/^persistence_location \S+$/m, `persistence_location ${o.dir}/`);
  swap(/^log_dest \S+$/m, `log_dest file ${join(o.dir, 'mosquitto.log')}`);
  swap(/^include_dir \S+$/m, '');
  // As root, Mosquitto would switch to the `mosquitto` user, which cannot use a private (0700) temp folder.
  if (process.getuid?.() === 0) text += '\nuser root\n';
  return text;
}

/** `mosquitto_ctrl dynsec init`: the bootstrap file with one admin login (scripts/mosquitto/README.md). */
export function initDynsec(dir: string, username: string, password: string): void {
  execFileSync('mosquitto_ctrl', ['dynsec', 'init', join(dir, 'dynamic-security.json'), username, password], {
    stdio: 'ignore',
  });
}
