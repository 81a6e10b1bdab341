/**
 * What the agent keeps on the box is owner-only whatever the umask: under `umask 022` the data dir and every folder
 * the agent makes in it are 0700, every file 0600 (outbox.db and its -wal/-shm and reserve, thumbnails, the generated
 * motion model, credentials), and a config file `vigil-agent pair` creates is 0600 (it may hold camera passwords in
 * rtsp URLs). A data dir left open by an older version is tightened at start, with one warning.
 * The end-to-end part runs the built CLI (`npm run build` first) against a real collector.
 */
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log/index.js';
import type { Frame } from '../camera/frame.js';
import { syntheticSceneInput } from '../camera/synthetic.js';
import { writeDeviceSection } from '../config.js';
import { secureAgentDataDir } from '../daemon/data-dir.js';
import { RotatingFileStream } from '../logs/rotating-file.js';
import type { MotionGraphParams } from '../motion/graph.js';
import { ensureMotionModel } from '../motion/model-cache.js';
import { openOutboxFile } from '../outbox/open.js';
import { ThumbnailStore } from '../thumbnail/store.js';
import {
  agentCli,
  exitOf,
  killLeftovers,
  requireBuild,
  startAgent,
  startCollector,
  type CollectorProc,
} from './e2e-run-support.js';
import { newEventMessage } from './support/event-message.js';

const modeOf = (p: string): number => statSync(p).mode & 0o777;
const octal = (m: number): string => m.toString(8).padStart(4, '0');

/** `path mode` of every folder and regular file under `dir` (itself included), sockets left out. */
function walk(dir: string): Array<{ path: string; dir: boolean; mode: number }> {
  const out = [{ path: dir, dir: true, mode: modeOf(dir) }];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = lstatSync(p);
    if (st.isDirectory()) out.push(...walk(p));
    else if (st.isFile()) out.push({ path: p, dir: false, mode: st.mode & 0o777 });
  }
  return out;
}

/** Every folder under `dir` that is not 0700 and every file that is not 0600, as `path 0644` lines. */
function notPrivate(dir: string): string[] {
  return walk(dir)
    .filter((e) => e.mode !== (e.dir ? 0o700 : 0o600))
    .map((e) => `${e.path.slice(dir.length) || '/'} ${octal(e.mode)}`);
}

let tmp: string;
let savedUmask: number;

beforeAll(() => {
  // Children inherit it: the CLI runs under umask 022 too, like a shell on most boxes.
  savedUmask = process.umask(0o022);
  tmp = mkdtempSync(join(tmpdir(), 'vigil-file-modes-'));
});
afterAll(() => {
  killLeftovers();
  process.umask(savedUmask);
  rmSync(tmp, { recursive: true, force: true });
});

describe('agent files under umask 022 (in-process)', () => {
  it('a config file created by writing the device section is 0600; an existing one keeps its mode', () => {
    const dir = join(tmp, 'config-new');
    mkdirSync(dir);
    const file = join(dir, 'agent.yaml');
    writeDeviceSection(file, { id: 'dev_A', cloud: 'https://a.example', transport: 'https' });
    expect(octal(modeOf(file))).toBe('0600');
    chmodSync(file, 0o640); // the installer's root:vigil 0640
    writeDeviceSection(file, { id: 'dev_B' });
    expect(octal(modeOf(file))).toBe('0640');
  });

  it.skipIf(process.getuid?.() !== 0)('as root (sudo vigil-agent pair) a new config goes to the data dir owner', () => {
    const data = join(tmp, 'root-pair', 'data');
    mkdirSync(data, { recursive: true });
    chownSync(data, 4321, 4321);
    const file = join(tmp, 'root-pair', 'agent.yaml');
    writeDeviceSection(file, { id: 'dev_A' }, { ownerOf: data });
    const st = statSync(file);
    expect([st.uid, st.gid, octal(st.mode & 0o777)]).toEqual([4321, 4321, '0600']);
  });

  it('thumbnails: the folders the store makes are 0700, its JPEGs (crop and snapshot) 0600', async () => {
    const root = join(tmp, 'thumbs');
    mkdirSync(root, { mode: 0o700 });
    const store = new ThumbnailStore(join(root, 'thumbnails', 'door'), { maxSize: 100 });
    const w = 320;
    const h = 180;
    const data = Buffer.alloc((w * h * 3) / 2, 128);
    const frame: Frame = { camera: 'door', seq: 0, width: w, height: h, data, mediaMs: 0, wallMs: 0 };
    await store.keep(frame, { id: 'evt_A', box: [10, 10, 100, 100], score: 0.9, kind: 'best', announced: true });
    const msg = newEventMessage('evt_A', 'door');
    const out = (await store.attach(msg)).message;
    expect(store.lastWriteError).toBeUndefined();
    expect(existsSync(out.thumbnail as string) && existsSync(out.snapshot as string)).toBe(true);
    expect(notPrivate(root)).toEqual([]);
  });

  it('the generated motion model: its cache folder 0700, the model 0600', () => {
    const cache = join(tmp, 'model-cache', 'models');
    const params: MotionGraphParams = { width: 64, height: 36, factor: 2, downscale: 'area', blur: 3, dilate: 1 };
    const made = ensureMotionModel(params, cache);
    expect(made.created).toBe(true);
    expect(notPrivate(join(tmp, 'model-cache'))).toEqual([]);
  });

  it('a log file (outside the data dir): folders it makes 0750, the live and rotated files 0640', () => {
    const file = join(tmp, 'logs', 'vigil', 'agent.log');
    const stream = new RotatingFileStream({ file, maxBytes: 64, maxFiles: 2 });
    for (let i = 0; i < 3; i++) stream.write(`{"msg":"line ${i} of some length to rotate"}\n`);
    stream.end();
    expect(stream.rotations).toBeGreaterThan(0);
    const modes = walk(join(tmp, 'logs')).map((e) => `${e.path.slice(tmp.length)} ${octal(e.mode)}`);
    expect(modes.sort()).toEqual([
      '/logs 0750',
      '/logs/vigil 0750',
      '/logs/vigil/agent.log 0640',
      '/logs/vigil/agent.log.1 0640',
      '/logs/vigil/agent.log.2 0640',
    ]);
  });

  it('an outbox created in a new folder: folder 0700, outbox.db and its -wal/-shm 0600', () => {
    const data = join(tmp, 'outbox-new', 'data');
    const { db } = openOutboxFile({ path: join(data, 'outbox.db') });
    db.exec('CREATE TABLE IF NOT EXISTS t (x)');
    db.prepare('INSERT INTO t VALUES (1)').run();
    expect(existsSync(join(data, 'outbox.db-wal'))).toBe(true);
    expect(existsSync(join(data, 'outbox.db-shm'))).toBe(true);
    expect(notPrivate(join(tmp, 'outbox-new'))).toEqual([]);
    db.close();
  });

  it('an outbox left open by an older version is tightened when opened for writing (not when read only)', () => {
    const data = join(tmp, 'outbox-old');
    mkdirSync(data);
    const path = join(data, 'outbox.db');
    openOutboxFile({ path }).db.close();
    chmodSync(path, 0o644);
    openOutboxFile({ path, readonly: true }).db.close();
    expect(octal(modeOf(path))).toBe('0644');
    const { db } = openOutboxFile({ path });
    db.close();
    expect(octal(modeOf(path))).toBe('0600');
  });

  it('a data dir left open (0755 folders, 0644 files) is made owner-only at start, with one warning', () => {
    const data = join(tmp, 'old-box');
    mkdirSync(join(data, 'models'), { recursive: true });
    mkdirSync(join(data, 'thumbnails', 'door'), { recursive: true });
    const sides = ['', '-wal', '-shm', '.reserve', '.corrupt-2026-01-01T00-00-00-000Z'];
    const outboxFiles = sides.map((s) => `outbox.db${s}`);
    for (const f of outboxFiles) writeFileSync(join(data, f), 'x');
    writeFileSync(join(data, 'models', 'motion-v1-320x180.onnx'), 'x');
    writeFileSync(join(data, 'thumbnails', 'door', 'ev.jpg'), 'x');
    for (const e of walk(data)) chmodSync(e.path, e.dir ? 0o755 : 0o644);
    const lines: string[] = [];
    const sink = new Writable({
      write: (c: Buffer, _e, cb) => {
        lines.push(c.toString());
        cb();
      },
    });
    const log = createLogger({ component: 'daemon', level: 'info', destination: sink });

    secureAgentDataDir(data, log);
    expect(notPrivate(data)).toEqual([]);
    const parsed = lines.map((l) => JSON.parse(l) as { level: string; msg: string; tightened?: string });
    const warnings = parsed.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.tightened).toContain('outbox.db 0644→0600');
    // Once owner-only, a second start says nothing.
    secureAgentDataDir(data, log);
    expect(lines.filter((l) => (JSON.parse(l) as { level: string }).level === 'warn')).toHaveLength(1);
  });
});

describe('vigil-agent pair + run under umask 022 (built CLI)', () => {
  let collector: CollectorProc;
  beforeAll(async () => {
    requireBuild();
    collector = await startCollector(join(tmp, 'cloud'));
  });
  afterAll(async () => {
    await collector?.stop();
  });

  const title = 'every folder the agent makes in its data dir is 0700, every file 0600; a config pair creates is 0600';
  it(title, { timeout: 120_000 }, async () => {
    const box = join(tmp, 'box');
    const data = join(box, 'data');
    const config = join(box, 'etc', 'agent.yaml');
    const code = await collector.pairCode();
    const pair = await agentCli(['pair', '--cloud', collector.url, '--code', code, '--data-dir', data, '-c', config]);
    expect(pair.code, pair.stderr).toBe(0);
    expect.soft(octal(modeOf(config))).toBe('0600');

    // One motion event on a short generated scene; the run ends once the outbox is drained. (Its thumbnail stays in
    // memory until the outbox has its bytes: no file; the in-process test above checks the modes of analyze's files.)
    const sceneOptions = { width: 320, height: 180, fps: 5, durationS: 3, startS: 0.5, endS: 2 };
    const scene = JSON.stringify(syntheticSceneInput(sceneOptions));
    appendFileSync(
      config,
      `data_dir: ${data}\nstatus: { listen: ${join(box, 'status.sock')} }\n` +
        `cameras:\n  - name: door\n    input: ${scene}\n    detect: { width: 320, height: 180, fps: 5 }\n`,
    );
    const run = startAgent(config, ['--exit-when-idle']);
    expect(await exitOf(run, 90_000), run.err()).toBe(0);

    const names = walk(data).map((e) => e.path.slice(data.length));
    for (const expected of ['/outbox.db', '/outbox.db.reserve', '/credentials.json', '/models']) {
      expect(names).toContain(expected);
    }
    expect(names.filter((n) => n.startsWith('/thumbnails'))).toEqual([]);
    expect(names.some((n) => /^\/models\/motion-.+\.onnx$/.test(n))).toBe(true);
    expect.soft(notPrivate(data)).toEqual([]);

    // An older version's modes (the credentials file aside: the daemon refuses to start on that one) are tightened
    // at the next start, and the daemon says so once.
    for (const e of walk(data)) if (!e.path.endsWith('credentials.json')) chmodSync(e.path, e.dir ? 0o755 : 0o644);
    const again = startAgent(config, ['--exit-when-idle']);
    expect(await exitOf(again, 90_000), again.err()).toBe(0);
    expect(notPrivate(data)).toEqual([]);
    const warned = again
      .out()
      .split('\n')
      .filter((l) => l.includes('made owner-only'));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toContain('outbox.db 0644→0600');
  });
});
