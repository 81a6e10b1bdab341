import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitForListener } from '../../shared/testing/listen.js';
import {
  dynsecInstalled,
  findDynsecPlugin,
  initDynsec,
  privateMosquittoConfig,
} from '../../cloud/broker/mosquitto-conf.js';
import { startChild, stopChild, type Child } from './children.js';

/**
 * The demo's broker, when Mosquitto (with mosquitto_ctrl and the dynamic-security plugin) is installed: the
 * shipped config (scripts/mosquitto/) on a free loopback port, bootstrapped like the README says. The collector
 * provisions it, the box pairs with its own broker login and sends over MQTT. Without Mosquitto the demo stays on
 * HTTPS: nothing to set up either way.
 */
export interface DemoBroker {
  url: string;
  admin: { username: string; password: string };
  child: Child;
}

/** The broker, or why the demo goes on over HTTPS (Mosquitto missing, or it did not come up). */
export async function startDemoBroker(dir: string): Promise<{ broker?: DemoBroker; note: string }> {
  const plugin = findDynsecPlugin();
  if (!plugin || !dynsecInstalled())
    return { note: 'no Mosquitto with the dynamic-security plugin here: boxes send over HTTPS' };
  const brokerDir = join(dir, 'broker');
  mkdirSync(brokerDir, { recursive: true, mode: 0o700 });
  const port = await freePort();
  const admin = { username: 'vigil-admin', password: randomBytes(18).toString('base64url') };
  initDynsec(brokerDir, admin.username, admin.password);
  const conf = join(brokerDir, 'mosquitto.conf');
  writeFileSync(conf, privateMosquittoConfig({ port, dir: brokerDir, plugin }), { mode: 0o600 });
  const child = startChild('broker', 'mosquitto', ['-c', conf], { logFile: join(dir, 'broker.out') });
  let exited = false;
  void child.exited.then(() => (exited = true));
  if ((await waitForListener(port, { exited: () => exited })) === 'listening') {
    const url = `mqtt://127.0.0.1:${port}`;
    return {
      broker: { url, admin, child },
      note: `${url} (scripts/mosquitto config: no anonymous clients, a login per box)`,
    };
  }
  await stopChild(child, 2_000);
  return { note: `mosquitto did not start (see ${join(brokerDir, 'mosquitto.log')}): boxes send over HTTPS` };
}
