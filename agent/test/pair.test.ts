import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloudConfig } from '../../cloud/config.js';
import { createPairingCode } from '../../cloud/pairing/codes.js';
import { createCloud, type Cloud } from '../../cloud/server/app.js';
import { projectRoot } from '../../shared/paths/index.js';
import { freePort } from '../../shared/testing/listen.js';
import { silentLogger } from '../../shared/log/index.js';
import { loadAgentConfig } from '../config.js';
import { loadCredentials } from '../credentials/index.js';

/**
 * `vigil-agent pair` / `unpair` through the built CLI against a REAL collector (createCloud, SQLite) in this
 * process. The CLI runs as a child process, asynchronously, so the collector keeps serving.
 */

const BIN = join(projectRoot(), 'bin', 'vigil-agent.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function agent(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, VIGIL_AGENT_CONFIG: '', VIGIL_DATA_DIR: '', NO_COLOR: '1', ...env }, timeout: 30_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

const startCloud = async (dataDir: string, overrides: Record<string, unknown> = {}): Promise<Cloud> =>
  createCloud(
    cloudConfig({
      data_dir: dataDir,
      server: { host: '127.0.0.1', port: 0 },
      log: { level: 'silent' },
      pairing: { attempts_burst: 1000 },
      ...overrides,
    }),
    {
      logger: silentLogger(),
    },
  );

let tmp: string;
let cloud: Cloud;
const code = async (opts: { ttlMs?: number; now?: number } = {}): Promise<string> =>
  (
    await createPairingCode(cloud.store, cloud.secrets, {
      tenantId: 'default',
      ttlMs: opts.ttlMs ?? 60_000,
      ...(opts.now ? { now: opts.now } : {}),
    })
  ).code;

beforeAll(async () => {
  tmp = fs.mkdtempSync(join(tmpdir(), 'vigil-pair-'));
  cloud = await startCloud(join(tmp, 'cloud'));
});
afterAll(async () => {
  await cloud?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('vigil-agent pair', () => {
  it(
    'pairs, stores 0600 credentials, updates the device section, and verifies with a signed heartbeat the ' +
      'collector records',
    async () => {
      const data = join(tmp, 'box1', 'data');
      const config = join(tmp, 'box1', 'agent.yaml');
      fs.mkdirSync(join(tmp, 'box1'));
      fs.writeFileSync(
        config,
        `# garage box\ndata_dir: ${data} # state lives here\ncameras:\n  - name: door\n    input: rtsp://cam/1\n`,
      );
      const r = await agent([
        'pair',
        '--cloud',
        cloud.url + '/',
        '--code',
        (await code()).toLowerCase(),
        '--name',
        'garage',
        '--config',
        config,
        '--json',
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout) as Record<string, unknown>;
      expect(out).toMatchObject({
        key_id: expect.any(String),
        cloud: cloud.url,
        verified: true,
        credentials_file: join(data, 'credentials.json'),
        config_updated: true,
      });
      const deviceId = out.device_id as string;
      expect(deviceId).toMatch(/^dev_[0-9A-Z]{26}$/);

      const file = join(data, 'credentials.json');
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(fs.statSync(data).mode & 0o777).toBe(0o700);
      const creds = loadCredentials(data);
      expect(creds.stored).toMatchObject({
        v: 1,
        device_id: deviceId,
        cloud: cloud.url,
        endpoints: { https: cloud.url },
      });
      expect(creds.identity.secret).toHaveLength(32);
      // the secret never reaches the terminal
      expect(r.stdout).not.toContain(creds.stored.secret_b64);

      // the collector saw a correctly signed heartbeat from this device
      const status = await cloud.store.getDeviceStatus(deviceId);
      expect(status?.lastHeartbeatAt).toEqual(expect.any(Number));
      expect(status?.version).toBe(JSON.parse(fs.readFileSync(join(projectRoot(), 'package.json'), 'utf8')).version);

      // device section written, comments and other keys kept; credentials at the default place: no path written
      const text = fs.readFileSync(config, 'utf8');
      expect(text).toContain('# garage box');
      expect(text).toContain(`data_dir: ${data} # state lives here`);
      expect(text).toContain('  - name: door');
      const loaded = loadAgentConfig(config, {}, { env: {} }).config;
      expect(loaded.device).toEqual({
        id: deviceId,
        cloud: cloud.url,
        transport: 'https',
        key_id: creds.stored.key_id,
        credentials: file,
      });
      expect(text).not.toContain('credentials:');

      // the human form names the device
      const again = await agent(['pair', '--cloud', cloud.url, '--code', await code(), '--config', config]);
      expect(again.code).toBe(2);
      expect(again.stderr.trim().split('\n')).toEqual([
        `vigil-agent: error: already_paired: this box is already paired as ${deviceId} (${file}); use --force to ` +
          `pair again (the old credentials are kept as a backup), or vigil-agent unpair`,
      ]);
      expect(loadCredentials(data).stored.device_id).toBe(deviceId);

      // --force: a new identity, the old file kept as a backup
      const forced = await agent(['pair', '--cloud', cloud.url, '--code', await code(), '--config', config, '--force']);
      expect(forced.stderr).toBe('');
      expect(forced.code).toBe(0);
      const newId = loadCredentials(data).stored.device_id;
      expect(newId).not.toBe(deviceId);
      expect(forced.stdout).toMatch(
        new RegExp(`^paired as ${newId} \\(key \\S+\\) with ${cloud.url.replace(/\./g, '\\.')}\\n`),
      );
      expect(forced.stdout).toContain('verified     signed heartbeat accepted');
      const backups = fs.readdirSync(data).filter((f) => f.startsWith('credentials.json.bak-'));
      expect(backups).toHaveLength(1);
      expect(JSON.parse(fs.readFileSync(join(data, backups[0] as string), 'utf8')).device_id).toBe(deviceId);
      expect(fs.statSync(join(data, backups[0] as string)).mode & 0o777).toBe(0o600);
      expect(loadAgentConfig(config, {}, { env: {} }).config.device.id).toBe(newId);
    },
  );

  it("records the credentials path when --data-dir differs from the config file's data_dir", async () => {
    const data = join(tmp, 'box2', 'elsewhere');
    const config = join(tmp, 'box2', 'agent.yaml');
    const r = await agent([
      'pair',
      '--cloud',
      cloud.url,
      '--code',
      await code(),
      '--config',
      config,
      '--data-dir',
      data,
      '--json',
    ]);
    expect(r.code).toBe(0);
    expect(fs.existsSync(config)).toBe(true);
    expect(loadAgentConfig(config, {}, { env: {} }).config.device.credentials).toBe(join(data, 'credentials.json'));
  });

  it(
    "answers a used, unknown or expired code with the collector's code and message on one line, " + 'storing nothing',
    async () => {
      const data = join(tmp, 'box3');
      const used = await code();
      expect(
        (
          await agent([
            'pair',
            '--cloud',
            cloud.url,
            '--code',
            used,
            '--data-dir',
            join(tmp, 'box3-first'),
            '--config',
            join(tmp, 'box3-first.yaml'),
          ])
        ).code,
      ).toBe(0);
      const cases: [string, string][] = [
        [used, 'pairing_code_used'],
        ['ZZZZ-ZZZZ', 'pairing_code_invalid'],
        [await code({ now: Date.now() - 120_000, ttlMs: 60_000 }), 'pairing_code_expired'],
      ];
      for (const [c, expected] of cases) {
        const r = await agent([
          'pair',
          '--cloud',
          cloud.url,
          '--code',
          c,
          '--data-dir',
          data,
          '--config',
          join(tmp, 'box3.yaml'),
        ]);
        expect(r.code).toBe(1);
        const lines = r.stderr.trim().split('\n');
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(new RegExp(`^vigil-agent: error: ${expected}: \\S.+`));
        expect(r.stdout).toBe('');
      }
      expect(fs.existsSync(data)).toBe(false);
      expect(fs.existsSync(join(tmp, 'box3.yaml'))).toBe(false);
    },
  );

  it('checks the code locally and names an unreachable collector', async () => {
    const bad = await agent([
      'pair',
      '--cloud',
      cloud.url,
      '--code',
      'nope',
      '--data-dir',
      join(tmp, 'box4'),
      '--config',
      join(tmp, 'box4.yaml'),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe(
      'vigil-agent: error: invalid_argument: --code "nope" is not a pairing code (8 letters/digits, e.g. K7QX-M2PD)',
    );
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const down = await agent([
      'pair',
      '--cloud',
      url,
      '--code',
      'ABCD-EFGH',
      '--data-dir',
      join(tmp, 'box4'),
      '--config',
      join(tmp, 'box4.yaml'),
    ]);
    expect(down.code).toBe(1);
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
    expect(down.stderr).toContain(
      `vigil-agent: error: cloud_unreachable: cannot reach the collector at ${url}/v1/pair: `,
    );
    expect(down.stderr).toContain('ECONNREFUSED');
    expect(fs.existsSync(join(tmp, 'box4'))).toBe(false);
  });

  it(
    'fails verification when the collector hands out an ingest URL the box cannot reach, keeping ' + 'the credentials',
    async () => {
      const port = await closedPort();
      const broken = await startCloud(join(tmp, 'cloud-broken'), {
        server: { host: '127.0.0.1', port: 0, public_url: `http://127.0.0.1:${port}` },
      });
      try {
        const { code: c } = await createPairingCode(broken.store, broken.secrets, {
          tenantId: 'default',
          ttlMs: 60_000,
        });
        const data = join(tmp, 'box5');
        const r = await agent([
          'pair',
          '--cloud',
          broken.url,
          '--code',
          c,
          '--data-dir',
          data,
          '--config',
          join(tmp, 'box5.yaml'),
        ]);
        expect(r.code).toBe(1);
        const id = loadCredentials(data).stored.device_id;
        expect(r.stderr.trim()).toMatch(
          new RegExp(
            `^vigil-agent: error: pairing_unverified: paired as ${id} and saved the credentials ` +
              `to ${join(data, 'credentials.json')}, but the check failed: the signed heartbeat to ` +
              `http://127\\.0\\.0\\.1:${port} failed: network_error: `,
          ),
        );
      } finally {
        await broken.close();
      }
    },
  );
});

describe('vigil-agent unpair', () => {
  it('needs --yes, then moves the credentials aside and clears the device section', async () => {
    const data = join(tmp, 'box6');
    const config = join(tmp, 'box6.yaml');
    fs.writeFileSync(config, `data_dir: ${data}\n# cameras below\ncameras: []\n`);
    expect((await agent(['pair', '--cloud', cloud.url, '--code', await code(), '--config', config])).code).toBe(0);
    const id = loadCredentials(data).stored.device_id;

    const asked = await agent(['unpair', '--config', config]);
    expect(asked.code).toBe(2);
    expect(asked.stderr).toMatch(
      /^vigil-agent: error: confirmation_required: unpair would move .*credentials\.json aside/,
    );
    expect(fs.existsSync(join(data, 'credentials.json'))).toBe(true);

    const done = await agent(['unpair', '--config', config, '--yes', '--json']);
    expect(done.code).toBe(0);
    const out = JSON.parse(done.stdout) as { unpaired: boolean; backup: string; device_section_cleared: boolean };
    expect(out.unpaired).toBe(true);
    expect(out.device_section_cleared).toBe(true);
    expect(fs.existsSync(join(data, 'credentials.json'))).toBe(false);
    expect(JSON.parse(fs.readFileSync(out.backup, 'utf8')).device_id).toBe(id);
    const text = fs.readFileSync(config, 'utf8');
    expect(text).not.toMatch(/^device:/m);
    expect(text).toContain('# cameras below');
    expect(loadAgentConfig(config, {}, { env: {} }).config.device.id).toBeUndefined();

    const twice = await agent(['unpair', '--config', config, '--yes']);
    expect(twice.code).toBe(0);
    expect(twice.stdout).toContain(`no credentials at ${join(data, 'credentials.json')}: nothing to remove`);

    // and the box can pair again without --force
    expect((await agent(['pair', '--cloud', cloud.url, '--code', await code(), '--config', config])).code).toBe(0);
  });
});

/** A port nothing listens on (bound, then released). */
const closedPort = freePort;
