import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newEventId } from '../../shared/ids/index.js';
import { REVIEW_OBJECTS_MAX } from '../../firmware-protocol/limits.js';
import { validateAck, type AckItem } from '../../firmware-protocol/messages.js';
import { ingestConfig, mqttConfig } from '../ingest/config.js';
import { IngestMetrics } from '../ingest/metrics.js';
import { startMqttIngest, type MqttIngest } from '../ingest/mqtt.js';
import { startAedes, type EmbeddedBroker } from './support-ingest/aedes.js';
import { dev, eventsUrl, expectError, send, sink, useHttpIngest } from './support-ingest/http-ingest.js';
import { MemorySink } from './support-ingest/memory-sink.js';
import { TestMqttDevice } from './support-ingest/mqtt-device.js';
import { signed, wireEvent, wireReview } from './support-ingest/wire.js';

/**
 * Review messages (kind review) at ingest, HTTP and MQTT: alone and in batches with events, acked with kind
 * `review`; a resend is a duplicate, other content under the same (id, rev) a conflict; limits answered with
 * pointed messages; a whole-message rejection names review items with their own ack kind.
 */
const many = (n: number): string[] => Array.from({ length: n }, () => newEventId());

describe('HTTP: review messages', () => {
  useHttpIngest();
  const post = (body: object) => send(signed(dev, 'POST', eventsUrl(dev.deviceId), body));

  it('a single review is stored and acked with kind review; a resend is a duplicate; other content a 409', async () => {
    const r = wireReview(dev.deviceId, { sent_at: new Date().toISOString() });
    const res = await post(r);
    expect(res.status).toBe(200);
    expect(validateAck.check(res.body)).toBe(true);
    expect(res.body.acks).toEqual([{ id: r.id, rev: 0, kind: 'review', status: 'accepted' }]);
    expect(sink.published.map((p) => p.type)).toEqual(['review.stored']);
    const resend = { ...r, sent_at: new Date(Date.now() + 5000).toISOString() };
    expect((await post(resend)).body.acks).toEqual([{ id: r.id, rev: 0, kind: 'review', status: 'duplicate' }]);
    const conflict = await post({ ...r, labels: ['car'] });
    expectError(conflict, 409, 'event_conflict');
    expect(sink.storedFor(dev.deviceId).events).toBe(1);
  });

  it('a batch of events and reviews is acked per item with its kind; a bad review is rejected alone', async () => {
    const e = wireEvent(dev.deviceId);
    const good = wireReview(dev.deviceId, { objects: [e.id] });
    const longLabel = wireReview(dev.deviceId, { labels: ['l'.repeat(65)] });
    const foreign = wireReview(dev.deviceId, { device_id: 'dev_someone_else' });
    const res = await post({ v: 1, events: [e, good, longLabel, foreign] });
    expect(res.status).toBe(200);
    expect(validateAck.check(res.body)).toBe(true);
    expect(res.body.acks.map((a: AckItem) => [a.id, a.kind, a.status, a.code])).toEqual([
      [e.id, 'event', 'accepted', undefined],
      [good.id, 'review', 'accepted', undefined],
      [longLabel.id, 'review', 'rejected', 'invalid_message'],
      [foreign.id, 'review', 'rejected', 'device_mismatch'],
    ]);
    expect(res.body.acks[2]!.message).toContain('/events/2/labels/0: is 65 characters; the limit is 64 (LABEL_MAX)');
    expect(sink.storedFor(dev.deviceId).events).toBe(2);
  });

  it('limits are named: objects, labels and zones over their limit; schema rules (thumbnail_event)', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ objects: many(REVIEW_OBJECTS_MAX + 1) }, `/objects: lists 65 objects; a review message lists at most 64`],
      [{ labels: many(REVIEW_OBJECTS_MAX + 1).map((_, i) => `l${i}`) }, '(REVIEW_OBJECTS_MAX)'],
      [
        { zones: Array.from({ length: 17 }, (_, i) => `z${i}`) },
        '/zones: lists 17 zones; a review message lists at most 16 (ZONES_MAX)',
      ],
      [{ zones: ['z'.repeat(65)] }, '/zones/0: is 65 characters; the limit is 64 (ZONE_NAME_MAX)'],
      [{ thumbnail_event: newEventId() }, '/thumbnail_event'],
      [{ type: 'update', rev: 0 }, '/rev'],
      [{ severity: 'critical' }, '/severity'],
    ];
    for (const [over, text] of cases) {
      const res = await post(wireReview(dev.deviceId, over));
      expectError(res, 400, 'invalid_message');
      expect(res.body.error.message, JSON.stringify(over).slice(0, 80)).toContain(text);
    }
    // At the limit it is accepted.
    const at = await post(wireReview(dev.deviceId, { objects: many(REVIEW_OBJECTS_MAX) }));
    expect(at.body.acks[0]).toMatchObject({ kind: 'review', status: 'accepted' });
  });

  it('a review signed by another device is 403; an unidentifiable review item fails the batch', async () => {
    expectError(await post(wireReview(dev.deviceId, { device_id: 'dev_other' })), 403, 'device_mismatch');
    const unnamed = wireReview(dev.deviceId, { id: 'evt_01JAAAAAAAAAAAAAAAAAAAAAAA', labels: [] });
    expectError(await post({ v: 1, events: [wireEvent(dev.deviceId), unnamed] }), 400, 'invalid_message');
    expect(sink.storedFor(dev.deviceId).events).toBe(0);
  });
});

describe('MQTT: review messages', () => {
  let broker: EmbeddedBroker;
  let ingest: MqttIngest;
  let box: TestMqttDevice;
  const mqttSink = new MemorySink();

  beforeAll(async () => {
    broker = await startAedes();
    ingest = startMqttIngest({
      sink: mqttSink,
      metrics: new IngestMetrics(),
      config: ingestConfig({ rate_limit: { burst: 10_000 } }),
      mqtt: mqttConfig({ url: broker.url, client_id: 'reviews', shared_group: 'reviews', protocol_version: 4 }),
    });
    await ingest.ready;
    box = await TestMqttDevice.connect(broker.url, mqttSink.addDevice(), { protocolVersion: 4 });
  });
  afterAll(async () => {
    await box?.close();
    await ingest?.close();
    await broker?.close();
  });

  const itemOf = async (id: string, rev = 0): Promise<AckItem> =>
    (await box.ackOf(id, rev)).acks.find((i) => i.id === id && i.rev === rev)!;

  it('a review alone is acked kind review; the same message again is a duplicate', async () => {
    const r = wireReview(box.creds.deviceId);
    await box.publishEvents(r);
    expect(await itemOf(String(r.id))).toEqual({ id: r.id, rev: 0, kind: 'review', status: 'accepted' });
    const n = box.acks.length;
    await box.publishEvents({ ...r, sent_at: new Date().toISOString() });
    await box.waitForAck((a) => box.acks.indexOf(a) >= n && a.acks.some((i) => i.id === r.id));
    const again = box.acks
      .slice(n)
      .flatMap((a) => a.acks)
      .find((i) => i.id === r.id);
    expect(again).toMatchObject({ kind: 'review', status: 'duplicate' });
  });

  it('a batch: each item acked with its kind; an update conflicting with a stored rev is rejected', async () => {
    const r = wireReview(box.creds.deviceId);
    await box.publishEvents(r);
    await itemOf(String(r.id));
    const e = wireEvent(box.creds.deviceId);
    const upd = { ...r, type: 'update', rev: 1, objects: [...(r.objects as string[]), e.id] };
    const conflicting = { ...r, labels: ['dog'] };
    await box.publishEvents({ v: 1, events: [e, upd, conflicting] });
    const ack = await box.ackOf(String(r.id), 1);
    expect(ack.acks.map((i) => [i.id, i.rev, i.kind, i.status, i.code])).toEqual([
      [e.id, 0, 'event', 'accepted', undefined],
      [r.id, 1, 'review', 'accepted', undefined],
      [r.id, 0, 'review', 'rejected', 'event_conflict'],
    ]);
  });

  it('a message refused as a whole (protocol v2) rejects every item with its own ack kind', async () => {
    const e = wireEvent(box.creds.deviceId);
    const r = wireReview(box.creds.deviceId);
    await box.publishEvents({ v: 2, events: [e, r] });
    const ack = await box.ackOf(String(r.id));
    expect(ack.acks.map((i) => [i.id, i.kind, i.status, i.code])).toEqual([
      [e.id, 'event', 'rejected', 'unsupported_version'],
      [r.id, 'review', 'rejected', 'unsupported_version'],
    ]);
  });
});
