/**
 * The disk fills up under the outbox (a real 3 MiB tmpfs, a filler file that takes every free byte, then freed):
 * issue 11 finding 2, piece by piece. The whole pipeline version is disk-full-run.test.ts.
 */
import { existsSync, rmSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../shared/log/index.js';
import { isVigilError } from '../../shared/errors/index.js';
import { registerOutbox } from '../cli/outbox.js';
import { Value } from '@sinclair/typebox/value';
import { AgentConfigSchema, type AgentConfig } from '../config/schema.js';
import { EventSink } from '../daemon/event-sink.js';
import { checkDisk } from '../doctor/disk.js';
import { MotionDetector } from '../motion/detector.js';
import { checkOutbox } from '../doctor/outbox.js';
import { Outbox, readDiskState, type OutboxEvent } from '../outbox/index.js';
import { WireEventBuilder } from '../wire/index.js';
import { ThumbnailStore } from '../thumbnail/store.js';
import { buildHeartbeat } from '../uplink/heartbeat.js';
import { OffsetClock } from '../../shared/clock/index.js';
import { startCollector, type CollectorUnderTest } from './support-uplink/collector.js';
import { announce, fakeJpeg, makeEvent } from './support-uplink/events.js';
import { makeAgent, waitFor, type AgentUnderTest } from './support-uplink/harness.js';
import { mountSmallDisk, skipNoTmpfs, type SmallDisk } from './support/small-disk.js';
import { newEventMessage } from './support/event-message.js';
import { makeFrame } from './support/synthetic.js';
import type { EventMessage } from '../track/messages.js';

const RESERVE = 512 * 1024;

/** ~20 KB test JPEGs (decodable: the collector checks what it stores). */
const jpeg = (i: number): Buffer => fakeJpeg(20_000, i + 1);

let disk: SmallDisk | undefined;
let collector: CollectorUnderTest;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  disk = mountSmallDisk(3);
  if (!disk) skipNoTmpfs();
  collector = await startCollector();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  if (disk) {
    disk.freeUp();
    const files = ['outbox.db', 'outbox.db-wal', 'outbox.db-shm', 'outbox.db.reserve', 'thumbs', 'models'];
    for (const f of files) rmSync(join(disk.dir, f), { recursive: true, force: true });
  }
});
afterAll(async () => {
  await collector?.close();
  disk?.unmount();
});

interface LogLine {
  level: string;
  msg: string;
  [k: string]: unknown;
}

function memoryLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return { logger: createLogger({ component: 'outbox', level: 'debug', destination }), lines };
}

function withoutThumbnail(e: OutboxEvent): OutboxEvent {
  const { thumbnail: _t, ...rest } = e;
  return rest as OutboxEvent;
}

function agentOn(d: SmallDisk, logger?: Logger): AgentUnderTest {
  const a = makeAgent({
    device: collector.device,
    url: collector.httpUrl,
    dir: d.dir,
    outbox: { reserveBytes: RESERVE, ...(logger ? { logger } : {}) },
  });
  cleanups.push(a.stop);
  return a;
}

/** Enqueues events with 20 KB thumbnails until the outbox says the disk is full (or refuses). */
/** Waits until the outbox leaves the disk-full state (leases are released on each poll, as the uplink would). */
async function waitForDiskFullToEnd(a: AgentUnderTest): Promise<void> {
  await waitFor(
    'the disk-full state ends',
    () => {
      a.outbox.releaseExpiredLeases();
      return !a.outbox.stats().diskFull;
    },
    20_000,
    100,
  );
}

/** An outbox on `d` holding one event, closed with no -shm left, and then the disk filled; returns its path. */
function outboxOfOneEventThenFill(d: SmallDisk): string {
  const path = join(d.dir, 'outbox.db');
  const first = Outbox.open({ path, reserveBytes: RESERVE });
  first.enqueue(makeEvent());
  first.close();
  if (existsSync(`${path}-shm`)) unlinkSync(`${path}-shm`);
  d.fill();
  return path;
}

/** A `new` message of motion event `id` on camera `c`, its box where the test frames draw their square. */
function motionMessage(id: string): EventMessage {
  return { ...newEventMessage(id, 'c'), label: 'motion', box: [0.3, 0.3, 0.5, 0.6] };
}

function enqueueUntilFull(a: AgentUnderTest, d: SmallDisk): Set<string> {
  const accepted = new Set<string>();
  d.fill();
  for (let i = 0; i < 400; i++) {
    const jpg = jpeg(i);
    const e = announce(makeEvent({ deviceId: collector.device.deviceId }), jpg);
    try {
      const r = a.outbox.enqueue(e, jpg, { withoutThumbnail: withoutThumbnail(e) });
      accepted.add(e.id);
      if (r.thumbnail !== 'queued') break;
    } catch (err) {
      if (!isVigilError(err, 'outbox_disk_full')) throw err;
      break;
    }
    if (a.outbox.stats().diskFull) break;
  }
  return accepted;
}

describe('the outbox on a full disk', () => {
  it('keeps sending what is queued, keeps events produced while full, logs the state once each way, counts every ' +
    'refusal', async () => {
    if (!disk) return;
    const d = disk;
    const { logger, lines } = memoryLogger();
    const a = agentOn(d, logger);
    // Some traffic before the disk fills, so the file and its WAL hold real pages.
    for (let i = 0; i < 10; i++) {
      const jpg = jpeg(i + 7);
      a.outbox.enqueue(announce(makeEvent({ deviceId: collector.device.deviceId }), jpg), jpg);
    }
    const before = enqueueUntilFull(a, d);
    expect(a.outbox.stats().diskFull).toBe(true);
    expect(d.free()).toBeLessThan(RESERVE);

    // Sending continues for what is queued: every claim and ack is a write, on a disk that stays full.
    await a.uplink.start();
    const idle = (): boolean => a.outbox.stats().total.pending + a.outbox.stats().total.in_flight === 0;
    await waitFor('everything queued before the disk filled is at the collector', idle, 20_000, 50);
    const got = await collector.eventIds();
    for (const id of before) expect(got.has(id), `event ${id} queued before the disk filled`).toBe(true);

    // Events produced while the disk is full: none refused for good, none announcing a thumbnail that cannot come.
    const during: string[] = [];
    let held = 0;
    for (let i = 0; i < 30; i++) {
      const jpg = jpeg(i + 13);
      const neu = announce(
        makeEvent({ deviceId: collector.device.deviceId, attributes: { pad: 'x'.repeat(200) } }),
        jpg,
      );
      const end = makeEvent({ id: neu.id, deviceId: collector.device.deviceId, type: 'end', rev: 1 });
      const r1 = a.uplink.enqueue(neu, jpg, { withoutThumbnail: withoutThumbnail(neu) });
      const r2 = a.uplink.enqueue(end);
      expect(r1.thumbnail).toBe('skipped');
      held += [r1, r2].filter((r) => r.event === 'held').length;
      during.push(neu.id);
    }
    const s = a.outbox.stats();
    expect(s.diskFull).toBe(true);
    expect(s.refused.disk_full).toBe(held);
    expect(s.thumbnailsSkipped).toBe(30);
    expect(s.held).toBe(held);

    // Many writes during the full period: the state is logged once, not once per write.
    for (let i = 0; i < 50; i++) a.outbox.releaseExpiredLeases();
    const startLines = lines.filter((l) => /disk (is )?full/i.test(l.msg));
    expect(startLines.map((l) => l.msg)).toHaveLength(1);

    // Space comes back: the held events go out, in order, and the state ends with one line.
    d.freeUp();
    await waitForDiskFullToEnd(a);
    await waitFor('everything delivered', () => a.outbox.depth() === 0, 30_000, 50);
    const all = await collector.eventIds();
    for (const id of during) expect(all.has(id), `event ${id} produced while the disk was full`).toBe(true);
    for (const id of during) {
      const ev = await collector.event(id);
      expect(ev?.status).toBe('ended');
      expect(
        (ev?.message as { thumbnail?: unknown } | undefined)?.thumbnail,
        'no announcement of a thumbnail that was never queued',
      ).toBeUndefined();
    }
    expect(lines.filter((l) => /disk (is )?full/i.test(l.msg))).toHaveLength(1);
    expect(lines.filter((l) => /space (is )?back|disk-full state ended/i.test(l.msg))).toHaveLength(1);

    // The counters were persisted once space came back (a second reader sees them).
    const reader = Outbox.open({ path: join(d.dir, 'outbox.db'), create: false, readonly: true });
    try {
      expect(reader.stats().refused.disk_full).toBe(held);
      expect(reader.stats().thumbnailsSkipped).toBe(30);
    } finally {
      reader.close();
    }
  }, 90_000);

  it('outbox stats, status and doctor agree on the disk-full state, also with the daemon stopped ' +
    '(no -shm to create)', async () => {
    if (!disk) return;
    const d = disk;
    const a = agentOn(d);
    enqueueUntilFull(a, d);
    expect(a.outbox.stats().diskFull).toBe(true); // what `status` shows
    const cli = await outboxCli(['stats', '--json', '--data-dir', d.dir]);
    expect(cli.error).toBeUndefined();
    expect((JSON.parse(cli.stdout) as { diskFull: boolean }).diskFull).toBe(true);
    expect(readDiskState(join(d.dir, 'outbox.db')).full).toBe(true);

    // The daemon stops; its -shm goes; the disk is still full.
    await a.stop();
    cleanups.length = 0;
    if (existsSync(join(d.dir, 'outbox.db-shm'))) unlinkSync(join(d.dir, 'outbox.db-shm'));
    d.fill();
    const stopped = await outboxCli(['stats', '--json', '--data-dir', d.dir]);
    expect(stopped.error, stopped.error).toBeUndefined();
    const stats = JSON.parse(stopped.stdout) as { diskFull: boolean; depth: number };
    expect(stats.diskFull).toBe(true);
    const listed = await outboxCli(['list', '--json', '--data-dir', d.dir]);
    expect(listed.error, listed.error).toBeUndefined();

    const config = Value.Default(AgentConfigSchema, { data_dir: d.dir }) as AgentConfig;
    const doctor = checkOutbox(config);
    expect(doctor.hint ?? '').not.toMatch(/permission/i);
    expect(doctor.hint).toMatch(/disk .*full|free (some )?space/i);
    expect(doctor.status).not.toBe('pass');
    const space = checkDisk(config);
    expect(space.status).toBe('fail');
    expect(space.detail).toMatch(/DISK FULL/);
    expect(space.hint).toMatch(/is full/);
  }, 60_000);

  it('the daemon opens its outbox on a full disk (no -shm yet) by giving back its reserve', () => {
    if (!disk) return;
    const path = outboxOfOneEventThenFill(disk);
    const again = Outbox.open({ path, reserveBytes: RESERVE });
    try {
      expect(statSync(`${path}.reserve`).size, 'the reserve was given back').toBe(0);
      expect(again.stats().depth).toBe(1);
      expect(again.stats().diskFull).toBe(true);
      again.claim({ kind: 'event', limit: 10, leaseMs: 10_000 });
    } finally {
      again.close();
    }
  });
  it('a start after a full-disk run with space back takes the reserve again, without a disk-full line', () => {
    if (!disk) return;
    const d = disk;
    const path = join(d.dir, 'outbox.db');
    Outbox.open({ path, reserveBytes: RESERVE }).close();
    truncateSync(`${path}.reserve`, 0); // what a run that stopped while the disk was full leaves
    expect(readDiskState(path).full).toBe(true);
    const { logger, lines } = memoryLogger();
    const ob = Outbox.open({ path, reserveBytes: RESERVE, logger });
    try {
      expect(ob.stats()).toMatchObject({ diskFull: false, reserve: 'held' });
      expect(lines.filter((l) => /disk/i.test(l.msg))).toEqual([]);
    } finally {
      ob.close();
    }
  });

  it(
    'with its reserve already given back, the daemon still opens on a full disk (exclusive locking, no -shm) and ' +
      'reads',
    async () => {
      if (!disk) return;
      const d = disk;
      const path = outboxOfOneEventThenFill(d);
      const { logger, lines } = memoryLogger();
      const second = Outbox.open({ path, reserveBytes: RESERVE, logger }); // gives the reserve back
      second.close();
      if (existsSync(`${path}-shm`)) unlinkSync(`${path}-shm`);
      d.fill();
      const third = Outbox.open({ path, reserveBytes: RESERVE, logger });
      try {
        expect(lines.some((l) => /exclusive locking/.test(l.msg))).toBe(true);
        expect(third.stats()).toMatchObject({ depth: 1, diskFull: true, reserve: 'released' });
        // Not one byte left and no reserve to give: writes wait (with the disk-full error, not a crash).
        expect(() => third.claim({ kind: 'event', limit: 10, leaseMs: 10_000 })).toThrow(/is full/);
        // The CLI beside it cannot open the file meanwhile, and says so instead of hanging.
        const cli = await outboxCli(['stats', '--json', '--data-dir', d.dir]);
        expect(cli.error).toBeDefined();
      } finally {
        third.close();
      }
      // Stopped: the CLI reads it, on the same full disk.
      const after = await outboxCli(['stats', '--json', '--data-dir', d.dir]);
      expect(after.error, after.error).toBeUndefined();
      expect(JSON.parse(after.stdout) as { depth: number; diskFull: boolean }).toMatchObject({
        depth: 1,
        diskFull: true,
      });
    },
  );
});

/** `vigil-agent outbox …` in this process (the CLI code as built from source). */
async function outboxCli(args: string[]): Promise<{ stdout: string; error?: string }> {
  const program = new Command().exitOverride();
  registerOutbox(program);
  let stdout = '';
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['outbox', ...args], { from: 'user' });
    return { stdout };
  } catch (err) {
    return { stdout, error: (err as Error).message };
  } finally {
    process.stdout.write = write;
  }
}

describe('thumbnails on a full disk', () => {
  it('a thumbnail that cannot be written does not stop its event message', async () => {
    if (!disk) return;
    const d = disk;
    const store = new ThumbnailStore(join(d.dir, 'thumbs'), { snapshotMaxSize: 0 });
    const frame = makeFrame(320, 180, { background: 90, boxes: [{ box: [100, 60, 160, 120], luma: 230 }] });
    await store.keep(frame, [
      { id: 'evt_01JAAAAAAAAAAAAAAAAAAAAAAA', box: [100, 60, 160, 120], score: 0.9, kind: 'best', announced: true },
    ]);
    d.fill();
    const msg = motionMessage('evt_01JAAAAAAAAAAAAAAAAAAAAAAA');
    const out = (await store.attach(msg)).message;
    expect(out.id).toBe(msg.id);
    // Space back: the next message of the event brings its thumbnail.
    d.freeUp();
    const later = (await store.attach({ ...msg, type: 'update' })).message;
    expect(later.thumbnail).toBeDefined();
    expect(existsSync(later.thumbnail!)).toBe(true);
  });

  it('an event whose thumbnail could not be kept goes out without announcing it, counted; a later ' +
    'message brings it', async () => {
    if (!disk) return;
    const d = disk;
    const a = agentOn(d);
    const builder = new WireEventBuilder(collector.device.deviceId);
    const sink = new EventSink(
      collector.device.deviceId,
      a.uplink,
      createLogger({ component: 'outbox', level: 'silent' }),
      builder,
    );
    // As in the daemon: the thumbnail stays in memory; only the outbox (on the full disk) stores its bytes.
    const store = new ThumbnailStore(undefined, { snapshotMaxSize: 0 });
    const send = async (m: EventMessage): Promise<void> => {
      const { message, pictures } = await store.attach(m);
      await sink.onEvent(message, pictures);
    };
    const frame = makeFrame(320, 180, { background: 90, boxes: [{ box: [100, 60, 160, 120], luma: 230 }] });
    const id = 'evt_01JBBBBBBBBBBBBBBBBBBBBBBB';
    await store.keep(frame, [{ id, box: [100, 60, 160, 120], score: 0.9, kind: 'best', announced: true }]);
    const base = motionMessage(id);
    d.fill();
    await send(base);
    expect(sink.counters.refused).toBe(0);
    const first = a.outbox.list({ kind: 'event' });
    const heldOrQueued = a.outbox.stats().held + first.length;
    expect(heldOrQueued).toBe(1);
    expect(a.outbox.stats().thumbnailsSkipped).toBe(1);
    d.freeUp();
    await waitForDiskFullToEnd(a);
    await send({ ...base, type: 'update' });
    await send({ ...base, type: 'end', ended_at: new Date().toISOString() });
    await a.uplink.start();
    await waitFor('delivered', () => a.outbox.depth() === 0, 30_000, 50);
    const ev = await collector.event(id);
    expect(ev?.status).toBe('ended');
    expect(ev?.thumbnail, 'the thumbnail came with a later message').not.toBeNull();
    expect((ev?.message as { thumbnail?: { sha256: string } } | undefined)?.thumbnail?.sha256).toBe(
      ev?.thumbnail?.sha256,
    );
  }, 60_000);
});

describe('motion detection on a full disk', () => {
  it('a camera still starts when its motion model cannot be cached (loaded from memory)', async () => {
    if (!disk) return;
    const d = disk;
    d.fill();
    const motion = await MotionDetector.create({ width: 320, height: 180, cacheDir: join(d.dir, 'models') });
    try {
      const frame = makeFrame(320, 180, { background: 90 });
      expect((await motion.detect(frame)).calibrating).toBe(true);
    } finally {
      await motion.close();
    }
  });
});

describe('heartbeat', () => {
  it('reports the disk-full state, refusals, skipped thumbnails and a truthful dropped count', () => {
    if (!disk) return;
    const d = disk;
    const ob = Outbox.open({ path: join(d.dir, 'outbox.db'), reserveBytes: RESERVE, budgetBytes: 64 * 1024 });
    cleanups.push(() => ob.close());
    let refused = 0;
    for (let i = 0; i < 200; i++) {
      try {
        ob.enqueue(makeEvent({ attributes: { pad: 'y'.repeat(1500) } }));
      } catch (err) {
        if (!isVigilError(err, 'outbox_full')) throw err;
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
    const hb = buildHeartbeat({
      deviceId: 'dev_x',
      version: '1',
      clock: new OffsetClock(),
      outbox: ob,
      startedAtMs: Date.now(),
      droppedSinceStart: () => ob.stats().dropped,
      lastAckAtMs: () => null,
    });
    const o = hb.outbox;
    expect(o.refused).toEqual({ disk_full: 0, outbox_full: refused });
    expect(o.dropped).toBe(refused);
    expect(o.disk_full).toBe(false);
    expect(o.thumbnails_skipped).toBe(0);
  });
});
