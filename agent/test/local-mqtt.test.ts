/**
 * The local integration (`local_mqtt`) in process, against a private Mosquitto started by the test: Home
 * Assistant discovery payloads checked against firmware-protocol/local's schema (its exported JSON file, with ajv)
 * and unique ids; counts following the events; the detect switch; HA's birth message; a camera removed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateLocalEvent, type HaDeviceDiscovery } from '../../firmware-protocol/local/messages.js';
import { LOCAL_SCHEMAS_DIR } from '../../firmware-protocol/export-schemas.js';
import { ulid } from '../../shared/ids/index.js';
import { schemaFileValidator } from '../../shared/testing/json-schema.js';
import {
  boxDiscovery,
  cameraDiscovery,
  LocalIntegration,
  LocalMqttConfigSchema,
  LocalTopics,
  Occupancy,
  PublishQueue,
  type LocalMqttConfig,
} from '../local/index.js';
import type { EventMessage } from '../track/messages.js';
import { MosquittoInstance } from './support-uplink/mosquitto.js';
import { retainedOn, Watcher } from './support-local/watcher.js';
import { newEventMessage } from './support/event-message.js';

const checkDiscovery = schemaFileValidator(join(LOCAL_SCHEMAS_DIR, 'ha-device-discovery.schema.json'));

const evt = (): string => `evt_${ulid()}`;
const msg = (over: Partial<EventMessage> & Pick<EventMessage, 'id' | 'type'>, camera = 'yard'): EventMessage => ({
  ...newEventMessage(over.id, camera),
  ...over,
});
const config = (url: string, over: Partial<LocalMqttConfig> = {}): LocalMqttConfig =>
  Value.Default(LocalMqttConfigSchema, { url, box_name: 'testbox', ...over }) as LocalMqttConfig;

describe('local queue and counts (pure)', () => {
  it('the queue drops the oldest when full, counts it, and a retained state replaces its queued value', () => {
    const q = new PublishQueue(3);
    for (const n of [1, 2, 3, 4, 5]) q.push({ topic: `e/${n}`, payload: String(n), retain: false, qos: 1 });
    expect(q.length).toBe(3);
    expect(q.dropped).toBe(2);
    expect(q.shift()?.topic).toBe('e/3');
    q.push({ topic: 'count', payload: '1', retain: true, qos: 1 });
    q.push({ topic: 'count', payload: '2', retain: true, qos: 1 });
    expect(q.length).toBe(3);
    expect(q.dropped).toBe(2);
    expect([q.shift(), q.shift(), q.shift()].map((m) => m?.payload)).toEqual(['4', '5', '2']);
  });

  it('counts objects per camera, label and zone from new to end', () => {
    const o = new Occupancy();
    const a = evt();
    const b = evt();
    expect(o.apply(msg({ id: a, type: 'new' }))).toEqual([
      { camera: 'yard', label: 'person', zone: undefined, count: 1 },
    ]);
    expect(o.apply(msg({ id: b, type: 'new', current_zones: ['door'], zones: ['door'] }))).toEqual([
      { camera: 'yard', label: 'person', zone: undefined, count: 2 },
      { camera: 'yard', label: 'person', zone: 'door', count: 1 },
    ]);
    expect(o.apply(msg({ id: b, type: 'update', current_zones: [], zones: ['door'] }))).toEqual([
      { camera: 'yard', label: 'person', zone: 'door', count: 0 },
    ]);
    o.apply(msg({ id: a, type: 'end' }));
    expect(o.apply(msg({ id: b, type: 'end' }))).toEqual([
      { camera: 'yard', label: 'person', zone: undefined, count: 0 },
    ]);
  });
});

describe('Home Assistant discovery payloads', () => {
  it('validate against the exported schema, with unique ids across the whole box', () => {
    const topics = new LocalTopics('vigil/testbox', 'homeassistant', 'testbox');
    const ctx = { topics, version: '0.1.0', snapshots: true };
    const payloads: HaDeviceDiscovery[] = [
      boxDiscovery(ctx, { cpuTemperature: true }),
      cameraDiscovery(ctx, { name: 'yard', labels: ['person', 'car'], zones: ['door'] }),
      cameraDiscovery(ctx, { name: 'gate', labels: ['person'], zones: [] }),
    ];
    const ids: string[] = [];
    for (const p of payloads) {
      expect(checkDiscovery(p), JSON.stringify(checkDiscovery.errors)).toBe(true);
      expect(p.dev.ids).toEqual(['vigil_testbox']);
      expect(p.o.name).toBe('vigil-agent');
      expect(p.avty_t).toBe('vigil/testbox/available');
      for (const c of Object.values(p.cmps)) ids.push(c.uniq_id);
    }
    expect(new Set(ids).size).toBe(ids.length);
    const yard = payloads[1] as HaDeviceDiscovery;
    const platforms = Object.values(yard.cmps).map((c) => c.p);
    // per label: occupancy, count, image; per zone and label: occupancy, count; one switch.
    expect(platforms.filter((p) => p === 'binary_sensor')).toHaveLength(4);
    expect(platforms.filter((p) => p === 'sensor')).toHaveLength(4);
    expect(platforms.filter((p) => p === 'image')).toHaveLength(2);
    expect(platforms.filter((p) => p === 'switch')).toHaveLength(1);
    expect(yard.cmps.yard_person_occupancy).toMatchObject({
      dev_cla: 'occupancy',
      stat_t: 'vigil/testbox/yard/person',
    });
    expect(yard.cmps.yard_door_person_count).toMatchObject({ stat_t: 'vigil/testbox/yard/zones/door/person' });
    // The schema refuses what HA would not take: no platform, a unique id HA cannot use, an unknown key.
    const bad = structuredClone(yard) as unknown as { cmps: Record<string, Record<string, unknown>> };
    delete (bad.cmps.yard_person_count as Record<string, unknown>).p;
    expect(checkDiscovery(bad)).toBe(false);
    const bad2 = structuredClone(yard) as unknown as { cmps: Record<string, Record<string, unknown>> };
    (bad2.cmps.yard_person_count as Record<string, unknown>).uniq_id = 'has space';
    expect(checkDiscovery(bad2)).toBe(false);
    expect(checkDiscovery({ ...yard, state_topic_typo: 'x' })).toBe(false);
    const { dev: _dev, ...noDevice } = yard;
    expect(checkDiscovery(noDevice)).toBe(false);
  });
});

describe('local integration against a private Mosquitto', () => {
  let broker: MosquittoInstance;
  const tmp = mkdtempSync(join(tmpdir(), 'vigil-local-'));
  beforeAll(async () => {
    broker = await MosquittoInstance.start();
  });
  afterAll(async () => {
    await broker?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('announces, counts, switches detection, answers HA birth and removes a camera', { timeout: 60_000 }, async () => {
    const ha = await Watcher.connect(broker.url, ['#']);
    const switched: Array<[string, boolean]> = [];
    const local = new LocalIntegration({
      config: config(broker.url),
      version: '0.1.0',
      cameras: [
        { name: 'yard', labels: ['person'], zones: ['door'] },
        { name: 'gate', labels: ['person'], zones: [] },
      ],
      onDetect: (camera, on) => switched.push([camera, on]),
      diagnostics: () => ({ outbox_depth: 3, uplink: 'connected' }),
      stateFile: join(tmp, 'local-mqtt.json'),
    });
    const t = local.topics;
    local.start();
    try {
      await ha.waitFor('online', () => ha.last(t.availability) === 'online');
      const yardTopic = t.cameraDiscovery('yard');
      const discovery = await ha.waitFor('discovery', () => ha.on(yardTopic)[0]);
      expect(checkDiscovery(JSON.parse(discovery.payload.toString()))).toBe(true);
      await ha.waitFor('counts at 0', () => ha.last(t.count('yard', 'person')) === '0');
      await ha.waitFor('diagnostics', () => ha.last(t.diagnostics));
      expect(JSON.parse(ha.last(t.diagnostics) as string)).toMatchObject({ outbox_depth: 3, uplink: 'connected' });

      // A person walks in (through the door zone) and out.
      const id = evt();
      local.onEvent(msg({ id, type: 'new', current_zones: ['door'], zones: ['door'] }), {
        thumbnail: { jpeg: Buffer.from([0xff, 0xd8, 0xff, 0xd9]), width: 2, height: 2 },
      });
      await ha.waitFor('person count 1', () => ha.last(t.count('yard', 'person')) === '1');
      expect(ha.last(t.zoneCount('yard', 'door', 'person'))).toBe('1');
      expect(ha.on(t.snapshot('yard', 'person')).at(-1)?.payload).toEqual(Buffer.from([0xff, 0xd8, 0xff, 0xd9]));
      local.onEvent(msg({ id, type: 'end', ended_at: new Date().toISOString(), zones: ['door'] }));
      await ha.waitFor('person count 0', () => ha.last(t.count('yard', 'person')) === '0');
      const events = ha.on(t.events).map((s) => JSON.parse(s.payload.toString()) as unknown);
      expect(events.map((e) => validateLocalEvent.check(e))).toEqual([true, true]);
      expect(events.map((e) => (e as { type: string }).type)).toEqual(['new', 'end']);

      // The detect switch.
      await ha.publish(t.detectSet('yard'), 'OFF');
      await ha.waitFor('state OFF', () => ha.last(t.detectState('yard')) === 'OFF');
      expect(switched).toEqual([['yard', false]]);
      expect(local.detectEnabled('yard')).toBe(false);
      await ha.publish(t.detectSet('nosuch'), 'OFF');
      await ha.publish(t.detectSet('yard'), 'ON');
      await ha.waitFor('state ON', () => ha.last(t.detectState('yard')) === 'ON');
      expect(switched).toEqual([
        ['yard', false],
        ['yard', true],
      ]);

      // HA restarts: its birth message gets the discovery again.
      const before = ha.on(yardTopic).length;
      await ha.publish(t.haStatus, 'online');
      await ha.waitFor('discovery republished', () => ha.on(yardTopic).length > before);
      expect(ha.on(t.boxDiscovery()).length).toBeGreaterThanOrEqual(2);

      // gate leaves the config: an empty retained payload removes its entities; yard stays.
      local.setCameras([{ name: 'yard', labels: ['person'], zones: ['door'] }]);
      const gateTopic = t.cameraDiscovery('gate');
      await ha.waitFor('gate removed', () => ha.on(gateTopic).at(-1)?.payload.length === 0);
      const retained = await retainedOn(broker.url, `${t.discoveryPrefix}/device/+/config`);
      expect(retained.map((r) => r.topic).sort()).toEqual([t.boxDiscovery(), yardTopic].sort());
      expect(await retainedOn(broker.url, t.count('gate', 'person'))).toEqual([]);
      expect(
        JSON.parse(readFileSync(join(tmp, 'local-mqtt.json'), 'utf8')).cameras.map((c: { name: string }) => c.name),
      ).toEqual(['yard']);
    } finally {
      await local.stop();
      await ha.close();
    }
    // A clean stop leaves `offline` (the will covers a crash).
    const avail = await retainedOn(broker.url, 'vigil/testbox/available');
    expect(avail.map((a) => a.payload.toString())).toEqual(['offline']);
  });

  it('with the broker down, events are queued up to queue_size, the oldest dropped and counted', async () => {
    const local = new LocalIntegration({
      config: config('mqtt://127.0.0.1:9', { queue_size: 10 }),
      version: '0.1.0',
      cameras: [{ name: 'yard', labels: ['person'], zones: [] }],
    });
    local.start();
    try {
      const t0 = performance.now();
      for (let i = 0; i < 200; i++) {
        const id = evt();
        local.onEvent(msg({ id, type: 'new' }));
        local.onEvent(msg({ id, type: 'end', ended_at: new Date().toISOString() }));
      }
      // Queuing only: 400 messages in well under a frame time each.
      expect(performance.now() - t0).toBeLessThan(2000);
      const s = local.status();
      expect(s.state).not.toBe('connected');
      expect(s.queued).toBe(10);
      expect(s.dropped).toBeGreaterThan(380);
      expect(s.events_published).toBe(400);
    } finally {
      await local.stop();
    }
  });
});
