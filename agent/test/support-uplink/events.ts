import { createHash, randomBytes } from 'node:crypto';
import { newDeviceId, newEventId } from '../../../shared/ids/index.js';
import { TEST_JPEG_MIN_BYTES, testJpeg } from '../../../shared/testing/index.js';
import type { DeviceCredentials } from '../../../shared/signing/index.js';
import type { OutboxEvent, EventType } from '../../outbox/index.js';

/**
 * Test events shaped like protocol v1 Events (valid against firmware-protocol's schema), fake JPEG bytes, and
 * fresh device credentials.
 */
export function makeEvent(over: Partial<OutboxEvent> & { type?: EventType; deviceId?: string } = {}): OutboxEvent {
  const { deviceId, ...rest } = over;
  const type = rest.type ?? 'new';
  const started = '2026-01-01T12:00:00.000Z';
  return {
    v: 1,
    id: rest.id ?? newEventId(),
    device_id: deviceId ?? 'dev_test',
    camera: 'front',
    type,
    rev: rest.rev ?? 0,
    label: 'person',
    score: 0.8,
    box: [0.1, 0.2, 0.3, 0.4],
    started_at: started,
    ...(type === 'end' ? { ended_at: '2026-01-01T12:00:10.000Z' } : {}),
    ...rest,
  };
}

/** The three messages of one event's life: new (rev 0), update (rev 1), end (rev 2). */
export function eventLife(deviceId: string, id = newEventId()): OutboxEvent[] {
  return [
    makeEvent({ id, deviceId, rev: 0, type: 'new' }),
    makeEvent({ id, deviceId, rev: 1, type: 'update', score: 0.9 }),
    makeEvent({ id, deviceId, rev: 2, type: 'end', score: 0.9 }),
  ];
}

/** Adds the protocol `thumbnail` announcement of `jpeg` to an event. */
export function announce(event: OutboxEvent, jpeg: Buffer): OutboxEvent {
  return {
    ...event,
    thumbnail: {
      sha256: createHash('sha256').update(jpeg).digest('hex'),
      size: jpeg.length,
      width: 320,
      height: 240,
      content_type: 'image/jpeg',
    },
  };
}

export function fakeJpeg(bytes: number, seed = 1): Buffer {
  // A real (decodable) JPEG when big enough: a collector opens every thumbnail it stores.
  if (bytes >= TEST_JPEG_MIN_BYTES) return testJpeg(bytes, seed);
  const b = Buffer.alloc(Math.max(bytes, 8));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < b.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  // SOI + APP0 marker start, EOI at the end: what collectors sniff.
  b[0] = 0xff;
  b[1] = 0xd8;
  b[2] = 0xff;
  b[3] = 0xe0;
  b[b.length - 2] = 0xff;
  b[b.length - 1] = 0xd9;
  return b;
}

export function testDevice(): DeviceCredentials {
  return { deviceId: newDeviceId(), keyId: 'k1', secret: randomBytes(32) };
}

/** A protocol v1 Review record (valid against firmware-protocol's schema) of review item `id`. */
export function makeReview(over: Partial<OutboxEvent> & { type?: EventType; deviceId?: string } = {}): OutboxEvent {
  const { deviceId, ...rest } = over;
  const type = rest.type ?? 'new';
  return {
    v: 1,
    kind: 'review',
    id: rest.id ?? `rev_${newEventId().slice(4)}`,
    device_id: deviceId ?? 'dev_test',
    camera: 'front',
    type,
    rev: rest.rev ?? (type === 'new' ? 0 : 1),
    severity: 'alert',
    started_at: '2026-01-01T12:00:00.000Z',
    objects: [newEventId()],
    labels: ['person'],
    zones: [],
    ...(type === 'end' ? { ended_at: '2026-01-01T12:00:10.000Z' } : {}),
    ...rest,
  };
}
