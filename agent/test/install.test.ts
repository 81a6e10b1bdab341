import { execFile } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../../cloud/config.js';
import { projectRoot } from '../../shared/paths/index.js';
import { inCI } from '../../shared/testing/index.js';
import { loadAgentConfig } from '../config.js';

/**
 * scripts/install-{agent,cloud}.sh and their uninstallers, run unprivileged into a prefix; the units they write
 * must pass `systemd-analyze verify` with no warning at all.
 */

const ROOT = projectRoot();
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const haveAnalyze = existsSync(SYSTEMD_ANALYZE);
if (!haveAnalyze) {
  if (inCI) throw new Error(`${SYSTEMD_ANALYZE} is missing, and CI must not skip the unit verification`);
  process.stderr.write(`\n!!! SKIPPING unit verification: ${SYSTEMD_ANALYZE} is missing (in CI this fails)\n\n`);
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        env: { ...process.env, VIGIL_AGENT_CONFIG: '', VIGIL_CLOUD_CONFIG: '', VIGIL_DATA_DIR: '', ...env },
        timeout: 120_000,
        maxBuffer: 10 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

const script = (name: string, ...args: string[]): Promise<Run> => run('bash', [join(ROOT, 'scripts', name), ...args]);

/** Every path under dir (relative), sorted; directories end in /. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out.push(relative(dir, p) + '/');
        walk(p);
      } else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

const mode = (p: string): number => statSync(p).mode & 0o777;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'vigil-install-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function unitValues(text: string, key: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

describe('install-agent.sh / install-cloud.sh into a prefix', () => {
  const prefix = (): string => join(tmp, 'root');

  it('installs both services (app linked), with units that systemd-analyze verifies cleanly', async () => {
    const P = prefix();
    const a = await script('install-agent.sh', '--prefix', P, '--link');
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    expect(a.stdout).toContain(`wrote ${P}/etc/vigil/agent.yaml`);
    const c = await script('install-cloud.sh', '--prefix', P, '--link');
    expect(c.stderr).toBe('');
    expect(c.code).toBe(0);

    expect(tree(P)).toEqual([
      'etc/',
      'etc/systemd/',
      'etc/systemd/system/',
      'etc/systemd/system/vigil-agent.service',
      'etc/systemd/system/vigil-cloud.service',
      'etc/vigil/',
      'etc/vigil/.install-agent',
      'etc/vigil/.install-cloud',
      'etc/vigil/agent.yaml',
      'etc/vigil/cloud.yaml',
      'opt/',
      'opt/vigil',
      'usr/',
      'usr/local/',
      'usr/local/bin/',
      'usr/local/bin/vigil-agent',
      'usr/local/bin/vigil-cloud',
      'var/',
      'var/lib/',
      'var/lib/vigil-cloud/',
      'var/lib/vigil/',
    ]);
    expect(lstatSync(join(P, 'opt/vigil')).isSymbolicLink()).toBe(true);
    expect(mode(join(P, 'var/lib/vigil'))).toBe(0o700);
    expect(mode(join(P, 'var/lib/vigil-cloud'))).toBe(0o700);
    expect(mode(join(P, 'etc/vigil/agent.yaml'))).toBe(0o640);
    expect(mode(join(P, 'etc/systemd/system/vigil-agent.service'))).toBe(0o644);
    expect(mode(join(P, 'usr/local/bin/vigil-agent'))).toBe(0o755);

    // the agent unit: restart policy, stop budget, hardening, cameras
    const unit = readFileSync(join(P, 'etc/systemd/system/vigil-agent.service'), 'utf8');
    expect(unit).not.toMatch(/@[A-Z_]+@/);
    const execStart = unitValues(unit, 'ExecStart')[0]?.split(' ') ?? [];
    // the node on PATH, by default
    expect(execStart[0]).toBe((await run('sh', ['-c', 'command -v node'])).stdout.trim());
    expect(execStart.slice(1)).toEqual([
      `${P}/opt/vigil/bin/vigil-agent.js`,
      'run',
      '--config',
      `${P}/etc/vigil/agent.yaml`,
    ]);
    expect(existsSync(execStart[1] as string)).toBe(true);
    expect(unitValues(unit, 'Restart')).toEqual(['on-failure']);
    expect(Number(unitValues(unit, 'RestartSec')[0])).toBeGreaterThan(0);
    expect(Number(unitValues(unit, 'TimeoutStopSec')[0])).toBeGreaterThanOrEqual(30);
    expect(unitValues(unit, 'ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    for (const [k, v] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'],
      ['ReadWritePaths', `${P}/var/lib/vigil`],
      ['SupplementaryGroups', 'video'],
      ['DeviceAllow', 'char-video4linux rw'],
      ['User', 'vigil'],
    ] as const) {
      expect(unitValues(unit, k), k).toEqual([v]);
    }
    const cloudUnit = readFileSync(join(P, 'etc/systemd/system/vigil-cloud.service'), 'utf8');
    expect(unitValues(cloudUnit, 'ExecStart')).toEqual([
      `${execStart[0]} ${P}/opt/vigil/bin/vigil-cloud.js serve --config ${P}/etc/vigil/cloud.yaml`,
    ]);
    expect(unitValues(cloudUnit, 'ReadWritePaths')).toEqual([`${P}/var/lib/vigil-cloud`]);
    expect(unitValues(cloudUnit, 'User')).toEqual(['vigil-cloud']);

    if (haveAnalyze) {
      const v = await run(SYSTEMD_ANALYZE, [
        'verify',
        join(P, 'etc/systemd/system/vigil-agent.service'),
        join(P, 'etc/systemd/system/vigil-cloud.service'),
      ]);
      expect(v.stderr).toBe('');
      expect(v.code).toBe(0);
    }
  });

  it('installs configs from the templates that the loaders accept, pointing at the prefix', () => {
    const P = prefix();
    const agent = loadAgentConfig(join(P, 'etc/vigil/agent.yaml'), {}, { env: {} }).config;
    expect(agent.data_dir).toBe(join(P, 'var/lib/vigil'));
    expect(agent.device.credentials).toBe(join(P, 'var/lib/vigil/credentials.json'));
    expect(agent.cameras).toEqual([]);
    const text = readFileSync(join(P, 'etc/vigil/agent.yaml'), 'utf8');
    expect(text).toContain('#  - name: driveway'); // commented examples
    const cloud = loadCloudConfig({ file: join(P, 'etc/vigil/cloud.yaml'), env: {} }).config;
    expect(cloud.data_dir).toBe(join(P, 'var/lib/vigil-cloud'));
  });

  it('installs wrappers that run the CLIs with the installed configs', async () => {
    const P = prefix();
    const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
    const v = await run(join(P, 'usr/local/bin/vigil-agent'), ['--version']);
    expect(v.stdout.trim()).toBe(version);
    const u = await run(join(P, 'usr/local/bin/vigil-agent'), ['unpair', '--yes', '--json']);
    expect(u.code).toBe(0);
    expect(JSON.parse(u.stdout)).toMatchObject({ unpaired: false, config_file: join(P, 'etc/vigil/agent.yaml') });
    const code = await run(join(P, 'usr/local/bin/vigil-cloud'), ['pair-code', 'create', '--json']);
    expect(code.code).toBe(0);
    expect(JSON.parse(code.stdout)).toMatchObject({ code: expect.stringMatching(/^[A-Z0-9]{4}-[A-Z0-9]{4}$/) });
    // the collector's database went to the installed data directory
    expect(readdirSync(join(P, 'var/lib/vigil-cloud')).some((f) => f.startsWith('vigil.db'))).toBe(true);
  });

  it('never overwrites an existing config on reinstall', async () => {
    const P = prefix();
    const config = join(P, 'etc/vigil/agent.yaml');
    appendFileSync(config, '# my edit\n');
    const before = readFileSync(config, 'utf8');
    const again = await script('install-agent.sh', '--prefix', P, '--link');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`keeping the existing config ${config}`);
    expect(readFileSync(config, 'utf8')).toBe(before);
  });

  it('uninstalls what it installed, keeping config and data unless --purge', async () => {
    const P = prefix();
    mkdirSync(join(P, 'var/lib/vigil/thumbnails'));
    writeFileSync(join(P, 'var/lib/vigil/outbox.db'), 'x');
    const ua = await script('uninstall-agent.sh', '--prefix', P);
    expect(ua.code).toBe(0);
    expect(ua.stdout).toContain('keeping'); // the app stays for the collector
    expect(existsSync(join(P, 'etc/systemd/system/vigil-agent.service'))).toBe(false);
    expect(existsSync(join(P, 'usr/local/bin/vigil-agent'))).toBe(false);
    expect(lstatSync(join(P, 'opt/vigil')).isSymbolicLink()).toBe(true);
    const uc = await script('uninstall-cloud.sh', '--prefix', P);
    expect(uc.code).toBe(0);
    const left = tree(P);
    expect(
      left.filter((p) => !p.startsWith('var/lib/vigil-cloud/vigil.db') && !p.startsWith('var/lib/vigil-cloud/secrets')),
    ).toEqual([
      'etc/',
      'etc/vigil/',
      'etc/vigil/agent.yaml',
      'etc/vigil/cloud.yaml',
      'var/',
      'var/lib/',
      'var/lib/vigil-cloud/',
      'var/lib/vigil/',
      'var/lib/vigil/outbox.db',
      'var/lib/vigil/thumbnails/',
    ]);
    expect((await script('uninstall-agent.sh', '--prefix', P, '--purge')).code).toBe(0);
    expect((await script('uninstall-cloud.sh', '--prefix', P, '--purge')).code).toBe(0);
    expect(tree(P)).toEqual([]);
  });
});

describe('install options', () => {
  it('--dry-run prints the steps and changes nothing', async () => {
    const P = join(tmp, 'dry');
    const r = await script('install-agent.sh', '--prefix', P, '--dry-run');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`+ write ${P}/etc/systemd/system/vigil-agent.service (mode 0644)`);
    expect(r.stdout).toContain(`+ cp -a ${ROOT}/dist ${P}/opt/vigil.new/`);
    expect(r.stdout).toContain('dry run: nothing was changed');
    expect(existsSync(P)).toBe(false);
  });

  it('copies a built package (default) and removes the copy on uninstall', async () => {
    const src = join(tmp, 'pkg');
    for (const d of ['bin', 'dist/agent/cli', 'firmware-protocol', 'node_modules/dep'])
      mkdirSync(join(src, d), { recursive: true });
    writeFileSync(join(src, 'package.json'), '{"name":"vigil","version":"9.9.9"}');
    writeFileSync(join(src, 'bin/vigil-agent.js'), 'console.log("agent")\n');
    writeFileSync(join(src, 'dist/agent/cli/main.js'), '\n');
    writeFileSync(join(src, 'node_modules/dep/index.js'), '\n');
    writeFileSync(join(src, 'not-shipped.txt'), 'dev notes\n');
    const P = join(tmp, 'copy');
    const r = await script('install-agent.sh', '--prefix', P, '--source', src);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(lstatSync(join(P, 'opt/vigil')).isDirectory()).toBe(true);
    expect(tree(join(P, 'opt/vigil'))).toEqual([
      'bin/',
      'bin/vigil-agent.js',
      'dist/',
      'dist/agent/',
      'dist/agent/cli/',
      'dist/agent/cli/main.js',
      'firmware-protocol/',
      'node_modules/',
      'node_modules/dep/',
      'node_modules/dep/index.js',
      'package.json',
    ]);
    expect((await run(join(P, 'usr/local/bin/vigil-agent'), [])).stdout).toBe('agent\n');
    if (haveAnalyze) {
      const v = await run(SYSTEMD_ANALYZE, ['verify', join(P, 'etc/systemd/system/vigil-agent.service')]);
      expect(v.stderr).toBe('');
      expect(v.code).toBe(0);
    }
    expect((await script('uninstall-agent.sh', '--prefix', P, '--purge')).code).toBe(0);
    expect(tree(P)).toEqual([]);
  });

  it('refuses an unbuilt package and a bad option', async () => {
    const src = join(tmp, 'unbuilt');
    mkdirSync(join(src, 'bin'), { recursive: true });
    writeFileSync(join(src, 'package.json'), '{}');
    writeFileSync(join(src, 'bin/vigil-agent.js'), '');
    const r = await script('install-agent.sh', '--prefix', join(tmp, 'nope'), '--source', src);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `install-agent.sh: error: ${src} is not built (no dist/agent/cli/main.js): run npm ci && npm run build there ` +
        `first`,
    );
    const bad = await script('install-agent.sh', '--prefix', join(tmp, 'nope'), '--frobnicate');
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe('install-agent.sh: error: unknown option --frobnicate (see --help)');
    expect(existsSync(join(tmp, 'nope'))).toBe(false);
  });

  it.runIf(haveAnalyze)('the verification is not vacuous: a broken unit is reported', async () => {
    const P = join(tmp, 'broken');
    expect((await script('install-agent.sh', '--prefix', P, '--link')).code).toBe(0);
    const unit = join(P, 'etc/systemd/system/vigil-agent.service');
    writeFileSync(
      unit,
      readFileSync(unit, 'utf8').replace('Restart=on-failure', 'Restart=sometimes\nProtectSystm=strict'),
    );
    const v = await run(SYSTEMD_ANALYZE, ['verify', unit]);
    expect(v.stderr).toContain("Unknown key 'ProtectSystm'");
    expect(v.stderr).toContain('sometimes');
  });
});
