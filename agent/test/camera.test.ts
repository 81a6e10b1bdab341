import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isVigilError, VigilError } from '../../shared/errors/index.js';
import { testAsset } from '../../shared/testing/index.js';
import { createLogger } from '../../shared/log/index.js';
import {
  CameraStream,
  openCamera,
  parseCameraConfig,
  redactUrl,
  resolveFfmpeg,
  type CameraRestartInfo,
} from '../camera/index.js';
import { cameraInput } from '../camera/input.js';

const tmp = mkdtempSync(join(tmpdir(), 'vigil-camera-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A stand-in ffmpeg: a shell script given as the configured ffmpeg path. */
function fakeFfmpeg(name: string, body: string): string {
  const path = join(tmp, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('camera config and inputs', () => {
  it('applies defaults and rejects bad fields with their path', () => {
    const cfg = parseCameraConfig({ name: 'front', input: 'rtsp://cam/stream' });
    expect(cfg.detect).toEqual({ width: 640, height: 360, fps: 5 });
    expect(cfg.stall_timeout_s).toBe(10);
    expect(cfg.masks).toEqual([]);
    expect(() => parseCameraConfig({ name: 'front', input: 'x.mp4', detect: { width: 641 } })).toThrow(
      /\/detect\/width/,
    );
    expect(() => parseCameraConfig({ name: 'bad name', input: 'x.mp4' })).toThrow(/\/name/);
    expect(() =>
      parseCameraConfig({
        name: 'a',
        input: 'x.mp4',
        masks: [
          [
            [0, 0],
            [2, 0],
            [0, 1],
          ],
        ],
      }),
    ).toThrow(/\/masks\/0\/1\/0/);
    expect(() => parseCameraConfig({ name: 'a', input: 'x.mp4', colour: 1 })).toThrow(VigilError);
  });

  it('builds the right ffmpeg input arguments per input kind', () => {
    const o = { realtime: false, loop: false, extra: [] };
    expect(cameraInput('rtsp://u:p@cam/s', o)).toMatchObject({
      kind: 'rtsp',
      live: true,
      args: ['-rtsp_transport', 'tcp', '-i', 'rtsp://u:p@cam/s'],
    });
    expect(cameraInput('/dev/video0', o)).toMatchObject({
      kind: 'v4l2',
      live: true,
      args: ['-f', 'v4l2', '-i', '/dev/video0'],
    });
    expect(cameraInput('http://cam/mjpg', o)).toMatchObject({
      kind: 'http',
      live: true,
      args: ['-i', 'http://cam/mjpg'],
    });
    expect(cameraInput('lavfi:testsrc2', { ...o, realtime: true })).toMatchObject({
      kind: 'lavfi',
      live: false,
      args: ['-re', '-f', 'lavfi', '-i', 'testsrc2'],
    });
    expect(cameraInput('/x/y.mp4', { ...o, loop: true })).toMatchObject({
      kind: 'file',
      live: false,
      args: ['-stream_loop', '-1', '-i', '/x/y.mp4'],
    });
  });

  it('hides URL passwords', () => {
    expect(redactUrl('rtsp://admin:hunter2@10.0.0.5:554/h264: Connection refused')).toBe(
      'rtsp://admin:***@10.0.0.5:554/h264: Connection refused',
    );
  });

  it('names what was tried when ffmpeg is missing', () => {
    expect(() => resolveFfmpeg(join(tmp, 'no-such-ffmpeg'))).toThrow(
      expect.objectContaining({ code: 'ffmpeg_not_found', message: expect.stringContaining('no-such-ffmpeg') }),
    );
    expect(resolveFfmpeg()).toMatch(/ffmpeg$/);
  });
});

describe('camera frames', () => {
  it('delivers frames of the detect size, count and media time from a lavfi test pattern', async () => {
    const cam = new CameraStream({
      name: 'pattern',
      input: 'lavfi:testsrc2=size=320x240:rate=25:duration=2',
      detect: { width: 160, height: 120, fps: 5 },
    }).start();
    const frames = [];
    for await (const f of cam) frames.push(f);
    expect(frames.length).toBe(10);
    expect(frames.map((f) => f.mediaMs)).toEqual([0, 200, 400, 600, 800, 1000, 1200, 1400, 1600, 1800]);
    expect(frames.map((f) => f.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const f of frames) {
      expect(f.camera).toBe('pattern');
      expect([f.width, f.height]).toEqual([160, 120]);
      expect(f.data.length).toBe(160 * 120 * 1.5);
    }
    // testsrc2 is colourful: the chroma planes are not flat grey.
    expect(new Set(frames[0]!.data.subarray(160 * 120)).size).toBeGreaterThan(4);
    expect(cam.state).toBe('ended');
    expect(cam.stats()).toMatchObject({ framesRead: 10, framesDelivered: 10, framesDropped: 0, restarts: 0 });
    await cam.stop();
  });

  it('reads every frame of vtest.avi at its native rate with exact media times', async () => {
    const video = testAsset('media', 'vtest.avi');
    if (!video) return;
    const cam = new CameraStream({ name: 'vtest', input: video, detect: { width: 480, height: 360, fps: 0 } }).start();
    let n = 0;
    let last = -1;
    for await (const f of cam) {
      expect(f.mediaMs).toBe(n * 100); // 10 fps
      last = f.mediaMs;
      n++;
    }
    expect(Math.abs(n - 795)).toBeLessThanOrEqual(2);
    expect(last).toBe((n - 1) * 100);
    expect(cam.state).toBe('ended');
    await cam.stop();
  });

  it("with fps 0, media time follows the input's own rate (read from ffmpeg's stream header)", async () => {
    const cam = new CameraStream({
      name: 'native',
      input: 'lavfi:testsrc2=size=64x48:rate=25:duration=1',
      detect: { width: 64, height: 48, fps: 0 },
    }).start();
    const times: number[] = [];
    for await (const f of cam) times.push(f.mediaMs);
    expect(times).toEqual(Array.from({ length: 25 }, (_, i) => i * 40));
    await cam.stop();
  });

  it('at a forced fps, media time is the output index over fps', async () => {
    const video = testAsset('media', 'vtest.avi');
    if (!video) return;
    const cam = new CameraStream({ name: 'vtest5', input: video, detect: { width: 240, height: 180, fps: 2 } }).start();
    const times: number[] = [];
    for await (const f of cam) times.push(f.mediaMs);
    expect(Math.abs(times.length - 159)).toBeLessThanOrEqual(1); // 79.5 s at 2 fps
    expect(times.slice(0, 3)).toEqual([0, 500, 1000]);
    expect(times[times.length - 1]).toBe((times.length - 1) * 500);
    await cam.stop();
  });

  it('analysis mode never drops: a slow consumer pauses the pipe and still gets every frame', async () => {
    const cam = new CameraStream({
      name: 'slow',
      input: 'lavfi:testsrc2=size=320x240:rate=20:duration=1',
      detect: { width: 64, height: 48, fps: 20 },
    }).start();
    expect(cam.dropping).toBe(false);
    const seqs: number[] = [];
    for await (const f of cam) {
      seqs.push(f.seq);
      await sleep(25);
    }
    expect(seqs.length).toBe(20);
    expect(cam.stats().framesDropped).toBe(0);
    await cam.stop();
  });

  it('live-like mode drops frames for a busy consumer, keeps at most one waiting, and counts the drops', async () => {
    const cam = new CameraStream(
      {
        name: 'busy',
        input: 'lavfi:testsrc2=size=320x240:rate=25:duration=2',
        realtime: true,
        detect: { width: 64, height: 48, fps: 25 },
      },
      { maxPending: 1 },
    ).start();
    expect(cam.dropping).toBe(true);
    let delivered = 0;
    let lastMediaMs = -1;
    for await (const f of cam) {
      delivered++;
      expect(f.mediaMs).toBeGreaterThan(lastMediaMs); // newest frames, in order
      lastMediaMs = f.mediaMs;
      await sleep(200);
    }
    const s = cam.stats();
    expect(s.framesRead).toBe(50);
    expect(s.framesDropped).toBeGreaterThan(20);
    expect(s.framesDelivered).toBe(delivered);
    expect(s.framesDelivered + s.framesDropped).toBe(s.framesRead);
    await cam.stop();
  });
});

describe('camera failures', () => {
  it('a missing file fails at once with camera_input_not_found', async () => {
    const missing = join(tmp, 'nope.mp4');
    expect(() => new CameraStream({ name: 'f', input: missing }).start()).toThrow(
      expect.objectContaining({ code: 'camera_input_not_found', message: expect.stringContaining(missing) }),
    );
    await expect(openCamera({ name: 'f', input: missing })).rejects.toSatisfy((e: unknown) =>
      isVigilError(e, 'camera_input_not_found'),
    );
  });

  it("an unreadable file fails with ffmpeg's reason, not a hang", async () => {
    const junk = join(tmp, 'junk.mp4');
    writeFileSync(junk, 'this is not a video');
    const cam = new CameraStream({ name: 'junk', input: junk }).start();
    await expect(cam.next()).rejects.toSatisfy(
      (e: unknown) => isVigilError(e, 'camera_ffmpeg_failed') && /Invalid data/i.test((e as Error).message),
    );
    expect(cam.state).toBe('failed');
    await cam.stop();
  });

  it(
    'an unreachable RTSP camera gives camera_unreachable with the reason within seconds, password ' + 'hidden',
    async () => {
      const port = await closedPort();
      const logged: string[] = [];
      const logger = createLogger({
        component: 'agent',
        level: 'trace',
        destination: { write: (l: string) => void logged.push(l) },
      });
      const t0 = Date.now();
      const err = await openCamera(
        { name: 'door', input: `rtsp://admin:s3cret@127.0.0.1:${port}/live` },
        { timeoutMs: 8000, logger },
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(Date.now() - t0).toBeLessThan(8000);
      expect(isVigilError(err, 'camera_unreachable')).toBe(true);
      expect((err as Error).message).toMatch(/Connection refused/i);
      expect((err as Error).message).not.toContain('s3cret');
      expect(logged.length).toBeGreaterThan(2);
      expect(logged.join('\n')).not.toContain('s3cret');
    },
  );

  it('openCamera times out with camera_timeout when the input connects but sends nothing', async () => {
    const silent = fakeFfmpeg('silent-ffmpeg', 'echo "Opening stream" >&2\nexec sleep 30');
    const err = await openCamera(
      { name: 'mute', input: 'rtsp://127.0.0.1/x', ffmpeg: { path: silent } },
      { timeoutMs: 1500 },
    ).catch((e: unknown) => e);
    expect(isVigilError(err, 'camera_timeout')).toBe(true);
    expect((err as Error).message).toContain('Opening stream');
  });

  it('the watchdog restarts a stalled live stream with backoff and counts restarts', async () => {
    // Emits one 32×32 frame, then hangs: each ffmpeg run yields exactly one frame.
    const hang = fakeFfmpeg('hang-ffmpeg', 'head -c 1536 /dev/zero\nexec sleep 30');
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger({
      component: 'agent',
      level: 'info',
      destination: { write: (l: string) => void lines.push(JSON.parse(l)) },
    });
    const cam = new CameraStream(
      {
        name: 'stally',
        input: 'rtsp://127.0.0.1/cam',
        detect: { width: 32, height: 32, fps: 5 },
        stall_timeout_s: 0.5,
        restart_backoff_s: { initial: 0.05, max: 0.2 },
        ffmpeg: { path: hang },
      },
      { logger },
    ).start();
    const restarts: CameraRestartInfo[] = [];
    const states: string[] = [];
    cam.on('restart', (r) => restarts.push(r));
    cam.on('state', (s) => states.push(s));
    const frames = [];
    for (let i = 0; i < 3; i++) frames.push(await cam.next());
    expect(frames.every((f) => f !== null && f.data.length === 1536)).toBe(true);
    const s = cam.stats();
    expect(s.restarts).toBeGreaterThanOrEqual(2);
    expect(s.stalls).toBeGreaterThanOrEqual(2);
    expect(s.lastError).toMatch(/no frame for/);
    expect(restarts[0]!.reason).toMatch(/no frame for/);
    expect(states).toEqual(expect.arrayContaining(['starting', 'streaming', 'stalled', 'backoff']));
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        component: 'camera',
        camera: 'stally',
        msg: expect.stringMatching(/stalled/),
      }),
    );
    await cam.stop();
    expect(cam.state).toBe('stopped');
  });

  it('a live camera whose ffmpeg exits keeps retrying and exposes the error', async () => {
    const refuse = fakeFfmpeg(
      'refuse-ffmpeg',
      'echo "[tcp @ 0x1] Connection to tcp://10.0.0.9:554 failed: Connection refused" >&2\nexit 1',
    );
    const cam = new CameraStream({
      name: 'gone',
      input: 'rtsp://10.0.0.9/cam',
      restart_backoff_s: { initial: 0.05, max: 0.1 },
      ffmpeg: { path: refuse },
    }).start();
    const errors: VigilError[] = [];
    cam.on('camera_error', (e) => errors.push(e));
    while (cam.stats().restarts < 3) await sleep(50);
    expect(errors.length).toBeGreaterThanOrEqual(3);
    expect(errors[0]!.code).toBe('camera_unreachable');
    expect(cam.stats().lastError).toMatch(/Connection refused/);
    expect(['backoff', 'starting']).toContain(cam.state);
    const pending = cam.next();
    await cam.stop();
    await expect(pending).resolves.toBeNull();
  });
});
