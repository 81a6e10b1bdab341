import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { assetPath } from '../paths/index.js';

/**
 * Test support: real assets and real services. In CI (CI=true) a missing asset or service is a failure;
 * elsewhere the test may skip, with a loud notice on stderr.
 */
export const inCI = process.env.CI === 'true' || process.env.CI === '1';

function missing(what: string): void {
  if (inCI) throw new Error(`${what} is missing, and CI must not skip tests that need it`);
  process.stderr.write(`\n!!! SKIPPING: ${what} is missing (outside CI such tests skip; in CI they fail)\n\n`);
}

/** Path of a test asset under ../shared (or VIGIL_ASSETS); `undefined` (and a notice) when absent outside CI. */
export function testAsset(...parts: string[]): string | undefined {
  const p = assetPath(...parts);
  if (existsSync(p)) return p;
  missing(`test asset ${p}`);
  return undefined;
}

export function tcpReachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True when the service answers on host:port; otherwise throws in CI, or warns and returns false. */
export async function serviceAvailable(name: string, host: string, port: number): Promise<boolean> {
  if (await tcpReachable(host, port)) return true;
  missing(`service ${name} at ${host}:${port}`);
  return false;
}

export const POSTGRES_URL = process.env.VIGIL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MOSQUITTO_URL = process.env.VIGIL_TEST_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
