import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { POSTGRES_URL, tcpReachable } from '../../shared/testing/index.js';
import { CONNECTIONS, event, load, pct, SECONDS, WARMUP_MS } from './common.js';

/** The PostgreSQL store alone: 4 writers, each storing 100-event batches back to back. */
export async function benchPostgres(): Promise<number | undefined> {
  const u = new URL(POSTGRES_URL);
  if (!(await tcpReachable(u.hostname, Number(u.port || 5432)))) {
    console.log(`PostgreSQL store: skipped (no server at ${u.host})`);
    return undefined;
  }
  const { openStore } = await import('../../cloud/store/index.js');
  const { eventFingerprint } = await import('../../firmware-protocol/fingerprint.js');
  const { pairTestDevice } = await import('../../cloud/test/support/fixtures.js');
  const pg = (await import('pg')).default;
  const schema = `vigil_bench_${randomBytes(4).toString('hex')}`;
  const store = await openStore({ url: POSTGRES_URL, dataDir: tmpdir(), schema, poolMax: 10 });
  try {
    const ids: string[] = [];
    for (let i = 0; i < CONNECTIONS; i++) ids.push(await pairTestDevice(store));
    const message = (deviceId: string) => {
      const e = event(deviceId);
      return { id: e.id as string, rev: 0, contentSha256: eventFingerprint(e as never), event: e };
    };
    const start = Date.now();
    const measureFrom = start + WARMUP_MS;
    const end = measureFrom + SECONDS * 1000;
    let stored = 0;
    const latencies: number[] = [];
    await Promise.all(
      ids.map(async (deviceId) => {
        while (Date.now() < end) {
          const batch = Array.from({ length: 100 }, () => message(deviceId));
          const t0 = performance.now();
          await store.storeEventMessages(deviceId, batch, Date.now());
          if (Date.now() >= measureFrom && Date.now() < end) {
            stored += batch.length;
            latencies.push(performance.now() - t0);
          }
        }
      }),
    );
    const rate = stored / SECONDS;
    console.log(
      `${'PostgreSQL store, 100-event batches, 4 writers'.padEnd(48)} ${rate.toFixed(0).padStart(8)} events/s   ` +
        `(${latencies.length} batches in ${SECONDS} s; latency p50 ${pct(latencies, 50)} ms, p99 ` +
        `${pct(latencies, 99)} ms; ${load()})`,
    );
    return rate;
  } finally {
    await store.close();
    const c = new pg.Client({ connectionString: POSTGRES_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => c.end());
  }
}
