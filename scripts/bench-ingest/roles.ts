import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { join } from 'node:path';
import type { EventCursor } from '../../cloud/store/store.js';
import { CONNECTIONS, MQTT_URL, type ChildReady, type WireDevice } from './common.js';

/**
 * The child side of the bench (scripts/bench-ingest.ts `--role …`): a bare node:http server answering 200, or a
 * collector (HTTP routes or MQTT ingest over the real store sink) with freshly paired devices, which also counts the
 * rows it stored when asked.
 */

export async function roleBare(): Promise<void> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  process.send!({ port: (server.address() as { port: number }).port } satisfies ChildReady);
  process.on('message', () => server.close(() => process.exit(0)));
}

export async function roleCollector(
  dataDir: string,
  mode: 'http' | 'mqtt',
  group: string,
  synchronous: 'full' | 'normal',
): Promise<void> {
  const Fastify = (await import('fastify')).default;
  const { openStore } = await import('../../cloud/store/index.js');
  const { StoreIngestSink } = await import('../../cloud/server/ingest-sink.js');
  const { FsBlobStore } = await import('../../cloud/blob/fs.js');
  const { LocalEventBus } = await import('../../cloud/live/event-bus.js');
  const { SecretBox } = await import('../../cloud/pairing/secret-box.js');
  const { pairThroughStore } = await import('../../cloud/test/support-ingest/pair-store.js');
  const { registerIngestRoutes, startMqttIngest, ingestConfig, mqttConfig, resolveIngestDeps } = await import(
    '../../cloud/ingest/index.js'
  );

  const store = await openStore({ dataDir, sqliteSynchronous: synchronous });
  const secrets = new SecretBox(randomBytes(32));
  const sink = new StoreIngestSink({
    store,
    blobs: new FsBlobStore(join(dataDir, 'blobs')),
    secrets,
    bus: new LocalEventBus(),
  });
  const devices: WireDevice[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    const c = await pairThroughStore(store, secrets);
    devices.push({ deviceId: c.deviceId, keyId: c.keyId, secret_b64: c.secret.toString('base64') });
  }
  const deps = resolveIngestDeps({ sink, config: ingestConfig({ rate_limit: { per_second: 1e6, burst: 1e6 } }) });
  const count = async (): Promise<number> => {
    let n = 0;
    for (const d of devices) {
      let after: EventCursor | undefined;
      do {
        const page = await store.listEvents('default', { deviceId: d.deviceId }, 1000, after);
        n += page.events.length;
        after = page.next ?? undefined;
      } while (after);
    }
    return n;
  };
  let stop: () => Promise<void>;
  if (mode === 'http') {
    const app = Fastify({ logger: false, keepAliveTimeout: 60_000 });
    await registerIngestRoutes(app, deps);
    await app.listen({ host: '127.0.0.1', port: 0 });
    process.send!({ port: (app.server.address() as { port: number }).port, devices } satisfies ChildReady);
    stop = () => app.close();
  } else {
    const ingest = startMqttIngest({
      ...deps,
      mqtt: mqttConfig({ url: MQTT_URL, client_id: `vigil-bench-${group}`, shared_group: group, session_expiry_s: 0 }),
    });
    await ingest.ready;
    process.send!({ devices } satisfies ChildReady);
    stop = () => ingest.close();
  }
  process.on('message', (msg: unknown) => {
    void (async () => {
      if (msg === 'count') {
        process.send!({ stored: await count() });
        return;
      }
      await stop();
      await store.close();
      process.exit(0);
    })();
  });
}
