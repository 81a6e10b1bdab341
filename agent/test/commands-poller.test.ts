import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { OffsetClock } from '../../shared/clock/index.js';
import { createLogger } from '../../shared/log/index.js';
import { MemoryNonceCache, parseHttpSignature, sha256Hex, verifySignedMessage } from '../../shared/signing/index.js';
import { CommandPoller } from '../commands/index.js';
import { waitFor } from './support-uplink/harness.js';
import { logLines, testDevice } from './support-commands/commands.js';

/**
 * The HTTPS long-poll (agent/commands/poller.ts): signed GET with the wait in the signed path, envelopes handed to
 * the sink in order, and what it does with a collector that refuses, asks to wait, or knows no commands.
 */

type Answer = { status: number; body: unknown; headers?: Record<string, string> } | 'hold';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function collector(answers: Answer[]) {
  const device = testDevice();
  const nonces = new MemoryNonceCache();
  const seen = { url: '', at: [] as number[], paths: [] as string[], bad: [] as string[], device };
  const server: Server = createServer((req, res) => {
    seen.at.push(Date.now());
    seen.paths.push(req.url ?? '');
    const msg = parseHttpSignature(req.headers, req.method ?? '', req.url ?? '', sha256Hex(''));
    const keys = () => [{ keyId: device.keyId, secret: device.secret }];
    verifySignedMessage(msg, { keys, nonces }).catch((err) => seen.bad.push(String(err)));
    const a = answers.shift() ?? { status: 200, body: { v: 1, commands: [] } };
    if (a === 'hold') return; // never answers: the poller's stop must end it
    res.writeHead(a.status, { 'content-type': 'application/json', ...(a.headers ?? {}) });
    res.end(JSON.stringify(a.body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  seen.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return seen;
}

function poller(c: Awaited<ReturnType<typeof collector>>, sink: (e: Buffer) => void) {
  const log = logLines();
  const p = new CommandPoller({
    baseUrl: c.url,
    identity: c.device,
    clock: new OffsetClock(),
    sink: async (env) => sink(env),
    waitS: 3,
    backoff: { baseMs: 50, maxMs: 100 },
    unsupportedPauseMs: 400,
    minIntervalMs: 50,
    logger: createLogger({ component: 'commands', level: 'debug', destination: log }),
  });
  cleanups.push(() => p.stop());
  return { p, logs: log.lines };
}

const env = (n: number) => ({ v: 1, device: 'd', kid: 'k1', ts: n, nonce: 'n'.repeat(16), sha256: 'a'.repeat(64) });
const envelope = (n: number) => ({ ...env(n), sig: `${'A'.repeat(43)}=`, body_b64: '' });

describe('command long-poll', () => {
  it('signs each poll (the wait in the signed path) and hands the envelopes to the sink in order', async () => {
    const c = await collector([{ status: 200, body: { v: 1, commands: [envelope(1), envelope(2)] } }]);
    const got: number[] = [];
    const { p } = poller(c, (e) => got.push((JSON.parse(e.toString()) as { ts: number }).ts));
    p.start();
    await waitFor('two envelopes and another poll', () => got.length === 2 && c.at.length >= 2, 5_000);
    expect(got).toEqual([1, 2]);
    expect(c.paths[0]).toMatch(/^\/v1\/devices\/[^/]+\/commands\?wait=3$/);
    expect(c.bad).toEqual([]);
    expect(c.at[1]! - c.at[0]!).toBeLessThan(45); // commands came: polls again at once
  });

  it('waits as asked by Retry-After, backs off on a bad answer, pauses long after a 404 (logged once)', async () => {
    const c = await collector([
      { status: 429, body: { error: { code: 'rate_limited' } }, headers: { 'retry-after': '1' } },
      { status: 200, body: { not: 'a poll' } },
      { status: 404, body: { error: { code: 'not_found' } } },
      { status: 404, body: { error: { code: 'not_found' } } },
    ]);
    const { p, logs } = poller(c, () => undefined);
    p.start();
    await waitFor('five polls', () => c.at.length >= 5, 10_000);
    expect(c.at[1]! - c.at[0]!).toBeGreaterThanOrEqual(950);
    expect(c.at[2]! - c.at[1]!).toBeLessThan(500);
    expect(c.at[3]! - c.at[2]!).toBeGreaterThanOrEqual(380);
    expect(c.at[4]! - c.at[3]!).toBeGreaterThanOrEqual(380);
    expect(logs.filter((l) => l.includes('no command endpoint'))).toHaveLength(1);
    expect(p.metrics.failures).toBe(4);
  });

  it('stop ends a poll the collector holds open', async () => {
    const c = await collector(['hold']);
    const { p } = poller(c, () => undefined);
    p.start();
    await waitFor('the poll', () => c.at.length === 1, 5_000);
    const t0 = Date.now();
    await p.stop();
    expect(Date.now() - t0).toBeLessThan(1_000);
  });
});
