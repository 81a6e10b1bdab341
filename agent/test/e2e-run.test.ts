/**
 * The acceptance test of `vigil-agent run`, with real processes only: the collector (`vigil-cloud serve`), a box
 * paired through `vigil-agent pair`, and the daemon watching the pedestrians clip with the YOLOX detector.
 * SIGTERM mid-run and a restart must lose nothing: every event id the outbox accepted reaches the collector, and
 * the collector holds nothing else.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testAsset } from '../../shared/testing/index.js';
import type { DaemonStatus } from '../status/schema.js';
import * as e2e from './e2e-run-support.js';

const model = testAsset('models', 'yolox_nano.onnx');
const clip = testAsset('media', 'vtest.avi');

let tmp: string;
let collector: e2e.CollectorProc | undefined;

beforeAll(async () => {
  e2e.requireBuild();
  tmp = mkdtempSync(join(tmpdir(), 'vigil-e2e-run-'));
  if (model && clip) collector = await e2e.startCollector(join(tmp, 'cloud'));
});
afterAll(async () => {
  await collector?.stop();
  e2e.killLeftovers();
  rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!model || !clip)('vigil-agent run end to end (collector, pairing, vtest.avi, YOLOX)', () => {
  it('sends person events with thumbnails; SIGTERM mid-run and a restart lose nothing', {
    timeout: 240_000,
  }, async () => {
    const c = collector as e2e.CollectorProc;
    // 24 s of the clip at 5 fps (120 frames), as fast as the pipeline takes them.
    const box = await e2e.pairBox(
      c,
      join(tmp, 'A'),
      `status:\n  listen: ${join(tmp, 'A', 'status.sock')}\n` +
        `model:\n  path: ${model}\n` +
        `cameras:\n  - name: street\n    input: ${clip}\n    detect: { width: 480, height: 360, fps: 5 }\n    ` +
        `labels: [person]\n` +
        `    ffmpeg: { input_args: ["-t", "24"] }\n`,
    );

    // Run 1: stopped with SIGTERM while the clip is still being analysed.
    const run1 = e2e.startAgent(box.config);
    const midway = await e2e.waitFor(
      'events accepted by the outbox',
      async () => {
        const s = await e2e.agentStatus<DaemonStatus>(box.config);
        return s.outbox.accepted_since_start >= 6 ? s : undefined;
      },
      120_000,
      300,
    );
    expect(midway.cameras[0]).toMatchObject({ name: 'street', phase: 'running', input_kind: 'file' });
    expect(midway.mode).toBe('objects');
    expect(midway.uplink.transport).toBe('https');
    run1.child.kill('SIGTERM');
    expect(await e2e.exitOf(run1, 35_000)).toBe(0);
    expect(run1.out()).toContain('"msg":"vigil-agent stopped"');
    const afterRun1 = await e2e.outboxItems(box.dataDir);
    const run1Ids = new Set(afterRun1.filter((i) => i.kind === 'event').map((i) => i.eventId));
    expect(run1Ids.size).toBeGreaterThan(0);
    // Open events were ended at shutdown: every event the run started has its `end` in the outbox.
    for (const id of run1Ids)
      expect(afterRun1.some((i) => i.kind === 'event' && i.eventId === id && i.rev > 0)).toBe(true);

    // Run 2: the clip again; exits once the clip ended and the outbox (run 1's leftovers too) is drained.
    const run2 = e2e.startAgent(box.config, ['--exit-when-idle']);
    expect(await e2e.exitOf(run2, 180_000)).toBe(0);
    expect(run2.out()).toContain('"reason":"idle"');

    const items = await e2e.outboxItems(box.dataDir);
    expect(items.filter((i) => i.state !== 'acked')).toEqual([]);
    const accepted = new Set(items.filter((i) => i.kind === 'event').map((i) => i.eventId));
    for (const id of run1Ids) expect(accepted.has(id)).toBe(true);

    const events = await c.events();
    const mine = events.filter((e) => e.camera === 'street');
    const stored = new Set(mine.map((e) => e.id));
    // Nothing lost, nothing invented: the collector holds exactly the ids the outbox accepted, each once.
    expect(mine.length).toBe(stored.size);
    expect([...accepted].filter((id) => !stored.has(id))).toEqual([]);
    expect([...stored].filter((id) => !accepted.has(id))).toEqual([]);
    expect(mine.every((e) => e.label === 'person')).toBe(true);
    expect(mine.every((e) => e.status === 'ended')).toBe(true);

    const withThumb = mine.filter((e) => e.thumbnail);
    expect(withThumb.length).toBeGreaterThan(0);
    const res = await c.get(`/v1/events/${withThumb[0]!.id}/thumbnail`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('image/jpeg');
    const jpeg = Buffer.from(await res.arrayBuffer());
    expect(jpeg.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
  });
});
