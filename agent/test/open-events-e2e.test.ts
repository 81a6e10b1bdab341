/**
 * Acceptance of "no event left open" (issue 11 finding 1) with real processes: the collector (`vigil-cloud serve`),
 * boxes paired through `vigil-agent pair`, `vigil-agent run` on a generated lavfi scene whose motion lasts a minute
 * (so an event is open when the box dies).
 *
 * - kill -9 of the box with events open, then a restart: the restarted daemon ends them (`agent_restart`) before its
 *   cameras start; a clean SIGTERM ends them with `agent_stop`; no event of the box stays active.
 * - a box killed and never started again: the collector ends its events itself after `events.lost_after` (a few
 *   seconds here) with `device_lost`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticSceneInput } from '../camera/synthetic.js';
import {
  exitOf,
  killLeftovers,
  pairBox,
  requireBuild,
  startAgent,
  startCollector,
  waitFor,
  type CollectorProc,
} from './e2e-run-support.js';

interface ApiEvent {
  id: string;
  device_id: string;
  status: 'active' | 'ended';
  end_reason: string | null;
  rev: number;
  started_at: string;
  ended_at: string | null;
}

let tmp: string;
let collector: CollectorProc;
let lostCollector: CollectorProc;

/** Motion for a minute: a square crawling across the frame (one event that stays open). */
const longMotion = JSON.stringify(
  syntheticSceneInput({ width: 320, height: 180, fps: 5, durationS: 60, startS: 0.4, endS: 60, speedPxPerS: 4 }),
);
/** Two seconds with no event (the square shows for one frame): lets --exit-when-idle end a run quickly. */
const quiet = JSON.stringify(
  syntheticSceneInput({ width: 320, height: 180, fps: 5, durationS: 2, startS: 1, endS: 1.1 }),
);
const camera = (input: string): string =>
  `cameras:\n  - name: yard\n    input: ${input}\n    realtime: true\n    detect: { width: 320, height: 180, fps: ` +
  `5 }\n    restart_backoff_s: { initial: 0.2, max: 1 }\n`;

/** The box's config with another camera section, keeping the `device:` section pairing wrote. */
function withCamera(config: string, dir: string, input: string): void {
  const text = readFileSync(config, 'utf8');
  const i = text.indexOf('\ndevice:');
  writeFileSync(
    config,
    `data_dir: ${dir}\nstatus: { listen: ${join(dir, 'status.sock')} }\n` +
      camera(input) +
      (i < 0 ? '' : text.slice(i + 1)),
  );
}

async function eventsOf(c: CollectorProc, deviceId: string): Promise<ApiEvent[]> {
  const res = await c.get(`/v1/events?device=${deviceId}&limit=200`);
  if (res.status !== 200) throw new Error(`GET /v1/events: ${res.status}`);
  return ((await res.json()) as { events: ApiEvent[] }).events;
}

const activeOf = async (c: CollectorProc, deviceId: string): Promise<ApiEvent[]> =>
  (await eventsOf(c, deviceId)).filter((e) => e.status === 'active');

beforeAll(async () => {
  requireBuild();
  tmp = mkdtempSync(join(tmpdir(), 'vigil-open-events-'));
  collector = await startCollector(join(tmp, 'cloud'));
  // A second collector that gives up on a silent box after 3 s (env → config events.*).
  process.env.VIGIL_CLOUD__EVENTS__LOST_AFTER = '3s';
  process.env.VIGIL_CLOUD__EVENTS__SWEEP_INTERVAL = '500ms';
  try {
    lostCollector = await startCollector(join(tmp, 'cloud-lost'));
  } finally {
    delete process.env.VIGIL_CLOUD__EVENTS__LOST_AFTER;
    delete process.env.VIGIL_CLOUD__EVENTS__SWEEP_INTERVAL;
  }
});
afterAll(async () => {
  await collector?.stop();
  await lostCollector?.stop();
  killLeftovers();
  rmSync(tmp, { recursive: true, force: true });
});

describe('no event left open (real daemon, real collector)', () => {
  it('kill -9 with an event open, restart: ended with agent_restart; SIGTERM: agent_stop; nothing stays active', {
    timeout: 180_000,
  }, async () => {
    const dir = join(tmp, 'box');
    const box = await pairBox(collector, dir, `status: { listen: ${join(dir, 'status.sock')} }\n` + camera(longMotion));

    // Run 1: killed (SIGKILL) while its event is open at the collector.
    const run1 = startAgent(box.config);
    const open1 = await waitFor('an active event of run 1 at the collector', async () => {
      const a = await activeOf(collector, box.deviceId);
      return a.length > 0 ? a : undefined;
    });
    run1.child.kill('SIGKILL');
    await exitOf(run1, 10_000);
    // What issue 11 found: after the kill the event is left active at the collector.
    expect((await activeOf(collector, box.deviceId)).map((e) => e.id)).toEqual(open1.map((e) => e.id));

    // Run 2: the same long scene; its start ends run 1's events, then a new event opens; stopped with SIGTERM.
    const run2 = startAgent(box.config);
    const open2 = await waitFor('run 1 ended and an event of run 2 open', async () => {
      const all = await eventsOf(collector, box.deviceId);
      const run1Done = open1.every((o) => all.find((e) => e.id === o.id)?.status === 'ended');
      const fresh = all.filter((e) => e.status === 'active' && !open1.some((o) => o.id === e.id));
      return run1Done && fresh.length > 0 ? fresh : undefined;
    });
    expect(run2.out()).toMatch(/"ended_left_open":1/);
    for (const o of open1) {
      const e = (await eventsOf(collector, box.deviceId)).find((x) => x.id === o.id)!;
      expect(e).toMatchObject({ status: 'ended', end_reason: 'agent_restart' });
      expect(e.rev).toBeGreaterThan(o.rev);
      expect(Date.parse(e.ended_at!)).toBeGreaterThanOrEqual(Date.parse(e.started_at));
    }
    run2.child.kill('SIGTERM');
    expect(await exitOf(run2, 30_000)).toBe(0);

    // Run 3: a quiet scene; sends what run 2 queued at shutdown, then exits when idle.
    withCamera(box.config, dir, quiet);
    const run3 = startAgent(box.config, ['--exit-when-idle']);
    expect(await exitOf(run3, 90_000)).toBe(0);
    expect(run3.out()).toMatch(/"ended_left_open":0/);

    const all = await eventsOf(collector, box.deviceId);
    expect(all.filter((e) => e.status === 'active')).toEqual([]);
    for (const o of open2)
      expect(all.find((e) => e.id === o.id)).toMatchObject({ status: 'ended', end_reason: 'agent_stop' });
    expect(all.every((e) => e.end_reason !== null)).toBe(true);
  });

  it('a box killed and never started again: the collector ends its events after the quiet time (device_lost)', {
    timeout: 120_000,
  }, async () => {
    const dir = join(tmp, 'gone');
    const box = await pairBox(
      lostCollector,
      dir,
      `status: { listen: ${join(dir, 'status.sock')} }\n` + camera(longMotion),
    );
    const run = startAgent(box.config);
    const open = await waitFor('an active event at the collector', async () => {
      const a = await activeOf(lostCollector, box.deviceId);
      return a.length > 0 ? a : undefined;
    });
    run.child.kill('SIGKILL');
    await exitOf(run, 10_000);
    const killedAt = Date.now();

    const ended = await waitFor(
      'the collector to end the events of the silent box',
      async () => {
        const all = await eventsOf(lostCollector, box.deviceId);
        return all.some((e) => e.status === 'active') ? undefined : all;
      },
      60_000,
      250,
    );
    for (const o of open) {
      const e = ended.find((x) => x.id === o.id)!;
      expect(e).toMatchObject({ status: 'ended', end_reason: 'device_lost' });
      // Ended at its last message time, which came before the kill.
      expect(Date.parse(e.ended_at!)).toBeLessThanOrEqual(killedAt + 1000);
      expect(Date.parse(e.ended_at!)).toBeGreaterThanOrEqual(Date.parse(e.started_at));
    }
  });
});
