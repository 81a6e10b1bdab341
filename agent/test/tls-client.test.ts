import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloudConfig } from '../../cloud/config.js';
import { createPairingCode } from '../../cloud/pairing/codes.js';
import { createCloud, type Cloud } from '../../cloud/server/app.js';
import { silentLogger } from '../../shared/log/index.js';
import { issueCert, makeCa, type CertFiles } from '../../shared/testing/tls.js';
import { loadCredentials } from '../credentials/index.js';
import type { DoctorReport } from '../doctor/index.js';
import { createStoreAndForward } from '../daemon/store-and-forward.js';
import { outboxConfig } from '../outbox/index.js';
import { uplinkConfig } from '../uplink/index.js';
import { runAgentBin, type AgentRun } from './support/agent-bin.js';

/**
 * Issue 11, item 3: one TLS story on the box. `vigil-agent pair`, `doctor` and the daemon's uplink reach a collector
 * with a private CA through `uplink.ca_file` alone (no NODE_EXTRA_CA_CERTS), and present a client certificate
 * (`uplink.cert_file` / `key_file`) to a TLS endpoint that asks for one.
 */

type Run = AgentRun;

function agent(args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, VIGIL_AGENT_CONFIG: '', VIGIL_DATA_DIR: '', NO_COLOR: '1' };
  delete env.NODE_EXTRA_CA_CERTS;
  return runAgentBin(args, env);
}

let tmp: string;
let ca: CertFiles;
let server: CertFiles;
let clientCa: CertFiles;
let client: CertFiles;
/** The collector terminating TLS itself with a certificate of the private CA. */
let tlsCloud: Cloud;
/** A plain-HTTP collector behind a proxy that requires a client certificate (as nginx with ssl_verify_client). */
let mtlsCloud: Cloud;
let proxy: HttpsServer;
let proxyUrl: string;

const code = async (cloud: Cloud): Promise<string> =>
  (await createPairingCode(cloud.store, cloud.secrets, { tenantId: 'default', ttlMs: 60_000 })).code;

/** `vigil-agent pair` with a fresh code of `cloud`, at the cloud's own address, for the box configured in `config`. */
async function pairWith(cloud: Cloud, config: string): Promise<Run> {
  return agent(['pair', '--cloud', cloud.url, '--code', await code(cloud), '--config', config]);
}

function writeConfig(name: string, uplink: Record<string, string>): { file: string; data: string } {
  const data = join(tmp, name, 'data');
  const file = join(tmp, `${name}.yaml`);
  const lines = Object.entries(uplink).map(([k, v]) => `  ${k}: ${v}`);
  writeFileSync(file, `data_dir: ${data}\n${lines.length ? `uplink:\n${lines.join('\n')}\n` : ''}`);
  return { file, data };
}

async function doctorCloud(config: string): Promise<Map<string, { status: string; detail: string; hint?: string }>> {
  const run = await agent(['doctor', '--config', config, '--json', '--camera-timeout', '5']);
  const report = JSON.parse(run.stdout) as DoctorReport;
  return new Map(report.checks.map((c) => [c.name, c as { status: string; detail: string; hint?: string }]));
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'vigil-tls-client-'));
  ca = makeCa(tmp, 'collector-ca');
  server = issueCert(ca, tmp, 'collector', { sans: ['IP:127.0.0.1', 'DNS:localhost'] });
  clientCa = makeCa(tmp, 'box-ca');
  client = issueCert(clientCa, tmp, 'box', { client: true });
  const base = { server: { host: '127.0.0.1', port: 0 }, log: { level: 'silent' }, pairing: { attempts_burst: 1000 } };
  tlsCloud = await createCloud(
    cloudConfig({
      ...base,
      data_dir: join(tmp, 'cloud-tls'),
      server: { ...base.server, tls: { cert_file: server.certFile, key_file: server.keyFile } },
    }),
    {
      logger: silentLogger(),
    },
  );

  // The proxy: TLS with the private CA's certificate, client certificates of box-ca required, forwards to mtlsCloud.
  proxy = createHttpsServer(
    {
      cert: readFileSync(server.certFile),
      key: readFileSync(server.keyFile),
      ca: readFileSync(clientCa.certFile),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      const upstream = new URL(mtlsCloud.url);
      const forward = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, 'x-client-cert-cn': String(peer.subject?.CN ?? '') },
        },
        (up: IncomingMessage) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      forward.on('error', () => res.writeHead(502).end());
      req.pipe(forward);
    },
  );
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = `https://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  mtlsCloud = await createCloud(
    cloudConfig({ ...base, data_dir: join(tmp, 'cloud-mtls'), server: { ...base.server, public_url: proxyUrl } }),
    { logger: silentLogger() },
  );
}, 60_000);

afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise((r) => proxy?.close(r));
  await tlsCloud?.close();
  await mtlsCloud?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('a collector with a private CA, uplink.ca_file only', () => {
  it(
    'pair and doctor succeed; without ca_file pair fails naming the certificate problem and the ' + 'key to set',
    async () => {
      expect(tlsCloud.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const bare = writeConfig('no-ca', {});
      const refused = await pairWith(tlsCloud, bare.file);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/certificate/i);
      expect(refused.stderr).toContain('uplink.ca_file');

      const box = writeConfig('with-ca', { ca_file: ca.certFile });
      const paired = await pairWith(tlsCloud, box.file);
      expect(paired.stderr).toBe('');
      expect(paired.code).toBe(0);
      expect(paired.stdout).toContain(`verified     signed heartbeat accepted by ${tlsCloud.url}`);
      const deviceId = loadCredentials(box.data).stored.device_id;
      expect((await tlsCloud.store.getDeviceStatus(deviceId))?.lastHeartbeatAt).toEqual(expect.any(Number));

      const checks = await doctorCloud(box.file);
      expect(checks.get('cloud')).toMatchObject({ status: 'pass' });
      expect(checks.get('cloud')?.detail).toContain(`${tlsCloud.url}: signed heartbeat accepted as ${deviceId}`);
      expect(checks.get('clock')?.status).toBe('pass');

      // doctor with the CA taken away fails the cloud check with the TLS hint.
      writeFileSync(box.file, readFileSync(box.file, 'utf8').replace(/uplink:\n {2}ca_file: .*\n/, ''));
      const without = await doctorCloud(box.file);
      expect(without.get('cloud')?.status).toBe('fail');
      expect(`${without.get('cloud')?.detail} ${without.get('cloud')?.hint}`).toContain('uplink.ca_file');
    },
  );

  it('an unreadable uplink.ca_file is a config error naming the key', async () => {
    const box = writeConfig('bad-ca', { ca_file: join(tmp, 'nope.pem') });
    const r = await agent(['pair', '--cloud', tlsCloud.url, '--code', 'ZZZZ-ZZZZ', '--config', box.file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/uplink\.ca_file: cannot read .*nope\.pem/);
  });
});

describe('a TLS endpoint that requires a client certificate (uplink.cert_file / key_file)', () => {
  it(
    'pair, doctor and the daemon uplink present the configured certificate; without it the ' + 'handshake is refused',
    async () => {
      const noCert = writeConfig('mtls-none', { ca_file: ca.certFile });
      const refused = await agent([
        'pair',
        '--cloud',
        proxyUrl,
        '--code',
        await code(mtlsCloud),
        '--config',
        noCert.file,
      ]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('cloud_unreachable');

      const box = writeConfig('mtls', { ca_file: ca.certFile, cert_file: client.certFile, key_file: client.keyFile });
      const paired = await agent(['pair', '--cloud', proxyUrl, '--code', await code(mtlsCloud), '--config', box.file]);
      expect(paired.stderr).toBe('');
      expect(paired.code).toBe(0);
      expect(paired.stdout).toContain(`verified     signed heartbeat accepted by ${proxyUrl}`);
      expect((await doctorCloud(box.file)).get('cloud')?.status).toBe('pass');

      // The daemon's store-and-forward, built from the same uplink section.
      const stored = loadCredentials(box.data);
      const { outbox, uplink } = createStoreAndForward({
        dataDir: box.data,
        outbox: outboxConfig(),
        uplink: uplinkConfig({
          transport: 'https',
          https_url: proxyUrl,
          ca_file: ca.certFile,
          cert_file: client.certFile,
          key_file: client.keyFile,
          heartbeat_interval: '0',
        }),
        identity: stored.identity,
        logger: silentLogger(),
        version: 'test',
      });
      try {
        await uplink.start();
        const before = (await mtlsCloud.store.getDeviceStatus(stored.stored.device_id))?.lastHeartbeatAt ?? 0;
        await uplink.heartbeatNow();
        const after = (await mtlsCloud.store.getDeviceStatus(stored.stored.device_id))?.lastHeartbeatAt ?? 0;
        expect(after).toBeGreaterThan(before);
        expect(uplink.status().lastAckAtMs).not.toBeNull();
      } finally {
        await uplink.stop();
        outbox.close();
      }
    },
  );

  it('cert_file without key_file is a config error', async () => {
    const box = writeConfig('half', { ca_file: ca.certFile, cert_file: client.certFile });
    const r = await agent(['pair', '--cloud', proxyUrl, '--code', 'ZZZZ-ZZZZ', '--config', box.file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/uplink\.cert_file and uplink\.key_file/);
  });
});
