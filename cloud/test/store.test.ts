import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newEventId } from '../../shared/ids/index.js';
import { isVigilError } from '../../shared/errors/index.js';
import { MIGRATIONS } from '../db/index.js';
import type { EventCursor, Store } from '../store/store.js';
import { testBackends, type TestDatabase } from './support/backends.js';
import { ingestMessage, pairTestDevice, wireEvent } from './support/fixtures.js';

const backends = await testBackends();
const T0 = Date.UTC(2026, 0, 1, 12);
const LATEST = Math.max(...MIGRATIONS.map((m) => m.version));

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (isVigilError(err)) return err.code;
    throw err;
  }
}

describe.each(backends)('store on $name', (backend) => {
  let db: TestDatabase;
  let store: Store;
  beforeEach(async () => {
    db = await backend.open();
    store = db.store;
  });
  afterEach(async () => {
    await db.cleanup();
  });

  describe('migrations', () => {
    it('applies the migrations once and re-opening is a no-op', async () => {
      expect(await store.schemaVersion()).toBe(LATEST);
      const again = await db.openAnother();
      expect(await again.schemaVersion()).toBe(LATEST);
      expect((await store.ensureTenant('default')).id).toBe('default');
    });

    it('survives several collectors migrating the same fresh database at once', async () => {
      const fresh = await backend.open();
      try {
        const stores = await Promise.all([fresh.openAnother(), fresh.openAnother(), fresh.openAnother()]);
        for (const s of stores) expect(await s.schemaVersion()).toBe(LATEST);
      } finally {
        await fresh.cleanup();
      }
    });
  });

  describe('event messages', () => {
    let device: string;
    beforeEach(async () => {
      device = await pairTestDevice(store);
    });

    it('stores a new message, then reports the identical resend as duplicate', async () => {
      const e = wireEvent({ deviceId: device });
      expect(await store.storeEventMessages(device, [ingestMessage(e)], T0)).toEqual([
        { id: e.id, rev: 0, status: 'stored' },
      ]);
      // Same content with another key order is still the same message.
      const reordered = Object.fromEntries(Object.entries(e).reverse());
      expect(await store.storeEventMessages(device, [ingestMessage(reordered)], T0 + 1)).toEqual([
        { id: e.id, rev: 0, status: 'duplicate' },
      ]);
      const stored = await store.getEvent('default', String(e.id));
      expect(stored).toMatchObject({
        id: e.id,
        deviceId: device,
        label: 'person',
        status: 'active',
        lastRev: 0,
        startedAt: T0,
        camera: 'front',
      });
    });

    it('reports the same id+rev with different content as event_conflict and keeps the first', async () => {
      const e = wireEvent({ deviceId: device, score: 0.5 });
      await store.storeEventMessages(device, [ingestMessage(e)], T0);
      const changed = { ...e, score: 0.9 };
      const [r] = await store.storeEventMessages(device, [ingestMessage(changed)], T0 + 1);
      expect(r).toMatchObject({ status: 'conflict', code: 'event_conflict' });
      expect((await store.getEvent('default', String(e.id)))?.score).toBe(0.5);
    });

    it('applies messages by rev: an end overtaking an update is never regressed', async () => {
      const id = newEventId();
      const started = T0;
      const msgs = {
        new: wireEvent({ id, deviceId: device, type: 'new', rev: 0, score: 0.5, label: 'person', startedAt: started }),
        update: wireEvent({
          id,
          deviceId: device,
          type: 'update',
          rev: 1,
          score: 0.7,
          box: [0.2, 0.2, 0.5, 0.9],
          startedAt: started,
        }),
        end: wireEvent({
          id,
          deviceId: device,
          type: 'end',
          rev: 2,
          score: 0.9,
          box: [0.3, 0.3, 0.6, 0.9],
          startedAt: started,
          endedAt: started + 42_000,
        }),
      };
      // Arrival order: end, new, update.
      await store.storeEventMessages(device, [ingestMessage(msgs.end)], T0);
      let e = await store.getEvent('default', id);
      expect(e).toMatchObject({
        status: 'ended',
        lastRev: 2,
        score: 0.9,
        endedAt: started + 42_000,
        durationMs: 42_000,
      });
      const results = await store.storeEventMessages(
        device,
        [ingestMessage(msgs.new), ingestMessage(msgs.update)],
        T0 + 1,
      );
      expect(results.map((r) => r.status)).toEqual(['stored', 'stored']);
      e = await store.getEvent('default', id);
      expect(e).toMatchObject({
        status: 'ended',
        lastRev: 2,
        score: 0.9,
        box: [0.3, 0.3, 0.6, 0.9],
        endedAt: started + 42_000,
      });
      expect(e?.message).toMatchObject({ rev: 2 });
    });

    it('reads the latest message via one typed view: max(top_score, score), announced thumbnail, zones', async () => {
      const thumbnail = { sha256: 'a'.repeat(64), size: 1234 };
      const id = newEventId();
      const withTop = wireEvent({
        id,
        deviceId: device,
        score: 0.6,
        top_score: 0.9,
        thumbnail,
        zones: ['porch'],
        stationary: true,
        attributes: { color: 'red' },
      });
      await store.storeEventMessages(device, [ingestMessage(withTop)], T0);
      expect(await store.getEvent('default', id)).toMatchObject({
        topScore: 0.9,
        announcedThumbnail: thumbnail,
        zones: ['porch'],
        attributes: { color: 'red' },
        stationary: true,
      });
      // The current score above the reported top score: the top score is never below it.
      await store.storeEventMessages(
        device,
        [ingestMessage(wireEvent({ id, deviceId: device, type: 'update', rev: 1, score: 0.95, top_score: 0.9 }))],
        T0 + 1,
      );
      expect(await store.findDeviceEvent(device, id)).toMatchObject({
        topScore: 0.95,
        announcedThumbnail: null,
        zones: [],
        attributes: {},
        stationary: false,
      });
      const plain = wireEvent({ deviceId: device, score: 0.7 });
      await store.storeEventMessages(device, [ingestMessage(plain)], T0 + 2);
      expect((await store.getEvent('default', String(plain.id)))?.topScore).toBeNull();
    });

    it('applies a later rev over an earlier one in order', async () => {
      const id = newEventId();
      await store.storeEventMessages(device, [ingestMessage(wireEvent({ id, deviceId: device, score: 0.4 }))], T0);
      await store.storeEventMessages(
        device,
        [ingestMessage(wireEvent({ id, deviceId: device, type: 'update', rev: 1, score: 0.95, label: 'car' }))],
        T0 + 1,
      );
      expect(await store.getEvent('default', id)).toMatchObject({
        score: 0.95,
        label: 'car',
        status: 'active',
        lastRev: 1,
        endedAt: null,
      });
    });

    it('stores a batch in one call with one result per message, rejecting an id owned by another device', async () => {
      const other = await pairTestDevice(store);
      const taken = wireEvent({ deviceId: other });
      await store.storeEventMessages(other, [ingestMessage(taken)], T0);
      const a = wireEvent({ deviceId: device });
      const stolen = { ...taken, device_id: device };
      const b = wireEvent({ deviceId: device, label: 'dog' });
      const results = await store.storeEventMessages(device, [a, stolen, b].map(ingestMessage), T0 + 1);
      expect(results.map((r) => [r.id, r.status])).toEqual([
        [a.id, 'stored'],
        [taken.id, 'rejected'],
        [b.id, 'stored'],
      ]);
      expect(results[1]?.code).toBe('event_conflict');
      expect((await store.getEvent('default', String(taken.id)))?.deviceId).toBe(other);
    });

    it('rejects the whole batch of an unknown or revoked device', async () => {
      expect(
        await codeOf(store.storeEventMessages('dev_nope', [ingestMessage(wireEvent({ deviceId: 'dev_nope' }))], T0)),
      ).toBe('unknown_device');
      await store.revokeDevice('default', device, T0);
      expect(await codeOf(store.storeEventMessages(device, [ingestMessage(wireEvent({ deviceId: device }))], T0))).toBe(
        'device_revoked',
      );
    });

    it('keeps exactly one copy when the same message is stored concurrently from two collectors', async () => {
      const second = await db.openAnother();
      const e = ingestMessage(wireEvent({ deviceId: device }));
      const results = await Promise.all([
        store.storeEventMessages(device, [e], T0),
        second.storeEventMessages(device, [e], T0),
      ]);
      expect(results.map((r) => r[0]?.status).sort()).toEqual(['duplicate', 'stored']);
    });
  });

  describe('listing events', () => {
    let device: string;
    let ids: string[];
    beforeEach(async () => {
      device = await pairTestDevice(store);
      const other = await pairTestDevice(store);
      ids = [];
      const msgs = [];
      // 25 events; pairs share a started_at so the id breaks ties.
      for (let i = 0; i < 25; i++) {
        const e = wireEvent({
          deviceId: i % 5 === 4 ? other : device,
          camera: i % 2 === 0 ? 'front' : 'back',
          label: i % 3 === 0 ? 'car' : 'person',
          startedAt: T0 + Math.floor(i / 2) * 3_600_000,
          ...(i % 4 === 0 ? { type: 'end' as const, rev: 1, endedAt: T0 + Math.floor(i / 2) * 3_600_000 + 1000 } : {}),
        });
        ids.push(String(e.id));
        msgs.push({ e, dev: String(e.device_id) });
      }
      for (const { e, dev } of msgs) await store.storeEventMessages(dev, [ingestMessage(e)], T0);
    });

    it('pages newest first with a (started_at, id) cursor, without gaps or repeats', async () => {
      const seen: string[] = [];
      let after: EventCursor | undefined;
      let pages = 0;
      do {
        const page = await store.listEvents('default', {}, 10, after);
        seen.push(...page.events.map((e) => e.id));
        after = page.next ?? undefined;
        pages++;
      } while (after);
      expect(pages).toBe(3);
      expect(new Set(seen).size).toBe(25);
      const all = await store.listEvents('default', {}, 100);
      expect(all.next).toBeNull();
      expect(all.events.map((e) => e.id)).toEqual(seen);
      for (let i = 1; i < all.events.length; i++) {
        const a = all.events[i - 1]!;
        const b = all.events[i]!;
        expect(a.startedAt > b.startedAt || (a.startedAt === b.startedAt && a.id > b.id)).toBe(true);
      }
    });

    it('filters by device, camera, label, status and time', async () => {
      const byDevice = await store.listEvents('default', { deviceId: device }, 100);
      expect(byDevice.events).toHaveLength(20);
      const cars = await store.listEvents('default', { label: 'car', camera: 'front' }, 100);
      expect(cars.events.every((e) => e.label === 'car' && e.camera === 'front')).toBe(true);
      expect(cars.events).toHaveLength(5); // i in {0, 6, 12, 18, 24}
      const ended = await store.listEvents('default', { status: 'ended' }, 100);
      expect(ended.events).toHaveLength(7);
      const window = await store.listEvents('default', { since: T0 + 3_600_000, until: T0 + 3 * 3_600_000 }, 100);
      expect(window.events).toHaveLength(4);
    });

    it('counts events per label and UTC day', async () => {
      const counts = await store.countEventsByLabelDay('default', {});
      const total = counts.reduce((n, c) => n + c.count, 0);
      expect(total).toBe(25);
      expect(counts.find((c) => c.day === '2026-01-01' && c.label === 'car')).toBeDefined();
      expect(new Set(counts.map((c) => c.day))).toEqual(new Set(['2026-01-01', '2026-01-02']));
    });
  });

  describe('tenants', () => {
    it('never shows one tenant objects of another', async () => {
      const mine = await pairTestDevice(store, { tenantId: 'default' });
      const theirs = await pairTestDevice(store, { tenantId: 'acme' });
      const e = wireEvent({ deviceId: theirs });
      await store.storeEventMessages(theirs, [ingestMessage(e)], T0);
      expect(await store.getEvent('default', String(e.id))).toBeUndefined();
      expect(await store.getEvent('acme', String(e.id))).toBeDefined();
      expect((await store.listEvents('default', {}, 10)).events).toHaveLength(0);
      expect(await store.getDevice('default', theirs)).toBeUndefined();
      expect((await store.listDevices('default')).map((d) => d.id)).toEqual([mine]);
      expect(await store.revokeDevice('default', theirs, T0)).toBe(false);
      expect(await store.listDeviceKeys('default', theirs)).toBeUndefined();
      expect(await store.addDeviceKey('default', theirs, { keyId: 'k2', secretSealed: 'x' }, T0)).toBeUndefined();
      expect(await store.countEventsByLabelDay('default', {})).toEqual([]);
      expect((await store.listPairingCodes('default')).every((c) => c.tenantId === 'default')).toBe(true);
      expect((await store.listPairingCodes('acme')).length).toBe(1);
    });
  });

  describe('pairing codes', () => {
    const code = (s: string): string => s.padEnd(64, '0');
    const consume = (s: Store, sha: string, deviceId: string, now = T0) =>
      s.consumePairingCode({
        codeSha256: sha,
        now,
        deviceId,
        deviceName: null,
        key: { keyId: 'k1', secretSealed: 'sealed' },
      });

    it('is single-use even when many exchanges race (two collectors)', async () => {
      const second = await db.openAnother();
      await store.createPairingCode({
        tenantId: 'default',
        name: 'garage',
        codeSha256: code('a'),
        hint: 'ABCD',
        now: T0,
        expiresAt: T0 + 60_000,
      });
      const outcomes = await Promise.all(
        Array.from({ length: 8 }, (_, i) => codeOf(consume(i % 2 ? second : store, code('a'), `dev_race${i}`))),
      );
      expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'pairing_code_used')).toHaveLength(7);
      const devices = await store.listDevices('default');
      expect(devices).toHaveLength(1);
      expect(devices[0]?.name).toBe('garage');
      const [listed] = await store.listPairingCodes('default');
      expect(listed).toMatchObject({ usedByDevice: devices[0]?.id, hint: 'ABCD' });
    });

    it('tells unknown, expired and revoked codes apart', async () => {
      expect(await codeOf(consume(store, code('nope'), 'dev_x'))).toBe('pairing_code_invalid');
      await store.createPairingCode({
        tenantId: 'default',
        name: null,
        codeSha256: code('b'),
        hint: 'B',
        now: T0,
        expiresAt: T0 + 1000,
      });
      expect(await codeOf(consume(store, code('b'), 'dev_y', T0 + 1000))).toBe('pairing_code_expired');
      const c = await store.createPairingCode({
        tenantId: 'default',
        name: null,
        codeSha256: code('c'),
        hint: 'C',
        now: T0,
        expiresAt: T0 + 60_000,
      });
      expect(await store.revokePairingCode('acme', c.id, T0)).toBe(false);
      expect(await store.revokePairingCode('default', c.id, T0)).toBe(true);
      expect(await codeOf(consume(store, code('c'), 'dev_z'))).toBe('pairing_code_invalid');
      expect(await store.listDevices('default')).toHaveLength(0);
    });
  });

  describe('device keys', () => {
    it('rotates: at most two active keys, the oldest retired by a third; revoke ends all', async () => {
      const device = await pairTestDevice(store, { now: T0 });
      expect((await store.activeDeviceKeys(device))?.map((k) => k.keyId)).toEqual(['k1']);
      await store.addDeviceKey('default', device, { keyId: 'k2', secretSealed: 's2' }, T0 + 1);
      expect((await store.activeDeviceKeys(device))?.map((k) => k.keyId).sort()).toEqual(['k1', 'k2']);
      const keys = await store.addDeviceKey('default', device, { keyId: 'k3', secretSealed: 's3' }, T0 + 2);
      expect(keys?.map((k) => [k.keyId, k.status])).toEqual([
        ['k1', 'retired'],
        ['k2', 'active'],
        ['k3', 'active'],
      ]);
      expect(await store.retireDeviceKey('default', device, 'k2', T0 + 3)).toBe(true);
      expect(await codeOf(store.retireDeviceKey('default', device, 'k3', T0 + 4))).toBe('last_active_key');
      expect(await store.retireDeviceKey('default', device, 'k1', T0 + 4)).toBe(false);
      expect((await store.activeDeviceKeys(device))?.map((k) => k.keyId)).toEqual(['k3']);
      expect(await store.revokeDevice('default', device, T0 + 5)).toBe(true);
      expect(await store.activeDeviceKeys(device)).toBeUndefined();
      expect((await store.getDevice('default', device))?.revokedAt).toBe(T0 + 5);
    });
  });

  describe('thumbnails', () => {
    it('records, dedupes, refuses a different one unless replacing, and joins it to the event', async () => {
      const device = await pairTestDevice(store);
      const e = wireEvent({ deviceId: device });
      const id = String(e.id);
      const input = {
        deviceId: device,
        eventId: id,
        blobKey: `default/${device}/${id}/a.jpg`,
        sha256: 'a'.repeat(64),
        size: 100,
        contentType: 'image/jpeg',
      };
      // Thumbnail before its event: kept and attached when the event arrives.
      expect(await store.recordThumbnail(input, T0)).toBe('stored');
      await store.storeEventMessages(device, [ingestMessage(e)], T0);
      expect((await store.getEvent('default', id))?.thumbnail).toMatchObject({
        sha256: 'a'.repeat(64),
        size: 100,
        blobKey: input.blobKey,
      });
      expect(await store.recordThumbnail(input, T0 + 1)).toBe('duplicate');
      const b = { ...input, sha256: 'b'.repeat(64), blobKey: 'k/b.jpg', size: 200 };
      expect(await store.recordThumbnail(b, T0 + 2)).toBe('conflict');
      expect(await store.recordThumbnail(b, T0 + 2, { replace: true })).toBe('stored');
      expect(await store.getThumbnail('default', id)).toMatchObject({ sha256: 'b'.repeat(64), size: 200 });
      expect(await store.getThumbnail('acme', id)).toBeUndefined();
      const other = await pairTestDevice(store);
      expect(await store.recordThumbnail({ ...input, deviceId: other }, T0)).toBe('conflict');
    });
  });

  describe('nonces', () => {
    it('accepts a nonce once per window, across collectors', async () => {
      const second = await db.openAnother();
      const results = await Promise.all([
        store.rememberNonce('dev_a', 'n1', T0 + 1000, T0),
        second.rememberNonce('dev_a', 'n1', T0 + 1000, T0),
      ]);
      expect(results.sort()).toEqual([false, true]);
      expect(await store.rememberNonce('dev_b', 'n1', T0 + 1000, T0)).toBe(true);
      expect(await store.rememberNonce('dev_a', 'n1', T0 + 3000, T0 + 1000)).toBe(true); // expired: usable again
      expect(await store.purgeNonces(T0 + 10_000)).toBe(2);
    });
  });

  describe('device status', () => {
    it('records heartbeats and never lets an older one overwrite a newer', async () => {
      const device = await pairTestDevice(store);
      const hb = {
        skewMs: -1500,
        version: '0.1.0',
        outboxDepth: 3,
        dropped: 1,
        cameras: [{ name: 'front', state: 'running' }],
        message: { v: 1 },
      };
      await store.recordHeartbeat(device, hb, T0 + 10_000);
      await store.recordHeartbeat(device, { ...hb, outboxDepth: 99 }, T0 + 5_000);
      expect(await store.getDeviceStatus(device)).toMatchObject({
        lastSeenAt: T0 + 10_000,
        lastHeartbeatAt: T0 + 10_000,
        clockSkewMs: -1500,
        outboxDepth: 3,
        dropped: 1,
        version: '0.1.0',
        cameras: [{ name: 'front', state: 'running' }],
      });
      await store.touchDevice(device, T0 + 20_000, 250);
      expect(await store.getDeviceStatus(device)).toMatchObject({
        lastSeenAt: T0 + 20_000,
        clockSkewMs: 250,
        lastHeartbeatAt: T0 + 10_000,
      });
      expect((await store.listDeviceStatus('default')).map((s) => s.deviceId)).toEqual([device]);
      expect(await store.listDeviceStatus('acme')).toEqual([]);
      expect(await codeOf(store.recordHeartbeat('dev_unknown', hb, T0))).toBe('unknown_device');
    });
  });
});
