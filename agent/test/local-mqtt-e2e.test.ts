/**
 * The local integration as a real process, against a private Mosquitto started here (never the machine's 1883):
 * `analyze --config` on vtest.avi turns the person count (the occupancy sensor's state) up and back to 0 as the
 * events say; the daemon's detect switch stops a camera's events; SIGHUP without a camera removes its entities;
 * with the LAN broker down the cloud still gets every event, the local queue drops its oldest (counted) and the
 * cameras process as many frames as a box without local_mqtt.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalEvent } from '../../firmware-protocol/local/messages.js';
import { testAsset } from '../../shared/testing/index.js';
import { syntheticSceneInput } from '../camera/synthetic.js';
import { Occupancy } from '../local/index.js';
import type { DaemonStatus } from '../status/schema.js';
import type { EventMessage } from '../track/messages.js';
import * as e2e from './e2e-run-support.js';
import { freePort, MosquittoInstance } from './support-uplink/mosquitto.js';
import { retainedOn, Watcher } from './support-local/watcher.js';

let tmp: string;
let broker: MosquittoInstance;
let collector: e2e.CollectorProc;

beforeAll(async () => {
  e2e.requireBuild();
  tmp = mkdtempSync(join(tmpdir(), 'vigil-local-e2e-'));
  broker = await MosquittoInstance.start();
  collector = await e2e.startCollector(join(tmp, 'cloud'));
});
afterAll(async () => {
  await collector?.stop();
  await broker?.close();
  e2e.killLeftovers();
  rmSync(tmp, { recursive: true, force: true });
});

const scene = (durationS: number, endS = 3): string =>
  JSON.stringify(syntheticSceneInput({ width: 320, height: 180, fps: 5, durationS, startS: 0.5, endS }));
const camera = (name: string, input: string, extra = ''): string =>
  `  - name: ${name}\n    input: ${input}\n    detect: { width: 320, height: 180, fps: 5 }\n    realtime: true\n` +
  `    restart_backoff_s: { initial: 0.2, max: 1 }\n${extra}`;
const localSection = (url: string, box: string, extra = ''): string =>
  `local_mqtt: { url: "${url}", box_name: ${box}, diagnostics_interval_s: 5${extra} }\n`;

/** The device section pairing wrote (kept when the test rewrites the rest of the file). */
function deviceOf(file: string): string {
  const text = readFileSync(file, 'utf8');
  const i = text.indexOf('\ndevice:');
  return i < 0 ? '' : text.slice(i + 1);
}

describe('analyze --config with local_mqtt (vtest.avi, real model)', () => {
  const clip = testAsset('media', 'vtest.avi');
  const model = testAsset('models', 'yolox_nano.onnx');
  it.skipIf(!clip || !model)(
    'people walking turn the person count up and back to 0, as the events say',
    {
      timeout: 300_000,
    },
    async () => {
      const config = join(tmp, 'analyze.yaml');
      writeFileSync(
        config,
        `data_dir: ${join(tmp, 'analyze-data')}\nmodel: { path: ${model} }\n` +
          localSection(broker.url, 'clipbox') +
          `cameras:\n  - name: yard\n    input: ${clip}\n    detect: { width: 384, height: 288, fps: 2 }\n` +
          `    labels: [person]\n`,
      );
      const ha = await Watcher.connect(broker.url, ['vigil/clipbox/#', 'homeassistant/device/#']);
      try {
        const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
          execFile(
            process.execPath,
            [e2e.AGENT_BIN, 'analyze', clip as string, '--config', config, '--camera', 'yard', '--json'],
            { timeout: 280_000, maxBuffer: 64 * 1024 * 1024 },
            (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
          ),
        );
        expect(r.code, r.stderr).toBe(0);
        const lines = r.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        const summary = lines.at(-1) as { type: string; local_mqtt: { state: string; dropped: number } };
        expect(summary.type).toBe('summary');
        expect(summary.local_mqtt).toMatchObject({ state: 'connected', dropped: 0 });
        const events = lines.filter((l) => !('kind' in l) && l.type !== 'summary') as unknown as EventMessage[];
        expect(events.filter((e) => e.type === 'new').length).toBeGreaterThan(0);

        // The counts the broker saw are exactly those the printed events make, in order.
        const o = new Occupancy();
        const expected = ['0'];
        for (const e of events) for (const ch of o.apply(e)) if (!ch.zone) expected.push(String(ch.count));
        const countTopic = 'vigil/clipbox/yard/person';
        await ha.waitFor('the final count', () => ha.on(countTopic).length >= expected.length);
        const seen = ha.on(countTopic).map((s) => s.payload.toString());
        expect(seen).toEqual(expected);
        expect(Math.max(...seen.map(Number))).toBeGreaterThanOrEqual(1); // occupancy ON …
        expect(seen.at(-1)).toBe('0'); // … then OFF
        const local = ha.on('vigil/clipbox/events').map((s) => JSON.parse(s.payload.toString()) as LocalEvent);
        expect(local.map((e) => `${e.type} ${e.id}`)).toEqual(events.map((e) => `${e.type} ${e.id}`));
        expect(ha.on('vigil/clipbox/yard/person/snapshot').length).toBeGreaterThan(0);
        const discovery = JSON.parse(ha.on('homeassistant/device/clipbox_yard/config')[0]?.payload.toString() ?? '{}');
        expect(discovery.cmps.yard_person_occupancy.stat_t).toBe(countTopic);
      } finally {
        await ha.close();
      }
    },
  );
});

describe('vigil-agent doctor with local_mqtt', () => {
  it('passes with the LAN broker up (publish + read back) and fails with it down, naming it', {
    timeout: 60_000,
  }, async () => {
    const deadUrl = `mqtt://127.0.0.1:${await freePort()}`;
    const check = async (url: string): Promise<{ status: string; detail: string; hint: string }> => {
      const config = join(tmp, `doctor-${url.split(':').at(-1)}.yaml`);
      writeFileSync(config, `data_dir: ${join(tmp, 'doctor-data')}\n` + localSection(url, 'doctorbox'));
      const r = await e2e.agentCli(['doctor', '--config', config, '--json']);
      const report = JSON.parse(r.stdout) as {
        checks: Array<{ name: string; status: string; detail: string; hint: string }>;
      };
      const c = report.checks.find((x) => x.name === 'local_mqtt');
      if (!c) throw new Error(`no local_mqtt check in ${r.stdout}`);
      return c;
    };
    const up = await check(broker.url);
    expect(up.status).toBe('pass');
    expect(up.detail).toContain('published and read back under vigil/doctorbox/');
    const down = await check(deadUrl);
    expect(down.status).toBe('fail');
    expect(down.detail).toMatch(/ECONNREFUSED|refused/i);
    expect(down.hint).toMatch(/LAN broker/);
  });
});

describe('vigil-agent run with local_mqtt', () => {
  it('detect/set OFF stops a camera’s events (state OFF); SIGHUP without a camera removes its entities', {
    timeout: 180_000,
  }, async () => {
    const dir = join(tmp, 'switch');
    const status = `status: { listen: ${join(dir, 'status.sock')} }\n`;
    const cams = (both: boolean): string =>
      'cameras:\n' +
      camera('front', scene(4), '    loop: true\n') +
      (both ? camera('back', scene(4), '    loop: true\n') : '');
    const local = localSection(broker.url, 'switchbox');
    const box = await e2e.pairBox(collector, dir, status + local + cams(true));
    const ha = await Watcher.connect(broker.url, ['vigil/switchbox/#', 'homeassistant/device/#']);
    const run = e2e.startAgent(box.config);
    try {
      const localEvents = (): LocalEvent[] =>
        ha.on('vigil/switchbox/events').map((s) => JSON.parse(s.payload.toString()) as LocalEvent);
      await ha.waitFor(
        'discovery of both cameras',
        () => ['switchbox_front', 'switchbox_back'].every((c) => ha.on(`homeassistant/device/${c}/config`).length > 0),
        60_000,
      );
      await ha.waitFor(
        'events of both cameras',
        () => ['front', 'back'].every((c) => localEvents().some((e) => e.camera === c && e.type === 'end')),
        60_000,
      );
      expect(ha.last('vigil/switchbox/front/detect/state')).toBe('ON');

      await ha.publish('vigil/switchbox/front/detect/set', 'OFF');
      await ha.waitFor('state OFF', () => ha.last('vigil/switchbox/front/detect/state') === 'OFF');
      // The open event (if any) ends; after that, nothing new from front while back goes on.
      await new Promise((r) => setTimeout(r, 1500));
      const cut = localEvents().length;
      const s1 = await e2e.agentStatus<DaemonStatus>(box.config);
      expect(s1.local_mqtt).toMatchObject({ state: 'connected', detect_off: ['front'], dropped: 0 });
      const text = await e2e.agentCli(['status', '--config', box.config]);
      expect(text.stdout).toMatch(
        /^local {3}connected mqtt:\/\/127\.0\.0\.1:\d+ {2}prefix vigil\/switchbox .*detect off: front/m,
      );
      await ha.waitFor(
        'two more passes of back',
        () =>
          localEvents()
            .slice(cut)
            .filter((e) => e.camera === 'back' && e.type === 'new').length >= 2,
        40_000,
      );
      expect(
        localEvents()
          .slice(cut)
          .filter((e) => e.camera === 'front'),
      ).toEqual([]);
      const s2 = await e2e.agentStatus<DaemonStatus>(box.config);
      const front = (s: DaemonStatus) => s.cameras.find((c) => c.name === 'front');
      expect(front(s2)?.frames).toBeGreaterThan(front(s1)?.frames ?? 0); // still read …
      expect(front(s2)?.frames_processed).toBe(front(s1)?.frames_processed); // … not processed
      // The cloud got nothing new from front either.
      const cloudFront = (await collector.events()).filter((e) => e.camera === 'front').length;
      await new Promise((r) => setTimeout(r, 1000));
      expect((await collector.events()).filter((e) => e.camera === 'front').length).toBe(cloudFront);

      // back leaves the config: SIGHUP removes its HA entities and retained states; front stays.
      writeFileSync(box.config, `data_dir: ${dir}\n` + status + local + cams(false) + deviceOf(box.config));
      run.child.kill('SIGHUP');
      await ha.waitFor(
        'back removed',
        () => ha.on('homeassistant/device/switchbox_back/config').at(-1)?.payload.length === 0,
        30_000,
      );
      const retained = await retainedOn(broker.url, 'homeassistant/device/+/config');
      const mine = retained.map((r) => r.topic).filter((t) => t.startsWith('homeassistant/device/switchbox'));
      expect(mine.sort()).toEqual([
        'homeassistant/device/switchbox/config',
        'homeassistant/device/switchbox_front/config',
      ]);
      expect(await retainedOn(broker.url, 'vigil/switchbox/back/#')).toEqual([]);
    } finally {
      run.child.kill('SIGTERM');
      expect(await e2e.exitOf(run, 35_000)).toBe(0);
      await ha.close();
    }
    expect((await retainedOn(broker.url, 'vigil/switchbox/available')).map((r) => r.payload.toString())).toEqual([
      'offline',
    ]);
  });

  it('with the LAN broker down the cloud gets every event, the local queue drops oldest, frames are not lost', {
    timeout: 180_000,
  }, async () => {
    const deadUrl = `mqtt://127.0.0.1:${await freePort()}`;
    const cams = 'cameras:\n' + ['a', 'b', 'c'].map((n) => camera(n, scene(12, 4))).join('');
    const boxes = await Promise.all(
      (['down', 'none'] as const).map((name) =>
        e2e.pairBox(
          collector,
          join(tmp, name),
          `status: { listen: ${join(tmp, name, 'status.sock')} }\n` +
            (name === 'down' ? localSection(deadUrl, 'downbox', ', queue_size: 10') : '') +
            cams,
        ),
      ),
    );
    // Both boxes at once, on the same machine load: the one whose LAN broker is down must keep up.
    const runs = boxes.map((b) => e2e.startAgent(b.config));
    try {
      const finals = await Promise.all(
        boxes.map((b) =>
          e2e.waitFor(
            'every camera ended and the outbox drained',
            async () => {
              const s = await e2e.agentStatus<DaemonStatus>(b.config);
              const done = s.cameras.every((c) => c.phase === 'ended');
              return done && s.outbox.pending === 0 && s.outbox.in_flight === 0 ? s : undefined;
            },
            90_000,
            300,
          ),
        ),
      );
      const [down, none] = finals as [DaemonStatus, DaemonStatus];
      const processed = (s: DaemonStatus) => s.cameras.reduce((n, c) => n + (c.frames_processed ?? 0), 0);
      expect(processed(none)).toBeGreaterThan(150); // 3 cameras × 12 s × 5 fps, realtime
      expect(processed(down)).toBeGreaterThanOrEqual(Math.floor(processed(none) * 0.95));
      expect(down.local_mqtt).toMatchObject({ state: 'connecting', queued: 10 });
      expect(down.local_mqtt?.dropped).toBeGreaterThan(0);
      expect(down.local_mqtt?.last_error).toMatch(/ECONNREFUSED|refused/i);
      expect(down.outbox.accepted_since_start).toBeGreaterThanOrEqual(6);
      expect(down.outbox.refused_since_start).toBe(0);
      // Every event of the box is stored at the collector, acked.
      const items = (await e2e.outboxItems(boxes[0]!.dataDir)).filter((i) => i.kind === 'event');
      expect(items.length).toBe(down.outbox.accepted_since_start);
      expect(items.filter((i) => i.state !== 'acked')).toEqual([]);
      const stored = new Set((await collector.events()).map((e) => e.id));
      expect(items.map((i) => i.eventId).filter((id) => !stored.has(id))).toEqual([]);
    } finally {
      for (const r of runs) r.child.kill('SIGTERM');
      for (const r of runs) await e2e.exitOf(r, 35_000);
    }
  });
});
