import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, copyFileSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cloudConfig } from '../../cloud/config.js';
import { createPairingCode } from '../../cloud/pairing/codes.js';
import { createCloud, type Cloud } from '../../cloud/server/app.js';
import { silentLogger } from '../../shared/log/index.js';
import { testAsset } from '../../shared/testing/index.js';
import type { CheckResult, DoctorReport } from '../doctor/index.js';
import { runAgentBin, type AgentRun } from './support/agent-bin.js';

/**
 * `vigil-agent doctor` through the built CLI against a REAL collector (createCloud, SQLite, in this process), a
 * generated lavfi camera and the shared detector model; then one fault at a time, each failing its own check
 * with a hint.
 */

const MODEL = testAsset('models', 'yolox_nano.onnx');

type Run = AgentRun;

const agent = (args: string[]): Promise<Run> =>
  runAgentBin(args, { ...process.env, VIGIL_AGENT_CONFIG: '', VIGIL_DATA_DIR: '', VIGIL_FFMPEG: '' });

async function doctor(config: string): Promise<{ run: Run; report: DoctorReport; byName: Map<string, CheckResult> }> {
  const run = await agent(['doctor', '--config', config, '--json', '--camera-timeout', '15']);
  let report: DoctorReport;
  try {
    report = JSON.parse(run.stdout) as DoctorReport;
  } catch {
    throw new Error(`doctor printed no JSON (exit ${run.code}): ${run.stdout}\n${run.stderr}`);
  }
  return { run, report, byName: new Map(report.checks.map((c) => [c.name, c])) };
}

/** A port nothing listens on (bound then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

const LAVFI = 'lavfi:testsrc2=size=320x240:rate=5';

let tmp: string;
let cloud: Cloud;
let data: string;

function writeConfig(name: string, body: string): string {
  const file = join(tmp, `${name}.yaml`);
  writeFileSync(file, `data_dir: ${data}\n${body}`);
  return file;
}

const modelSection = (path: string | undefined): string => (path ? `model:\n  path: ${path}\n` : '');

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'vigil-doctor-'));
  data = join(tmp, 'data');
  cloud = await createCloud(
    cloudConfig({ data_dir: join(tmp, 'cloud'), server: { host: '127.0.0.1', port: 0 }, log: { level: 'silent' } }),
    { logger: silentLogger() },
  );
  const { code } = await createPairingCode(cloud.store, cloud.secrets, { tenantId: 'default', ttlMs: 60_000 });
  const config = writeConfig('good', `cameras:\n  - name: yard\n    input: "${LAVFI}"\n${modelSection(MODEL)}`);
  const paired = await agent(['pair', '--cloud', cloud.url, '--code', code, '--config', config]);
  if (paired.code !== 0) throw new Error(`pairing failed: ${paired.stderr}`);
}, 60_000);

afterAll(async () => {
  await cloud?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('vigil-agent doctor', () => {
  it('passes every check on a paired box with a working camera, model and collector', async () => {
    const { run, report, byName } = await doctor(join(tmp, 'good.yaml'));
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(run.code).toBe(0);
    expect(['pass', 'warn']).toContain(report.status);
    for (const name of ['config', 'ffmpeg', 'camera:yard', 'credentials', 'cloud', 'clock', 'outbox'])
      expect(byName.get(name)?.status, name).toBe('pass');
    expect(byName.get('ffmpeg')?.detail).toMatch(/ffmpeg \S+ at \/.*ffmpeg/);
    expect(byName.get('camera:yard')?.detail).toMatch(/frame 640x360/);
    expect(byName.get('cloud')?.detail).toContain('signed heartbeat accepted');
    if (MODEL) expect(byName.get('model')?.detail).toMatch(/yolox 416x416, 80 labels, warm-up \d+ ms/);
    for (const c of report.checks) expect(Object.keys(c).sort()).toEqual(['detail', 'hint', 'name', 'status']);
    // the human form says the same in one line per check
    const text = await agent(['doctor', '--config', join(tmp, 'good.yaml')]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^PASS {2}cloud\s+http:\/\/127\.0\.0\.1:\d+: signed heartbeat accepted/m);
    expect(text.stdout).toMatch(/^doctor: (PASS|WARN) \(/m);
  }, 60_000);

  it('fails the ffmpeg check when the configured ffmpeg does not exist, and does not blame the camera', async () => {
    const config = writeConfig(
      'no-ffmpeg',
      `cameras:\n  - name: yard\n    input: "${LAVFI}"\n    ffmpeg:\n      path: ${join(tmp, 'no', 'ffmpeg')}\n`,
    );
    const { run, report, byName } = await doctor(config);
    expect(run.code).toBe(1);
    expect(report.status).toBe('fail');
    const ffmpeg = byName.get('ffmpeg');
    expect(ffmpeg?.status).toBe('fail');
    expect(ffmpeg?.detail).toContain('ffmpeg_not_found');
    expect(ffmpeg?.detail).toContain(join(tmp, 'no', 'ffmpeg'));
    expect(ffmpeg?.hint).toMatch(/ffmpeg\.path/);
    expect(byName.get('camera:yard')?.status).toBe('skip');
    expect(byName.get('cloud')?.status).toBe('pass');
  }, 60_000);

  it('fails the camera check when the RTSP port is closed', async () => {
    const port = await closedPort();
    const config = writeConfig(
      'bad-camera',
      `cameras:\n  - name: gate\n    input: rtsp://127.0.0.1:${port}/stream\n  - name: yard\n    input: "${LAVFI}"\n`,
    );
    const { run, byName } = await doctor(config);
    expect(run.code).toBe(1);
    const gate = byName.get('camera:gate');
    expect(gate?.status).toBe('fail');
    expect(gate?.detail).toContain('camera_unreachable');
    expect(gate?.detail).toContain(`127.0.0.1:${port}`);
    expect(gate?.hint).toMatch(/URL/);
    expect(byName.get('camera:yard')?.status).toBe('pass');
    expect(byName.get('ffmpeg')?.status).toBe('pass');
  }, 60_000);

  it("fails the model check with the detector's error code when the .onnx file is garbage", async () => {
    const garbage = join(tmp, 'garbage.onnx');
    writeFileSync(
      garbage,
      Buffer.from('this is not an onnx model at all, just text pretending to be one\n'.repeat(50)),
    );
    const { run, byName } = await doctor(writeConfig('bad-model', modelSection(garbage)));
    expect(run.code).toBe(1);
    const model = byName.get('model');
    expect(model?.status).toBe('fail');
    expect(model?.detail).toMatch(/^model_invalid: /);
    expect(model?.detail).toContain(garbage);
    expect(model?.hint).toMatch(/ONNX/);
    expect(byName.get('cloud')?.status).toBe('pass');
  }, 60_000);

  it('fails the cloud check when the collector is down, and skips the clock', async () => {
    const port = await closedPort();
    const { run, byName } = await doctor(writeConfig('cloud-down', `device:\n  cloud: http://127.0.0.1:${port}\n`));
    expect(run.code).toBe(1);
    const c = byName.get('cloud');
    expect(c?.status).toBe('fail');
    expect(c?.detail).toContain('network_error');
    expect(c?.detail).toContain(`127.0.0.1:${port}`);
    expect(c?.hint).toMatch(/collector running/);
    expect(byName.get('clock')?.status).toBe('skip');
    expect(byName.get('credentials')?.status).toBe('pass');
  }, 60_000);

  it('fails the cloud check naming the code when the credentials are wrong, and the credentials ' +
    'check on mode 0644', async () => {
    const other = join(tmp, 'other');
    mkdirSync(other, { recursive: true, mode: 0o700 });
    const creds = JSON.parse(readFileSync(join(data, 'credentials.json'), 'utf8')) as { secret_b64: string };
    creds.secret_b64 = Buffer.alloc(32, 7).toString('base64');
    writeFileSync(join(other, 'credentials.json'), JSON.stringify(creds), { mode: 0o600 });
    const wrong = join(tmp, 'wrong.yaml');
    writeFileSync(wrong, `data_dir: ${other}\n`);
    const { run, byName } = await doctor(wrong);
    expect(run.code).toBe(1);
    expect(byName.get('cloud')?.status).toBe('fail');
    expect(byName.get('cloud')?.detail).toContain('signature_mismatch');
    expect(byName.get('cloud')?.hint).toMatch(/pair again/);

    copyFileSync(join(data, 'credentials.json'), join(other, 'credentials.json'));
    chmodSync(join(other, 'credentials.json'), 0o644);
    const loose = await doctor(wrong);
    expect(loose.byName.get('credentials')?.status).toBe('fail');
    expect(loose.byName.get('credentials')?.hint).toBe(`chmod 600 ${join(other, 'credentials.json')}`);
  }, 60_000);

  it('fails the config check naming the key and line, and reports the rest as not checked', async () => {
    const config = join(tmp, 'typo.yaml');
    writeFileSync(config, `data_dir: ${data}\ncameras:\n  - name: yard\n    input: "${LAVFI}"\n    treshold: 0.8\n`);
    const { run, report, byName } = await doctor(config);
    expect(run.code).toBe(1);
    const c = byName.get('config');
    expect(c?.status).toBe('fail');
    expect(c?.detail).toMatch(/^config_invalid: /);
    expect(c?.detail).toContain('treshold');
    expect(c?.detail).toContain(`${config}:5`);
    expect(report.checks.map((x) => x.name)).toEqual(['config', 'ffmpeg', 'others']);
  }, 60_000);

  it('fails the outbox check on a corrupt outbox file', async () => {
    const dir = join(tmp, 'corrupt');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'outbox.db'),
      Buffer.concat([Buffer.from('SQLite format 3\u0000', 'latin1'), Buffer.alloc(4096, 0xab)]),
    );
    const config = join(tmp, 'corrupt.yaml');
    writeFileSync(config, `data_dir: ${dir}\n`);
    const { byName } = await doctor(config);
    expect(byName.get('outbox')?.status).toBe('fail');
    expect(byName.get('outbox')?.detail).toMatch(/^outbox_(corrupt|foreign): /);
    expect(byName.get('outbox')?.hint).toMatch(/quarantine/);
  }, 60_000);
});
