import { createServer, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';

/** An embedded MQTT broker (aedes, in-process) on a free loopback port. */
export interface EmbeddedBroker {
  url: string;
  close(): Promise<void>;
}

/**
 * Starts an aedes broker on 127.0.0.1. aedes (MQTT 3.1.1 only) has no shared subscriptions: the one collector takes
 * `$share/<g>/<filter>` as `<filter>`.
 */
export async function startAedes(): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker();
  broker.authorizeSubscribe = (_client, sub, done) => {
    sub.topic = sub.topic.replace(/^\$share\/[^/]+\//, '');
    done(null, sub);
  };
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => broker.close(() => server.close(() => r()))),
  };
}
