import type { DeviceCredentials } from '../../../shared/signing/index.js';
import { testDevice } from './events.js';
import { FakeCollector } from './fake-collector.js';

/**
 * The collector a fault test runs against, behind one small interface: where to send, which device to sign as,
 * and what it has stored.
 */
export interface CollectorUnderTest {
  httpUrl: string;
  device: DeviceCredentials;
  /** Event ids with at least one stored message. */
  eventIds(): Promise<Set<string>>;
  /** Event ids with a stored thumbnail. */
  thumbnailIds(): Promise<Set<string>>;
  close(): Promise<void>;
}

export interface CollectorSpec {
  /** Broker the collector's MQTT ingest subscribes to. */
  mqttUrl?: string;
}

export async function startCollector(spec: CollectorSpec = {}): Promise<CollectorUnderTest> {
  const fake = new FakeCollector(testDevice());
  const httpUrl = await fake.listenHttp();
  if (spec.mqttUrl) await fake.connectMqtt(spec.mqttUrl);
  return {
    httpUrl,
    device: fake.device,
    eventIds: async () => fake.eventIds,
    thumbnailIds: async () => new Set(fake.received.thumbnails.keys()),
    close: () => fake.close(),
  };
}
