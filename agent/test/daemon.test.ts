/**
 * `vigil-agent run` as a real process: bad config and unpaired boxes fail at start with one line and exit 78;
 * a broken camera never stops a working one; SIGHUP reloads only what changed and keeps every queued event.
 * Motion-only (no model) on generated lavfi scenes, so these run in seconds.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticSceneInput } from '../camera/synthetic.js';
import type { DaemonStatus } from '../status/schema.js';
import * as e2e from './e2e-run-support.js';

let tmp: string;
let collector: e2e.CollectorProc;

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** One motion event per pass: a white square crossing a grey frame. */
const scene = (durationS: number): string =>
  JSON.stringify(
    syntheticSceneInput({ width: 320, height: 180, fps: 5, durationS, startS: 0.5, endS: Math.min(3, durationS) }),
  );
const camera = (name: string, input: string, extra = ''): string =>
  `  - name: ${name}\n    input: ${input}\n    detect: { width: 320, height: 180, fps: 5 }\n    restart_backoff_s: ` +
  `{ initial: 0.2, max: 1 }\n${extra}`;

beforeAll(async () => {
  e2e.requireBuild();
  tmp = mkdtempSync(join(tmpdir(), 'vigil-daemon-'));
  collector = await e2e.startCollector(join(tmp, 'cloud'));
});
afterAll(async () => {
  await collector?.stop();
  e2e.killLeftovers();
  rmSync(tmp, { recursive: true, force: true });
});

describe('vigil-agent run: start-up errors', () => {
  it('a bad config is one line naming the key and the line, exit 78 (EX_CONFIG)', async () => {
    const dir = join(tmp, 'bad');
    mkdirSync(dir);
    const config = join(dir, 'agent.yaml');
    writeFileSync(
      config,
      `data_dir: ${dir}\ncameras:\n  - name: door\n    input: rtsp://cam/1\n    detect: { fps: fast }\n`,
    );
    const r = await e2e.agentCli(['run', '--config', config]);
    expect(r.code).toBe(78);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^vigil-agent: error: config_invalid: /);
    expect(lines[0]).toMatch(/cameras.0.detect.fps/);
    expect(lines[0]).toContain(`${config}:5`);
  });

  it('an unpaired box says not_paired and how to pair, exit 78', async () => {
    const dir = join(tmp, 'unpaired');
    mkdirSync(dir);
    const config = join(dir, 'agent.yaml');
    writeFileSync(config, `data_dir: ${dir}\nstatus: { listen: ${join(dir, 'status.sock')} }\ncameras: []\n`);
    const r = await e2e.agentCli(['run', '--config', config]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/not_paired/);
    expect(r.stderr).toMatch(/vigil-agent pair/);
  });
});

describe('vigil-agent run: cameras', () => {
  it('an unreachable camera keeps retrying with its error visible while a lavfi camera sends its events', {
    timeout: 120_000,
  }, async () => {
    const port = await deadPort();
    const box = await e2e.pairBox(
      collector,
      join(tmp, 'broken'),
      `status: { listen: ${join(tmp, 'broken', 'status.sock')} }\ncameras:\n` +
        camera('broken', `rtsp://127.0.0.1:${port}/stream`) +
        camera('scene', scene(6), '    realtime: true\n'),
    );
    const run = e2e.startAgent(box.config, ['--exit-when-idle']);
    const seen = await e2e.waitFor(
      'the broken camera to have retried',
      async () => {
        const s = await e2e.agentStatus<DaemonStatus>(box.config);
        const broken = s.cameras.find((c) => c.name === 'broken');
        return broken && broken.restarts >= 2 && broken.last_error ? s : undefined;
      },
      60_000,
      300,
    );
    const broken = seen.cameras.find((c) => c.name === 'broken')!;
    expect(['reconnecting', 'starting']).toContain(broken.phase);
    expect(broken.last_error).toMatch(/refused|127\.0\.0\.1/i);
    expect(broken.frames).toBe(0);
    // The live camera does not hold up --exit-when-idle: the lavfi scene ends, the outbox drains, exit 0.
    expect(await e2e.exitOf(run, 60_000)).toBe(0);
    const events = await collector.events();
    const mine = events.filter((e) => e.camera === 'scene');
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((e) => e.label === 'motion')).toBe(true);
    expect(events.some((e) => e.camera === 'broken')).toBe(false);
  });
});

describe('vigil-agent run: SIGHUP', () => {
  it('restarts only the changed camera, keeps the queued events, keeps the old config when the new one is bad', {
    timeout: 180_000,
  }, async () => {
    const dir = join(tmp, 'reload');
    const status = `status: { listen: ${join(dir, 'status.sock')} }\n`;
    // The collector is unreachable while the daemon runs: everything queues in the outbox.
    const offline = `uplink: { https_url: "http://127.0.0.1:${await deadPort()}" }\n`;
    const cams = (backFps: number): string =>
      `cameras:\n` +
      camera('front', scene(4), '    realtime: true\n    loop: true\n') +
      camera('back', scene(4), `    realtime: true\n    loop: true\n`).replace('fps: 5 }', `fps: ${backFps} }`);
    const box = await e2e.pairBox(collector, dir, status + offline + cams(5));
    const run = e2e.startAgent(box.config);
    const before = await e2e.waitFor(
      'events queued while offline',
      async () => {
        const s = await e2e.agentStatus<DaemonStatus>(box.config);
        return s.outbox.pending >= 4 ? s : undefined;
      },
      90_000,
      300,
    );
    expect(before.uplink.state).not.toBe('connected');

    writeFileSync(box.config, `data_dir: ${dir}\n` + status + offline + cams(4) + readDevice(box.config));
    run.child.kill('SIGHUP');
    const after = await e2e.waitFor('the reload', async () => {
      const s = await e2e.agentStatus<DaemonStatus>(box.config);
      return s.last_reload ? s : undefined;
    });
    expect(after.last_reload).toMatchObject({ ok: true, restarted_cameras: ['back'] });
    const frontBefore = before.cameras.find((c) => c.name === 'front')!;
    const frontAfter = after.cameras.find((c) => c.name === 'front')!;
    // front kept running: its counters were not reset.
    expect(frontAfter.frames).toBeGreaterThanOrEqual(frontBefore.frames);
    expect(frontAfter.passes).toBeGreaterThanOrEqual(frontBefore.passes);
    // Nothing queued was dropped by the reload; back's open event was ended into the outbox.
    expect(after.outbox.pending).toBeGreaterThanOrEqual(before.outbox.pending);
    expect(after.outbox.accepted_since_start).toBeGreaterThanOrEqual(before.outbox.accepted_since_start);

    // A bad config is refused; the daemon goes on with the running one.
    const good = readFileSyncUtf8(box.config);
    writeFileSync(box.config, good.replace('fps: 4 }', 'fps: -1 }'));
    run.child.kill('SIGHUP');
    const refused = await e2e.waitFor('the refused reload', async () => {
      const s = await e2e.agentStatus<DaemonStatus>(box.config).catch(() => undefined);
      return s?.last_reload && !s.last_reload.ok ? s : undefined;
    });
    expect(refused.last_reload?.error).toMatch(/config_invalid/);
    expect(refused.cameras.map((c) => c.name)).toEqual(['front', 'back']);
    expect(refused.cameras.every((c) => c.phase === 'running' || c.phase === 'starting')).toBe(true);
    writeFileSync(box.config, good);

    run.child.kill('SIGTERM');
    expect(await e2e.exitOf(run, 35_000)).toBe(0);
    const queued = (await e2e.outboxItems(dir)).filter((i) => i.kind === 'event');
    expect(queued.length).toBeGreaterThanOrEqual(after.outbox.accepted_since_start);
    expect(queued.every((i) => i.state === 'pending')).toBe(true);

    // Back online (the paired collector), one short scene: everything queued before is delivered.
    writeFileSync(
      box.config,
      `data_dir: ${dir}\n` + status + `cameras:\n` + camera('front', scene(4)) + readDevice(good),
    );
    const run2 = e2e.startAgent(box.config, ['--exit-when-idle']);
    expect(await e2e.exitOf(run2, 90_000)).toBe(0);
    const items = await e2e.outboxItems(dir);
    expect(items.filter((i) => i.state !== 'acked')).toEqual([]);
    const stored = new Set((await collector.events()).map((e) => e.id));
    expect(queued.map((i) => i.eventId).filter((id) => !stored.has(id))).toEqual([]);
  });
});

const readFileSyncUtf8 = (file: string): string => readFileSync(file, 'utf8');

/** The device section pairing wrote (kept when the test rewrites the rest of the file). */
function readDevice(fileOrText: string): string {
  const text = fileOrText.includes('\n') ? fileOrText : readFileSyncUtf8(fileOrText);
  const i = text.indexOf('\ndevice:');
  return i < 0 ? '' : text.slice(i + 1);
}
