import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { projectRoot } from '../../shared/paths/index.js';
import { sha256Hex } from '../../shared/signing/index.js';
import type { Ack } from '../../firmware-protocol/messages.js';
import { loadSecretsKey, SecretBox } from '../pairing/secret-box.js';
import { openDatabase } from '../db/index.js';
import { openStore, SqlStore } from '../store/index.js';
import { SqlDeadLetters } from '../store/dead-letters.js';
import { freePort, PrivateBroker } from './support-ingest/broker.js';
import { TestMqttDevice } from './support-ingest/mqtt-device.js';
import { reportUnexpectedExit, waitListening } from './support-ingest/collector-process.js';
import { pairThroughStore } from './support-ingest/pair-store.js';
import { wireEvent } from './support-ingest/wire.js';

/**
 * Issue 10 acceptance: a crash-looping message is impossible. Real collector processes on a private Mosquitto with
 * a persistent session: while the collector is down, a box queues a message the collector always fails on (its
 * fault), two it must refuse (a PNG thumbnail, an event nested 7,000 deep: the box's fault) and good ones from two
 * boxes. The restarted collector dead-letters the first ONCE (after ingest.dead_letter_after = 3 failures), acks
 * the refused ones rejected with their codes, stores the good ones; a further restart redelivers nothing of them.
 */
const root = projectRoot();
const entry = join(root, 'cloud', 'test', 'support-ingest', 'collector-entry.ts');

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function startCollector(dataDir: string, configFile: string, port: number, poisonIds: string[]): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', entry, '--data-dir', dataDir, '--port', String(port), '--config', configFile],
    {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, VIGIL_TEST_POISON_EVENT_IDS: poisonIds.join(','), VIGIL_LOG_LEVEL: 'warn' },
    },
  );
  reportUnexpectedExit(child);
  cleanups.push(() => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')));
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

const itemsFor = (acks: Ack[], id: string) => acks.flatMap((a) => a.acks).filter((i) => i.id === id);

describe('poison message queued in the broker session across collector restarts', () => {
  it('is dead-lettered once; refused ones are rejected-acked; the messages after it are stored', {
    timeout: 180_000,
  }, async () => {
    const broker = await PrivateBroker.start();
    cleanups.push(() => broker.close());
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-poison-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const configFile = join(dataDir, 'cloud.yaml');
    const tag = randomBytes(3).toString('hex');
    writeFileSync(
      configFile,
      [
        `mqtt:`,
        `  url: ${broker.url}`,
        `  client_id: poison-${tag}`,
        `  shared_group: poison${tag}`,
        `ingest:`,
        `  dead_letter_after: 3`,
        '',
      ].join('\n'),
    );

    // Two boxes, paired through the store with the key the collector will load from the data dir.
    const store = await openStore({ dataDir });
    const secrets = new SecretBox(loadSecretsKey(undefined, dataDir));
    const credsA = await pairThroughStore(store, secrets);
    const credsB = await pairThroughStore(store, secrets);
    await store.close();
    const a = await TestMqttDevice.connect(broker.url, credsA);
    const b = await TestMqttDevice.connect(broker.url, credsB);
    cleanups.push(() => a.close());
    cleanups.push(() => b.close());

    const poison = wireEvent(credsA.deviceId);
    const port = await freePort();

    // 1. First run: the collector's persistent session exists once it has stored a marker.
    let c = startCollector(dataDir, configFile, port, [poison.id as string]);
    await waitListening(port, c);
    // The collector listens on HTTP before its MQTT subscription exists, and before the first run there is no
    // session to queue into: like a box, send the marker again until it is acked (the same event id dedupes).
    const marker = wireEvent(credsB.deviceId);
    let markerAck: Ack | undefined;
    for (let i = 0; i < 15 && !markerAck; i++) {
      await b.publishEvents(marker);
      markerAck = await b.ackOf(marker.id as string, 0, 2_000).catch(() => undefined);
    }
    expect(['accepted', 'duplicate']).toContain(markerAck?.acks[0]?.status);
    await stop(c);

    // 2. While it is down, the broker queues: the poison event, a PNG thumbnail (after its event), an event nested
    //    7,000 deep, then good events of both boxes.
    const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 1, g: 2, b: 3 } } })
      .png()
      .toBuffer();
    const withPng = wireEvent(credsA.deviceId, {
      thumbnail: { sha256: sha256Hex(png), size: png.length, width: 16, height: 16, content_type: 'image/jpeg' },
    });
    const deep = wireEvent(credsA.deviceId, { x: 0 });
    const deepBody = Buffer.from(JSON.stringify(deep).replace('"x":0', `"x":${'['.repeat(7000)}${']'.repeat(7000)}`));
    const goodA = wireEvent(credsA.deviceId);
    const goodB = [wireEvent(credsB.deviceId), wireEvent(credsB.deviceId), wireEvent(credsB.deviceId)];
    await a.publishEvents(poison);
    await a.publishEvents(withPng);
    await a.publishThumbnail(withPng.id as string, png);
    await a.publishEvents(deepBody);
    for (const e of goodB) await b.publishEvents(e);
    await a.publishEvents(goodA);

    // 3. Restart: everything queued is handled.
    c = startCollector(dataDir, configFile, port, [poison.id as string]);
    await waitListening(port, c);
    for (const e of [...goodB])
      expect((await b.ackOf(e.id as string, 0, 30_000)).acks.find((i) => i.id === e.id)?.status).toBe('accepted');
    expect((await a.ackOf(goodA.id as string, 0, 30_000)).acks.find((i) => i.id === goodA.id)?.status).toBe('accepted');
    expect((await a.ackOf(withPng.id as string, 0, 30_000)).acks.find((i) => i.id === withPng.id)?.status).toBe(
      'accepted',
    );
    const thumbAck = await a.waitForAck((x) => x.acks.some((i) => i.kind === 'thumbnail'), 30_000);
    expect(thumbAck.acks.find((i) => i.kind === 'thumbnail')).toMatchObject({
      status: 'rejected',
      code: 'unsupported_media_type',
    });
    expect((await a.ackOf(deep.id as string, 0, 30_000)).acks.find((i) => i.id === deep.id)).toMatchObject({
      status: 'rejected',
      code: 'invalid_message',
    });
    expect((await a.ackOf(poison.id as string, 0, 30_000)).acks.find((i) => i.id === poison.id)).toMatchObject({
      status: 'rejected',
      code: 'dead_lettered',
    });
    expect(c.exitCode).toBeNull();

    // 4. Another restart: nothing of it comes back (it was PUBACKed), and new traffic flows.
    await stop(c);
    c = startCollector(dataDir, configFile, port, [poison.id as string]);
    await waitListening(port, c);
    const after = wireEvent(credsB.deviceId);
    await b.publishEvents(after);
    expect((await b.ackOf(after.id as string, 0, 30_000)).acks[0]?.status).toBe('accepted');
    await new Promise((r) => setTimeout(r, 1000));
    await stop(c);

    expect(itemsFor(a.acks, poison.id as string)).toEqual([
      expect.objectContaining({ status: 'rejected', code: 'dead_lettered' }),
    ]);
    const database = await openDatabase({ dataDir });
    const check = new SqlStore(database);
    try {
      const rows = await new SqlDeadLetters(database).list({ includeFailing: true, limit: 10 });
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        deviceId: credsA.deviceId,
        transport: 'mqtt',
        kind: 'events',
        state: 'dead',
        attempts: 3,
      });
      for (const e of [...goodB, goodA, withPng])
        expect(
          await check.findDeviceEvent(
            e.id === goodA.id || e.id === withPng.id ? credsA.deviceId : credsB.deviceId,
            e.id as string,
          ),
        ).toBeDefined();
      expect(await check.findDeviceEvent(credsA.deviceId, poison.id as string)).toBeUndefined();
      expect(await check.findDeviceEvent(credsA.deviceId, deep.id as string)).toBeUndefined();
    } finally {
      await check.close();
    }
  });
});
