import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { DeviceCredentials } from '../../../shared/signing/index.js';
import { LocalEventBus } from '../../live/event-bus.js';
import { FsBlobStore } from '../../blob/fs.js';
import { SecretBox } from '../../pairing/secret-box.js';
import { StoreIngestSink } from '../../server/ingest-sink.js';
import type { Store } from '../../store/store.js';
import { pairThroughStore } from './pair-store.js';

/**
 * The collector's real IngestSink (store + fs blobs + sealed secrets + live bus) over a test database, with a
 * pairing helper that goes through the real pairing path. Key caching is off so a revocation shows at once.
 */
export interface StoreSinkHarness {
  sink: StoreIngestSink;
  store: Store;
  /** The server key sealing device secrets; another collector on the same database needs the same one. */
  secretsKey: Buffer;
  pair(): Promise<DeviceCredentials>;
  revoke(deviceId: string): Promise<void>;
}

export function storeSink(store: Store, dataDir: string, secretsKey: Buffer = randomBytes(32)): StoreSinkHarness {
  const secrets = new SecretBox(secretsKey);
  const sink = new StoreIngestSink({
    store,
    blobs: new FsBlobStore(join(dataDir, 'blobs')),
    secrets,
    bus: new LocalEventBus(),
    keyCacheMs: 0,
  });
  return {
    sink,
    store,
    secretsKey,
    pair: () => pairThroughStore(store, secrets),
    async revoke(deviceId: string) {
      await store.revokeDevice('default', deviceId, Date.now());
    },
  };
}
