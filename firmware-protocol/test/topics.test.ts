import { describe, expect, it } from 'vitest';
import { deviceIdInPath } from '../../shared/signing/index.js';
import {
  acksTopic,
  availabilityTopic,
  commandsTopic,
  buildTopic,
  COLLECTOR_SUBSCRIPTIONS,
  devicePrefix,
  deviceSubscriptions,
  eventsPath,
  eventsTopic,
  heartbeatPath,
  heartbeatTopic,
  parseTopic,
  resultsTopic,
  thumbnailPath,
  thumbnailTopic,
  tryParseTopic,
  type ParsedTopic,
} from '../index.js';

const DEV = 'dev_01JGZ5ZQ7P4M3N2K1H0G9F8E7D';
const EVT = 'evt_01JGZ60B4W2Y8T6R5Q3P1N9M7K';

describe('topics', () => {
  it('builds every v1 topic', () => {
    expect(devicePrefix(DEV)).toBe(`vigil/v1/${DEV}`);
    expect(eventsTopic(DEV)).toBe(`vigil/v1/${DEV}/events`);
    expect(heartbeatTopic(DEV)).toBe(`vigil/v1/${DEV}/heartbeat`);
    expect(thumbnailTopic(DEV, EVT)).toBe(`vigil/v1/${DEV}/thumbnails/${EVT}`);
    expect(acksTopic(DEV)).toBe(`vigil/v1/${DEV}/acks`);
    expect(availabilityTopic(DEV)).toBe(`vigil/v1/${DEV}/availability`);
    expect(commandsTopic(DEV)).toBe(`vigil/v1/${DEV}/commands`);
    expect(resultsTopic(DEV)).toBe(`vigil/v1/${DEV}/results`);
    expect(deviceSubscriptions(DEV)).toEqual([`vigil/v1/${DEV}/acks`, `vigil/v1/${DEV}/commands`]);
  });

  it('parse(build(x)) = x for every kind, and the signing binding finds the same device', () => {
    const all: ParsedTopic[] = [
      { kind: 'events', deviceId: DEV },
      { kind: 'heartbeat', deviceId: DEV },
      { kind: 'thumbnail', deviceId: DEV, eventId: EVT },
      { kind: 'acks', deviceId: DEV },
      { kind: 'availability', deviceId: DEV },
      { kind: 'commands', deviceId: DEV },
      { kind: 'results', deviceId: DEV },
    ];
    for (const t of all) {
      const topic = buildTopic(t);
      expect(parseTopic(topic)).toEqual(t);
      expect(deviceIdInPath(topic)).toBe(DEV);
    }
  });

  it('refuses device ids that would break topic filters or paths', () => {
    for (const bad of ['a/b', 'a+b', 'a#', '', 'x'.repeat(65), 'dev%5F1', 'dev 1', '-dev', 'dev?x']) {
      expect(() => eventsTopic(bad), bad).toThrowError(/device id/);
      expect(() => eventsPath(bad), bad).toThrowError(/device id/);
    }
    expect(() => thumbnailTopic(DEV, 'evt_123')).toThrowError(/evt_<ULID>/);
  });

  it('rejects unknown or malformed topics with invalid_topic', () => {
    const bad = [
      `vigil/v2/${DEV}/events`,
      `other/v1/${DEV}/events`,
      `vigil/v1/${DEV}/events/extra`,
      `vigil/v1/${DEV}/telemetry`,
      `vigil/v1/${DEV}`,
      `vigil/v1/${DEV}/thumbnails/not-an-event`,
      `vigil/v1/${DEV}/thumbnails`,
      'vigil/v1/+/events',
      'vigil/v1//events',
    ];
    for (const t of bad) {
      expect(tryParseTopic(t), t).toBeUndefined();
      try {
        parseTopic(t);
        expect.unreachable(t);
      } catch (err) {
        expect((err as { code: string }).code).toBe('invalid_topic');
      }
    }
  });

  it('collector subscriptions: shared for device traffic, unshared for retained availability, match topics', () => {
    expect(COLLECTOR_SUBSCRIPTIONS).toEqual({
      events: '$share/vigil-cloud/vigil/v1/+/events',
      heartbeat: '$share/vigil-cloud/vigil/v1/+/heartbeat',
      thumbnails: '$share/vigil-cloud/vigil/v1/+/thumbnails/+',
      results: '$share/vigil-cloud/vigil/v1/+/results',
      availability: 'vigil/v1/+/availability',
    });
    const matches = (filter: string, topic: string): boolean => {
      const f = filter.replace(/^\$share\/[^/]+\//, '').split('/');
      const t = topic.split('/');
      return f.length === t.length && f.every((seg, i) => seg === '+' || seg === t[i]);
    };
    expect(matches(COLLECTOR_SUBSCRIPTIONS.events, eventsTopic(DEV))).toBe(true);
    expect(matches(COLLECTOR_SUBSCRIPTIONS.thumbnails, thumbnailTopic(DEV, EVT))).toBe(true);
    expect(matches(COLLECTOR_SUBSCRIPTIONS.heartbeat, heartbeatTopic(DEV))).toBe(true);
    expect(matches(COLLECTOR_SUBSCRIPTIONS.availability, availabilityTopic(DEV))).toBe(true);
    expect(matches(COLLECTOR_SUBSCRIPTIONS.results, resultsTopic(DEV))).toBe(true);
    expect(matches(COLLECTOR_SUBSCRIPTIONS.events, acksTopic(DEV))).toBe(false);
    expect(matches(COLLECTOR_SUBSCRIPTIONS.results, commandsTopic(DEV))).toBe(false);
  });
});

describe('HTTP paths', () => {
  it('builds the signed endpoint paths, bound to the device for the verifier', () => {
    expect(eventsPath(DEV)).toBe(`/v1/devices/${DEV}/events`);
    expect(heartbeatPath(DEV)).toBe(`/v1/devices/${DEV}/heartbeat`);
    expect(thumbnailPath(DEV, EVT)).toBe(`/v1/devices/${DEV}/events/${EVT}/thumbnail`);
    for (const p of [eventsPath(DEV), heartbeatPath(DEV), thumbnailPath(DEV, EVT)]) expect(deviceIdInPath(p)).toBe(DEV);
  });
});
