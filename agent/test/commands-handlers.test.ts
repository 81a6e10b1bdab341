import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { envelopeBytesFor, MQTT_ENVELOPE_MAX_BYTES, THUMBNAIL_MAX_BYTES } from '../../firmware-protocol/limits.js';
import { validateSnapshotResult, type Command } from '../../firmware-protocol/messages.js';
import type { Frame } from '../camera/frame.js';
import { syntheticSceneInput } from '../camera/synthetic.js';
import {
  reloadConfigHandler,
  resultBody,
  SNAPSHOT_MAX_BYTES,
  snapshotHandler,
  statusHandler,
  type CommandOutcome,
} from '../commands/index.js';
import { loadAgentConfig } from '../config.js';
import { CameraRunner } from '../daemon/camera-runner.js';
import { formatStatus } from '../status/format.js';
import { DaemonStatusSchema, type DaemonStatus } from '../status/schema.js';
import { makeCommand } from './support-commands/commands.js';

/**
 * The handlers of snapshot, status and reload_config, and CameraRunner.latestFrame (the current frame a snapshot
 * is taken from): a snapshot is a decodable JPEG of the frame at the asked size; status answers the status document.
 */

const clock = new ManualClock();
const log = silentLogger();
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A 320×240 yuv420p frame: left half black, right half white, neutral chroma. */
function halfFrame(camera = 'door', width = 320, height = 240): Frame {
  const data = Buffer.alloc((width * height * 3) / 2, 128);
  for (let y = 0; y < height; y++) {
    data.fill(16, y * width, y * width + width / 2);
    data.fill(235, y * width + width / 2, (y + 1) * width);
  }
  return { camera, seq: 7, width, height, data, mediaMs: 1_400, wallMs: Date.UTC(2026, 4, 1, 12) };
}

const snap = (args: Record<string, unknown>): Command =>
  makeCommand('box-1', clock, { kind: 'snapshot', args: args as Command['args'] });

function done(o: CommandOutcome): Record<string, unknown> {
  if (o.status !== 'done') throw new Error(`expected done, got ${o.status} ${o.code}: ${o.message}`);
  return o.result;
}

describe('snapshot handler', () => {
  const frames = new Map<string, Frame>([['door', halfFrame()]]);
  const handler = snapshotHandler({ cameras: () => ['door', 'yard'], latestFrame: (c) => frames.get(c) });

  it('answers a decodable JPEG of the current frame at its own size, with the capture time', async () => {
    const r = done(await handler({ command: snap({ camera: 'door' }), log }));
    expect(validateSnapshotResult.issues(r)).toEqual([]);
    expect(r).toMatchObject({ camera: 'door', width: 320, height: 240, captured_at: '2026-05-01T12:00:00.000Z' });
    const jpeg = Buffer.from(r.jpeg_b64 as string, 'base64');
    const { data, info } = await sharp(jpeg).greyscale().raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([320, 240]);
    // The picture is the frame: dark on the left, bright on the right.
    expect(data[120 * 320 + 40]).toBeLessThan(30);
    expect(data[120 * 320 + 280]).toBeGreaterThan(225);
  });

  it('scales to the asked width (height follows the frame) and never enlarges', async () => {
    const half = done(await handler({ command: snap({ camera: 'door', width: 160 }), log }));
    expect([half.width, half.height]).toEqual([160, 120]);
    const meta = await sharp(Buffer.from(half.jpeg_b64 as string, 'base64')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 160, 120]);
    const big = done(await handler({ command: snap({ camera: 'door', width: 1280 }), log }));
    expect([big.width, big.height]).toEqual([320, 240]);
  });

  it('the largest snapshot result still fits a result record and the MQTT envelope a collector must take', () => {
    const jpeg_b64 = Buffer.alloc(SNAPSHOT_MAX_BYTES, 0xff).toString('base64');
    const result = {
      camera: 'a'.repeat(64),
      width: 8192,
      height: 8192,
      captured_at: new Date().toISOString(),
      jpeg_b64,
    };
    const record = resultBody(snap({ camera: 'door' }), 'd'.repeat(64), { status: 'done', result }, clock.now());
    expect(JSON.parse(record.toString()).status).toBe('done');
    expect(record.length).toBeLessThanOrEqual(THUMBNAIL_MAX_BYTES);
    expect(envelopeBytesFor(record.length)).toBeLessThanOrEqual(MQTT_ENVELOPE_MAX_BYTES);
  });

  it('camera_unknown for a camera not configured; no_frame for one without a frame now', async () => {
    expect(await handler({ command: snap({ camera: 'garage' }), log })).toMatchObject({
      status: 'failed',
      code: 'camera_unknown',
    });
    expect(await handler({ command: snap({ camera: 'yard' }), log })).toMatchObject({
      status: 'failed',
      code: 'no_frame',
    });
  });
});

describe('CameraRunner.latestFrame', () => {
  it('holds the frame read last while the camera runs, and none once it has stopped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-cmd-runner-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const input = JSON.stringify(syntheticSceneInput({ width: 160, height: 96, fps: 10, durationS: 60 }));
    const yaml = join(dir, 'agent.yaml');
    writeFileSync(
      yaml,
      `data_dir: ${dir}\ncameras:\n  - name: yard\n    input: ${input}\n` +
        '    detect: { width: 160, height: 96, fps: 10 }\n    realtime: true\n',
    );
    const { config } = loadAgentConfig(yaml, {}, { env: {}, defaultFile: '/nonexistent/agent.yaml' });
    const runner = new CameraRunner({
      config: config.cameras[0]!,
      detector: undefined,
      modelCacheDir: join(dir, 'models'),
      onEvent: async () => undefined,
      logger: log,
    });
    cleanups.push(() => runner.stop());
    expect(runner.latestFrame()).toBeUndefined();
    runner.start();
    const t0 = Date.now();
    while (!runner.latestFrame() && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 50));
    const first = runner.latestFrame()!;
    expect(first).toMatchObject({ camera: 'yard', width: 160, height: 96 });
    expect(first.data.length).toBe((160 * 96 * 3) / 2);
    while (runner.latestFrame()!.seq === first.seq && Date.now() - t0 < 20_000) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(runner.latestFrame()!.seq).toBeGreaterThan(first.seq);
    // A snapshot of it through the handler, as the daemon wires it.
    const handler = snapshotHandler({ cameras: () => [runner.name], latestFrame: () => runner.latestFrame() });
    const r = done(await handler({ command: snap({ camera: 'yard' }), log }));
    expect([r.width, r.height]).toEqual([160, 96]);
    await runner.stop();
    expect(runner.latestFrame()).toBeUndefined();
  }, 30_000);
});

describe('status and reload_config handlers', () => {
  const doc: DaemonStatus = {
    v: 1,
    version: '1.2.3',
    pid: 42,
    device_id: 'box-1',
    started_at: '2026-05-01T12:00:00.000Z',
    uptime_s: 12.5,
    config_file: '/etc/vigil/agent.yaml',
    data_dir: '/var/lib/vigil',
    mode: 'motion',
    model: null,
    stopping: false,
    last_reload: null,
    cameras: [],
    outbox: {
      path: '/var/lib/vigil/outbox.db',
      depth: 0,
      pending: 0,
      in_flight: 0,
      dead: 0,
      oldest_pending_age_s: null,
      dropped: 0,
      live_bytes: 0,
      budget_bytes: 1,
      disk_full: false,
      accepted_since_start: 0,
      refused_since_start: 0,
    },
    uplink: {
      state: 'connected',
      transport: 'mqtt',
      url: 'mqtt://broker',
      last_ack_at: null,
      clock_offset_ms: 0,
      consecutive_failures: 0,
      paused_until: null,
      acked: 0,
      events_sent: 0,
      thumbnails_sent: 0,
      heartbeats_sent: 0,
      failures: 0,
    },
  };

  it("status answers the daemon's status document as it is when the command runs", async () => {
    let calls = 0;
    const handler = statusHandler(() => ({ ...doc, uptime_s: ++calls }));
    const r = done(await handler({ command: makeCommand('box-1', clock), log }));
    expect(Value.Check(DaemonStatusSchema, r)).toBe(true);
    expect(r).toEqual({ ...doc, uptime_s: 1 });
  });

  it('the status view shows the command counters once commands came (vigil-agent status)', () => {
    expect(formatStatus(doc)).not.toContain('commands');
    const commands = {
      received: 6,
      refused_signature: 1,
      refused_invalid: 0,
      duplicates: 1,
      refused: 1,
      executed: 3,
      failed: 1,
      results_lost: 0,
    };
    expect(Value.Check(DaemonStatusSchema, { ...doc, commands })).toBe(true);
    expect(formatStatus({ ...doc, commands })).toContain(
      'commands received 6  run 3 (failed 1)  refused 1  duplicates 1  dropped 1',
    );
  });

  it('reload_config answers the cameras restarted, or reload_failed with the reason', async () => {
    const ok = reloadConfigHandler(async () => ({ ok: true, restarted: ['door'] }));
    expect(await ok({ command: makeCommand('box-1', clock, { kind: 'reload_config' }), log })).toEqual({
      status: 'done',
      result: { restarted_cameras: ['door'] },
    });
    const bad = reloadConfigHandler(async () => ({ ok: false, error: 'cameras.0.detect.fps: bad', restarted: [] }));
    expect(await bad({ command: makeCommand('box-1', clock, { kind: 'reload_config' }), log })).toMatchObject({
      status: 'failed',
      code: 'reload_failed',
      message: 'cameras.0.detect.fps: bad',
    });
  });
});
