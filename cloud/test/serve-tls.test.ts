import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../shared/paths/index.js';
import { inCI } from '../../shared/testing/index.js';
import { issueCert, makeCa, type CertFiles } from '../../shared/testing/tls.js';
import { silentLogger } from '../../shared/log/index.js';
import { cloudConfig } from '../config.js';
import { createCloud } from '../server/app.js';

/**
 * Issue 11, item 3: `vigil-cloud serve` terminates TLS itself when `server.tls.cert_file`/`key_file` are set, and
 * SIGHUP swaps in a renewed certificate for new connections without closing the listener.
 */
const root = projectRoot();
const bin = join(root, 'bin', 'vigil-cloud.js');
const built = existsSync(join(root, 'dist', 'cloud', 'cli', 'main.js'));

interface Answer {
  status: number;
  body: string;
  fingerprint: string;
  reused: boolean;
}

/** GET over HTTPS trusting only `ca`; reports the certificate the server presented. */
function get(url: string, ca: Buffer | undefined, agent: Agent | false = false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...(ca ? { ca } : {}), agent }, (res) => {
      const socket = res.socket as import('node:tls').TLSSocket;
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      const reused = socket.isSessionReused() || (req as unknown as { reusedSocket: boolean }).reusedSocket;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, fingerprint, reused }));
    });
    req.on('error', reject);
    req.end();
  });
}

const fingerprintOf = (file: string): string => new X509Certificate(readFileSync(file)).fingerprint256;

describe.runIf(built)('vigil-cloud serve with server.tls', () => {
  let dir: string;
  let ca: CertFiles;
  let first: CertFiles;
  let second: CertFiles;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-serve-tls-'));
    ca = makeCa(dir, 'private-ca');
    first = issueCert(ca, dir, 'collector-1', { sans: ['IP:127.0.0.1', 'DNS:localhost'] });
    second = issueCert(ca, dir, 'collector-2', { sans: ['IP:127.0.0.1', 'DNS:localhost'] });
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTPS with the configured certificate and reloads a replaced one on SIGHUP, listener kept', async () => {
    const live = { cert: join(dir, 'live.crt'), key: join(dir, 'live.key') };
    copyFileSync(first.certFile, live.cert);
    copyFileSync(first.keyFile, live.key);
    const config = join(dir, 'cloud.yaml');
    writeFileSync(config, `server:\n  tls:\n    cert_file: ${live.cert}\n    key_file: ${live.key}\n`);
    const caPem = readFileSync(ca.certFile);

    const child: ChildProcess = spawn(
      process.execPath,
      [bin, 'serve', '--config', config, '--port', '0', '--host', '127.0.0.1', '--data-dir', join(dir, 'data')],
      {
        env: { ...process.env, VIGIL_LOG_LEVEL: 'info', NODE_EXTRA_CA_CERTS: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    const waitFor = async (pattern: RegExp, from = 0): Promise<RegExpExecArray> => {
      for (let i = 0; i < 400; i++) {
        const m = pattern.exec(out.slice(from));
        if (m) return m;
        if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}: ${out}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`timed out waiting for ${pattern}: ${out}`);
    };
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1, ca: caPem });
    try {
      const url = (await waitFor(/vigil-cloud listening on (https:\/\/127\.0\.0\.1:\d+)/))[1]!;
      const one = await get(url + '/healthz', caPem);
      expect(one.status).toBe(200);
      expect(one.fingerprint).toBe(fingerprintOf(first.certFile));
      // A keep-alive connection opened before the reload.
      const held = await get(url + '/healthz', caPem, keepAlive);
      expect(held.fingerprint).toBe(fingerprintOf(first.certFile));

      // Renewal as certbot does it: new files renamed into place, then SIGHUP.
      copyFileSync(second.certFile, live.cert + '.new');
      copyFileSync(second.keyFile, live.key + '.new');
      renameSync(live.cert + '.new', live.cert);
      renameSync(live.key + '.new', live.key);
      let mark = out.length;
      child.kill('SIGHUP');
      await waitFor(/"msg":"TLS certificate reloaded"/, mark);

      const two = await get(url + '/healthz', caPem);
      expect(two.status).toBe(200);
      expect(two.fingerprint).toBe(fingerprintOf(second.certFile));
      // The listener and the connection opened before the reload are still up: same process, same socket.
      const again = await get(url + '/healthz', caPem, keepAlive);
      expect(again).toMatchObject({ status: 200, reused: true, fingerprint: fingerprintOf(first.certFile) });
      expect(child.exitCode).toBeNull();

      // A broken renewal (key of another certificate) keeps the certificate in use and says why.
      copyFileSync(first.keyFile, live.key);
      mark = out.length;
      child.kill('SIGHUP');
      await waitFor(/"msg":"TLS certificate reload failed: keeping the certificate in use"/, mark);
      const three = await get(url + '/healthz', caPem);
      expect(three.fingerprint).toBe(fingerprintOf(second.certFile));

      // Plain HTTP is not served on the TLS port; a client without the private CA refuses the certificate.
      await expect(fetch(url.replace('https:', 'http:') + '/healthz')).rejects.toThrow();
      await expect(get(url + '/healthz', undefined)).rejects.toThrow(/self-signed|unable to verify|certificate/i);

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      keepAlive.destroy();
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses to start with half a TLS config or a key that does not fit the certificate', async () => {
    const base = { data_dir: join(dir, 'bad'), server: { host: '127.0.0.1', port: 0 }, log: { level: 'silent' } };
    await expect(
      createCloud(cloudConfig({ ...base, server: { ...base.server, tls: { cert_file: first.certFile } } }), {
        logger: silentLogger(),
      }),
    ).rejects.toThrow(/server\.tls needs both cert_file and key_file/);
    await expect(
      createCloud(
        cloudConfig({
          ...base,
          server: { ...base.server, tls: { cert_file: first.certFile, key_file: second.keyFile } },
        }),
        { logger: silentLogger() },
      ),
    ).rejects.toThrow(/server\.tls\.key_file: .* does not fit/);
    await expect(
      createCloud(
        cloudConfig({
          ...base,
          server: { ...base.server, tls: { cert_file: join(dir, 'missing.crt'), key_file: first.keyFile } },
        }),
        { logger: silentLogger() },
      ),
    ).rejects.toThrow(/server\.tls\.cert_file: cannot read/);
  });
});

if (!built) {
  if (inCI) throw new Error('dist/ is missing: CI must run `npm run build` before the CLI tests');
  process.stderr.write('\n!!! SKIPPING vigil-cloud serve TLS tests: run `npm run build` first (npm test does)\n\n');
}
