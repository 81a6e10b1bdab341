/**
 * Issue 11, acceptance: the disk-full run. The daemon (in this process: cameras, pipeline, event sink, outbox,
 * uplink, heartbeats) watches a generated lavfi scene in real time — a square crossing the frame every 4 s, one
 * motion event each — with its data dir on a real 4 MiB tmpfs, and the real collector (in this process too).
 * While the clip plays: the collector goes away (a backlog builds), the disk is filled to the last byte, the
 * collector comes back while the disk is still full, then the disk is freed.
 *
 * It must lose no event: every event the pipeline produced is at the collector, ended, with or without its
 * thumbnail (never announcing one that did not come); sending goes on during the full period for what was
 * queued; refusals are counted exactly in what the last heartbeat the collector stored says; the disk-full state
 * is logged once when it starts and once when it ends.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log/index.js';
import { loadAgentConfig } from '../config.js';
import { credentialsPath, writeCredentials } from '../credentials/store.js';
import { Daemon } from '../daemon/index.js';
import { Outbox } from '../outbox/index.js';
import { fetchDaemonStatus } from '../status/client.js';
import type { DaemonStatus } from '../status/schema.js';
import { startCollector, type CollectorUnderTest } from './support-uplink/collector.js';
import { waitFor } from './e2e-run-support.js';
import { mountSmallDisk, skipNoTmpfs, type SmallDisk } from './support/small-disk.js';

interface LogLine {
  level: string;
  msg: string;
  component?: string;
  [k: string]: unknown;
}

/** A 320x180 grey scene at 5 fps; a white square crosses it during [1, 2.2) s of every 4 s: one motion event each. */
function periodicScene(durationS: number): string {
  const bg = `color=c=0x606060:s=320x180:r=5:d=${durationS}`;
  const box = 'color=c=white:s=40x40:r=5';
  const x = "'20+(mod(t,4)-1)*150'";
  return `lavfi:${bg}[bg];${box}[box];[bg][box]overlay=x=${x}:y=70:shortest=1:enable='between(mod(t,4),1,2.2)'[out0]`;
}

let disk: SmallDisk | undefined;
let collector: CollectorUnderTest;
let work: string;

beforeAll(async () => {
  disk = mountSmallDisk(4);
  if (!disk) skipNoTmpfs();
  collector = await startCollector();
  work = mkdtempSync(join(tmpdir(), 'vigil-disk-full-run-'));
});
afterAll(async () => {
  await collector?.close();
  disk?.unmount();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the disk-full run (daemon, lavfi clip in real time, real collector, 4 MiB tmpfs)', () => {
  it('loses no event, keeps sending while full, counts refusals exactly in the heartbeat, logs the state once each ' +
    'way', {
    timeout: 120_000,
  }, async () => {
    if (!disk) return;
    const d = disk;
    const c = collector;
    writeCredentials(credentialsPath(d.dir), {
      v: 1,
      device_id: c.device.deviceId,
      key_id: c.device.keyId,
      secret_b64: c.device.secret.toString('base64'),
      cloud: c.httpUrl,
      endpoints: { https: c.httpUrl },
      paired_at: new Date().toISOString(),
    });
    const statusSock = join(work, 'status.sock');
    const configFile = join(work, 'agent.yaml');
    writeFileSync(
      configFile,
      [
        `data_dir: ${d.dir}`,
        `status: { listen: ${statusSock} }`,
        'outbox: { reserve_bytes: 131072 }',
        'uplink: { heartbeat_interval: 1s, ack_timeout: 3s, http_timeout: 2s }',
        'cameras:',
        '  - name: yard',
        `    input: "${periodicScene(30)}"`,
        '    realtime: true',
        '    detect: { width: 320, height: 180, fps: 5 }',
        '    restart_backoff_s: { initial: 0.2, max: 1 }',
        '',
      ].join('\n'),
    );
    const lines: LogLine[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
        cb();
      },
    });
    const logger = createLogger({ component: 'agent', level: 'debug', destination });
    const daemon = new Daemon({ loadConfig: () => loadAgentConfig(configFile), logger, version: '0.0.0-disk-full' });
    const status = (): Promise<DaemonStatus> => fetchDaemonStatus({ kind: 'unix', path: statusSock });
    await daemon.start();
    try {
      // The first event reaches the collector: the pipeline and the uplink run.
      await waitFor(
        'a first event ended',
        () => (lines.some((l) => l.msg === 'event' && l.type === 'end') ? true : undefined),
        20_000,
        100,
      );
      await waitFor('it is sent', async () => ((await status()).outbox.depth === 0 ? true : undefined), 20_000, 100);
      // The collector goes away for 8 s: a backlog builds. Then the disk fills to the last byte.
      const down = c.restart(8_000);
      const backlog = await waitFor(
        'a backlog',
        async () => {
          const s = await status();
          return s.outbox.depth > 0 ? s.outbox.depth : undefined;
        },
        20_000,
        100,
      );
      d.fill();
      await waitFor(
        'the daemon sees the disk full',
        async () => ((await status()).outbox.disk_full ? true : undefined),
        15_000,
        100,
      );
      const ackedBefore = (await status()).uplink.acked;
      await down;
      // Sending goes on while the disk stays full: the backlog drains to the collector.
      await waitFor(
        'items acked while the disk is full',
        async () => {
          const s = await status();
          expect(s.outbox.disk_full).toBe(true);
          return s.uplink.acked > ackedBefore ? true : undefined;
        },
        20_000,
        200,
      );
      expect(backlog).toBeGreaterThan(0);
      // Events go on being produced during the full period; then the operator frees the disk.
      await new Promise((r) => setTimeout(r, 4_000));
      expect((await status()).outbox.disk_full).toBe(true);
      d.freeUp();
      await waitFor(
        'the disk-full state ends',
        async () => (!(await status()).outbox.disk_full ? true : undefined),
        20_000,
        200,
      );
      await waitFor(
        'the clip ended',
        async () => ((await status()).cameras[0]?.phase === 'ended' ? true : undefined),
        60_000,
        250,
      );
      await waitFor(
        'everything sent',
        async () => ((await status()).outbox.depth === 0 ? true : undefined),
        30_000,
        200,
      );

      // Every event the pipeline produced is at the collector, ended; a thumbnail only where one was announced.
      const newLines = lines.filter((l) => l.msg === 'event' && l.component === 'pipeline' && l.type === 'new');
      const produced = new Set(newLines.map((l) => String(l.event)));
      expect(produced.size).toBeGreaterThanOrEqual(5);
      const atCollector = await c.eventIds();
      const missing = [...produced].filter((id) => !atCollector.has(id));
      expect(missing, `${missing.length} event(s) the pipeline produced are not at the collector`).toEqual([]);
      let withThumbnail = 0;
      for (const id of produced) {
        const ev = await c.event(id);
        expect(ev?.status, `event ${id}`).toBe('ended');
        const announced = (ev?.message as { thumbnail?: { sha256: string } } | undefined)?.thumbnail;
        if (announced) {
          expect(ev?.thumbnail?.sha256, `event ${id} announced a thumbnail: it arrived`).toBe(announced.sha256);
          withThumbnail++;
        }
      }
      expect(withThumbnail, 'events outside the full period have thumbnails').toBeGreaterThan(0);

      // Refusals counted exactly: each `held` enqueue (the sink logs it) and each message that went without its
      // thumbnail, as the outbox counted them — and as the last heartbeat the collector stored says.
      // Review records are held like events (and counted with them); only events carry thumbnails.
      const queued = lines.filter((l) => l.msg === 'event queued');
      const reviewsQueued = lines.filter((l) => l.msg === 'review queued');
      const held = [...queued, ...reviewsQueued].filter((l) => l.held === true).length;
      const skipped = queued.filter((l) => l.thumbnail === 'skipped' || l.thumbnail_missing === true).length;
      expect(lines.filter((l) => l.msg === 'outbox refused an event')).toEqual([]);
      expect(lines.filter((l) => l.msg === 'outbox refused a review message')).toEqual([]);
      const expected = { disk_full: held, outbox_full: 0 };
      await waitFor(
        'a heartbeat with the final counts at the collector',
        async () => {
          const hb = (await c.deviceStatus())?.heartbeat as
            | { outbox?: { refused?: unknown; thumbnails_skipped?: number; disk_full?: boolean } }
            | undefined;
          const o = hb?.outbox;
          return o &&
            o.disk_full === false &&
            JSON.stringify(o.refused) === JSON.stringify(expected) &&
            o.thumbnails_skipped === skipped
            ? true
            : undefined;
        },
        15_000,
        200,
      ).catch(async (err) => {
        const last = ((await c.deviceStatus())?.heartbeat as { outbox?: unknown } | undefined)?.outbox;
        const want = `expected refused ${JSON.stringify(expected)}, thumbnails_skipped ${skipped}`;
        throw new Error(`${(err as Error).message}; last heartbeat outbox: ${JSON.stringify(last)}; ${want}`);
      });
      expect(skipped, 'thumbnails were skipped during the full period').toBeGreaterThan(0);
      // The collector's device view (what GET /v1/devices/{id} shows) says the same.
      const view = await c.deviceView();
      expect(view).toMatchObject({ disk_full: false, refused: expected, thumbnails_skipped: skipped });
      // `status` says the same as the heartbeat.
      const st = await status();
      expect(st.outbox).toMatchObject({
        disk_full: false,
        reserve: 'held',
        held: 0,
        refused: expected,
        thumbnails_skipped: skipped,
      });

      // One line when the state started, one when it ended.
      const outboxLines = lines.filter((l) => l.component === 'uplink' || l.component === 'outbox');
      expect(outboxLines.filter((l) => /^outbox: disk full/.test(l.msg))).toHaveLength(1);
      expect(outboxLines.filter((l) => /disk-full state ended/.test(l.msg))).toHaveLength(1);
      expect(lines.filter((l) => l.msg === 'uplink: send loop error')).toEqual([]);
    } finally {
      await daemon.stop();
    }
    // The counters are in the file (a restart does not reset them).
    const ob = Outbox.open({ path: join(d.dir, 'outbox.db'), create: false, readonly: true });
    try {
      const s = ob.stats();
      const hb = (await c.deviceStatus())?.heartbeat as {
        outbox: { refused: { disk_full: number }; thumbnails_skipped: number };
      };
      expect(s.refused.disk_full).toBe(hb.outbox.refused.disk_full);
      expect(s.thumbnailsSkipped).toBe(hb.outbox.thumbnails_skipped);
    } finally {
      ob.close();
    }
  });
});
