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

/** An 8×8 grey baseline JPEG (sharp, quality 50): the smallest picture a collector can open. */
const TINY_JPEG = Buffer.from(
  [
    '/9j/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARES',
    'EhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wAARCAAIAAgDASIAAhEB',
    'AxEB/8QAFAABAAAAAAAAAAAAAAAAAAAAAP/EABQQAQAAAAAAAAAAAAAAAAAAAAD/xAAUAQEAAAAAAAAAAAAAAAAAAAAA/8QAFBEBAAAA',
    'AAAAAAAAAAAAAAAAAP/aAAwDAQACEQMRAD8AAA//2Q==',
  ].join(''),
  'base64',
);
/** Smallest size testJpeg() can make. */
export const TEST_JPEG_MIN_BYTES = TINY_JPEG.length + 4;

/**
 * A real, decodable 8×8 JPEG of exactly `size` bytes whose content depends on `seed`: the tiny picture with COM
 * (comment) segments of pseudo-random bytes after its SOI marker. For tests that need many distinct JPEGs of a given
 * size without encoding pictures (the collector opens every thumbnail it stores).
 */
export function testJpeg(size: number, seed = 1): Buffer {
  if (!Number.isInteger(size) || size < TEST_JPEG_MIN_BYTES)
    throw new Error(`testJpeg: size must be an integer ≥ ${TEST_JPEG_MIN_BYTES}`);
  let x = seed >>> 0 || 1;
  const segments: Buffer[] = [];
  let rest = size - TINY_JPEG.length;
  while (rest > 0) {
    // A COM segment is FF FE + a 2-byte length (counting itself) + up to 65,533 bytes; never leave 1-3 bytes over.
    const total = rest > 65_537 ? Math.min(65_537, rest - 4) : rest;
    const seg = Buffer.alloc(total);
    seg[0] = 0xff;
    seg[1] = 0xfe;
    seg.writeUInt16BE(total - 2, 2);
    for (let i = 4; i < total; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      seg[i] = x >>> 24;
    }
    segments.push(seg);
    rest -= total;
  }
  return Buffer.concat([TINY_JPEG.subarray(0, 2), ...segments, TINY_JPEG.subarray(2)], size);
}
