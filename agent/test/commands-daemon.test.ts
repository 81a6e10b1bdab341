import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log/index.js';
import type { CommandResult } from '../../firmware-protocol/messages.js';
import { syntheticSceneInput } from '../camera/synthetic.js';
import { loadAgentConfig } from '../config.js';
import { credentialsPath, writeCredentials } from '../credentials/store.js';
import { Daemon } from '../daemon/daemon.js';
import type { DaemonStatus } from '../status/schema.js';
import { waitFor } from './support-uplink/harness.js';
import { CommandCollector } from './support-commands/collector.js';
import { logLines, testDevice } from './support-commands/commands.js';

/**
 * The daemon's command wiring, in process (daemon/command-channel.ts): a box on HTTPS only long-polls a small
 * collector; snapshot, status and reload_config run through the real handlers on a running lavfi camera, results
 * go through the outbox; after a restart on the same data dir the same command id does not run again.
 */

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startBox(dir: string, logs: string[]): Promise<Daemon> {
  const yaml = join(dir, 'agent.yaml');
  const scene = JSON.stringify(syntheticSceneInput({ width: 320, height: 180, fps: 5, durationS: 600 }));
  writeFileSync(
    yaml,
    `data_dir: ${dir}\nstatus:\n  listen: ${join(dir, 'status.sock')}\nuplink:\n  transport: https\n` +
      '  heartbeat_interval: 0s\n' +
      `cameras:\n  - name: yard\n    input: ${scene}\n    detect: { width: 320, height: 180, fps: 5 }\n` +
      '    realtime: true\n',
  );
  const daemon = new Daemon({
    loadConfig: () => loadAgentConfig(yaml, {}, { env: {}, defaultFile: '/nonexistent/agent.yaml' }),
    logger: createLogger({ component: 'test', level: 'info', destination: { write: (l) => void logs.push(l) } }),
    version: 'test',
  });
  await daemon.start();
  return daemon;
}

const resultFor = (c: CommandCollector, id: string): CommandResult | undefined =>
  c.results.find((r) => r.command_id === id);

describe('daemon: commands over the HTTPS long-poll', () => {
  it('snapshot, status and reload_config answer; a command id never runs again after a restart', async () => {
    const device = testDevice();
    const c = new CommandCollector(device);
    cleanups.push(() => c.close());
    const url = await c.listenHttp();
    const dir = mkdtempSync(join(tmpdir(), 'vigil-cmd-daemon-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeCredentials(credentialsPath(dir), {
      v: 1,
      device_id: device.deviceId,
      key_id: device.keyId,
      secret_b64: device.secret.toString('base64'),
      cloud: url,
      endpoints: { https: url },
      paired_at: new Date().toISOString(),
    });
    const log = logLines();
    let daemon = await startBox(dir, log.lines);
    cleanups.push(() => daemon.stop());
    await waitFor('a frame', () => daemon.latestFrame('yard') !== undefined, 20_000);
    expect(daemon.latestFrame()?.camera).toBe('yard');

    const snap = c.command('snapshot', { camera: 'yard' });
    const status = c.command('status');
    const reload = c.command('reload_config');
    c.waiting.push(snap.envelope, status.envelope, reload.envelope);
    await waitFor('three results', () => c.results.length === 3, 20_000);
    const shot = resultFor(c, snap.id)!;
    expect(shot).toMatchObject({ status: 'done', command_kind: 'snapshot', result: { width: 320, height: 180 } });
    const meta = await sharp(Buffer.from(shot.result!.jpeg_b64 as string, 'base64')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 320, 180]);
    const doc = resultFor(c, status.id)!.result as unknown as DaemonStatus;
    expect(doc.device_id).toBe(device.deviceId);
    expect(doc.cameras.map((x) => x.name)).toEqual(['yard']);
    expect(doc.uplink.transport).toBe('https');
    expect(resultFor(c, reload.id)).toMatchObject({ status: 'done', result: { restarted_cameras: [] } });
    expect(c.polls.every((w) => w === 25)).toBe(true);
    await waitFor('results acked', () => daemon.snapshot().commands?.executed === 3, 5_000);

    await daemon.stop();
    daemon = await startBox(dir, log.lines);
    // The snapshot command handed out again after the restart (the collector re-hands one it saw no result of):
    // its id is remembered in the outbox file, so it does not run; a new command does.
    const again = c.command('status');
    c.waiting.push(snap.envelope, again.envelope);
    await waitFor('both seen', () => (daemon.snapshot().commands?.received ?? 0) >= 2, 30_000);
    await waitFor('the new one answered', () => resultFor(c, again.id) !== undefined, 10_000);
    const counters = daemon.snapshot().commands!;
    expect(counters.executed).toBe(1);
    expect(counters).toMatchObject({ received: 2, duplicates: 1, refused_signature: 0 });
    expect(c.results.filter((r) => r.command_id === snap.id)).toHaveLength(1);
  }, 90_000);
});
