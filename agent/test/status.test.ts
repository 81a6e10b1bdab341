/**
 * The daemon's local status endpoint and `vigil-agent status`: served on loopback or a unix socket only, read
 * and checked by the client, a clear exit 3 when no daemon answers.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseListen } from '../config.js';
import { fetchDaemonStatus, formatStatus, startStatusServer, type DaemonStatus } from '../status/index.js';
import { agentCli, requireBuild } from './e2e-run-support.js';

let tmp: string;
beforeAll(() => {
  requireBuild();
  tmp = mkdtempSync(join(tmpdir(), 'vigil-status-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sample = (): DaemonStatus => ({
  v: 1,
  version: '0.1.0',
  pid: 4242,
  device_id: 'dev_01JGZ5ZQ7P4M3N2K1H0G9F8E7D',
  started_at: '2026-01-01T00:00:00.000Z',
  uptime_s: 93.5,
  config_file: '/etc/vigil/agent.yaml',
  data_dir: '/var/lib/vigil',
  mode: 'objects',
  model: '/var/lib/vigil/models/yolox_nano.onnx',
  stopping: false,
  last_reload: {
    at: '2026-01-01T00:01:00.000Z',
    ok: false,
    error: 'config_invalid: config key "cameras.0.detect.fps" (/etc/vigil/agent.yaml:5): must be >= 0',
    restarted_cameras: [],
  },
  cameras: [
    {
      name: 'door',
      phase: 'running',
      state: 'running',
      input_kind: 'rtsp',
      live: true,
      fps: 4.97,
      last_frame_age_s: 0.2,
      restarts: 0,
      last_error: null,
      frames: 460,
      frames_dropped: 3,
      events: 2,
      messages: 7,
      passes: 0,
    },
    {
      name: 'yard',
      phase: 'reconnecting',
      state: 'reconnecting',
      input_kind: 'rtsp',
      live: true,
      fps: 0,
      last_frame_age_s: null,
      restarts: 6,
      last_error: 'camera_unreachable: connection refused',
      frames: 0,
      frames_dropped: 0,
      events: 0,
      messages: 0,
      passes: 0,
    },
  ],
  outbox: {
    path: '/var/lib/vigil/outbox.db',
    depth: 3,
    pending: 2,
    in_flight: 1,
    dead: 0,
    oldest_pending_age_s: 4.2,
    dropped: 0,
    live_bytes: 9000,
    budget_bytes: 268435456,
    disk_full: false,
    accepted_since_start: 7,
    refused_since_start: 0,
  },
  uplink: {
    state: 'connected',
    transport: 'https',
    url: 'https://collector.example',
    last_ack_at: '2026-01-01T00:01:30.000Z',
    clock_offset_ms: -1200,
    consecutive_failures: 0,
    paused_until: null,
    acked: 12,
    events_sent: 7,
    thumbnails_sent: 5,
    heartbeats_sent: 3,
    failures: 0,
  },
});

describe('status endpoint', () => {
  it('serves the document on a unix socket; the client checks it; a stale socket file is replaced', async () => {
    const path = join(tmp, 'status.sock');
    writeFileSync(path, ''); // left behind by a daemon that died: nobody answers on it
    const server = await startStatusServer(parseListen(path), sample);
    try {
      expect(server.address).toBe(path);
      const got = await fetchDaemonStatus(parseListen(path));
      expect(got).toEqual(sample());
      // A second daemon on the same socket is refused instead of stealing it.
      await expect(startStatusServer(parseListen(path), sample)).rejects.toMatchObject({ code: 'status_in_use' });
    } finally {
      await server.close();
    }
  });

  it('listens on loopback TCP only', async () => {
    await expect(startStatusServer(parseListen('0.0.0.0:7411'), sample)).rejects.toMatchObject({
      code: 'config_invalid',
    });
    const server = await startStatusServer(parseListen('127.0.0.1:0'), sample);
    try {
      expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
      expect((await fetchDaemonStatus(parseListen(server.address))).device_id).toBe(sample().device_id);
    } finally {
      await server.close();
    }
  });

  it('rejects an answer that is not a status document', async () => {
    const path = join(tmp, 'other.sock');
    const server = await startStatusServer(parseListen(path), () => ({ hello: 'world' }) as unknown as DaemonStatus);
    try {
      await expect(fetchDaemonStatus(parseListen(path))).rejects.toMatchObject({ code: 'status_invalid' });
    } finally {
      await server.close();
    }
  });

  it('formats a compact human view with the problems visible', () => {
    const text = formatStatus(sample());
    expect(text).toContain('uplink  connected via https https://collector.example');
    expect(text).toContain('clock offset -1200 ms');
    expect(text).toContain('outbox  depth 3 (pending 2, in flight 1, dead 0)');
    expect(text).toMatch(/door\s+running\s+5\.0 fps/);
    expect(text).toMatch(/yard\s+reconnecting.*restarts 6.*error: camera_unreachable/);
    expect(text).toContain('FAILED: config_invalid');
  });
});

describe('vigil-agent status', () => {
  it('no daemon: a clear message and exit 3', async () => {
    const config = join(tmp, 'agent.yaml');
    writeFileSync(config, `data_dir: ${tmp}\nstatus: { listen: ${join(tmp, 'nobody.sock')} }\n`);
    const r = await agentCli(['status', '--config', config]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/daemon_not_running: no vigil-agent daemon answers at .*nobody\.sock/);
  });

  it('no daemon on TCP either (a free port): exit 3', async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as { port: number }).port;
    await new Promise<void>((r) => s.close(() => r()));
    const r = await agentCli([
      'status',
      '--json',
      '--listen',
      `127.0.0.1:${port}`,
      '--config',
      join(tmp, 'agent.yaml'),
    ]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/daemon_not_running/);
  });

  it("prints the running daemon's status as JSON and as text", async () => {
    const path = join(tmp, 'live.sock');
    const server = await startStatusServer(parseListen(path), sample);
    try {
      const json = await agentCli(['status', '--json', '--listen', path, '--config', join(tmp, 'agent.yaml')]);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toEqual(sample());
      const text = await agentCli(['status', '--listen', path, '--config', join(tmp, 'agent.yaml')]);
      expect(text.code).toBe(0);
      expect(text.stdout).toContain('device dev_01JGZ5ZQ7P4M3N2K1H0G9F8E7D');
    } finally {
      await server.close();
    }
  });
});
