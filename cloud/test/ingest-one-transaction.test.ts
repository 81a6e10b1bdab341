import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HEADER, type DeviceCredentials } from '../../shared/signing/index.js';
import { POSTGRES_URL } from '../../shared/testing/index.js';
import { testBackends, type TestDatabase } from './support/backends.js';
import { storeSink, type StoreSinkHarness } from './support-ingest/store-sink.js';
import { ingestApp, type IngestReply, signed, wireEvent } from './support-ingest/wire.js';

/**
 * A signed events request is ONE store transaction: its nonce is recorded with its events, so a request that fails
 * in the store leaves nothing (not even the nonce) and its identical retry is stored, while replays stay refused.
 */
const backends = await testBackends();

describe.each(backends)('one transaction per events request on $name', (backend) => {
  let db: TestDatabase;
  let h: StoreSinkHarness;
  let app: FastifyInstance;
  let dev: DeviceCredentials;

  beforeEach(async () => {
    db = await backend.open();
    h = storeSink(db.store, db.dataDir);
    app = await ingestApp({ sink: h.sink });
    dev = await h.pair();
  });
  afterEach(async () => {
    await app.close();
    await db.cleanup();
  });

  const post = async (r: ReturnType<typeof signed>) => {
    const res = await app.inject({ method: 'POST', url: r.url, headers: r.headers, payload: r.payload });
    return { status: res.statusCode, body: res.json() as IngestReply };
  };
  const eventsUrl = `/v1/devices/:id/events`;
  const url = (): string => eventsUrl.replace(':id', dev.deviceId);
  const nonceOf = (r: ReturnType<typeof signed>): string => r.headers[HEADER.nonce] ?? r.headers['X-Vigil-Nonce']!;
  const recorded = (r: ReturnType<typeof signed>): Promise<boolean> =>
    db.store.nonceRecorded(dev.deviceId, nonceOf(r), Date.now());

  /** Runs SQL on the test database through a connection of its own (as an operator would). */
  const admin = async (sqlite: string, postgres: string): Promise<void> => {
    if (backend.name === 'sqlite') {
      const raw = new Database(join(db.dataDir, 'vigil.db'));
      try {
        raw.exec(sqlite);
      } finally {
        raw.close();
      }
      return;
    }
    const client = new pg.Client({
      connectionString: POSTGRES_URL,
      options: `-c search_path="${db.config.database.schema}"`,
    });
    await client.connect();
    try {
      await client.query(postgres);
    } finally {
      await client.end();
    }
  };
  const breakEventWrites = () =>
    admin(
      'CREATE TRIGGER fail_ingest BEFORE INSERT ON event_messages' +
        " BEGIN SELECT RAISE(ABORT, 'injected write failure'); END",
      `CREATE FUNCTION fail_ingest() RETURNS trigger
       LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected write failure'; END $$;
       CREATE TRIGGER fail_ingest BEFORE INSERT ON event_messages FOR EACH ROW EXECUTE FUNCTION fail_ingest()`,
    );
  const repairEventWrites = () =>
    admin('DROP TRIGGER fail_ingest', 'DROP TRIGGER fail_ingest ON event_messages; DROP FUNCTION fail_ingest()');

  it('records the nonce with the event: a stored request burns it, a replay is refused', async () => {
    const r = signed(dev, 'POST', url(), wireEvent(dev.deviceId));
    expect(await recorded(r)).toBe(false);
    expect((await post(r)).body.acks[0].status).toBe('accepted');
    expect(await recorded(r)).toBe(true);
    const replay = await post(r);
    expect([replay.status, replay.body.error.code]).toEqual([401, 'nonce_replayed']);
  });

  it('a request failing in the store leaves neither event nor nonce; its identical retry is stored', async () => {
    const e = wireEvent(dev.deviceId);
    const r = signed(dev, 'POST', url(), e);
    await breakEventWrites();
    const failed = await post(r);
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect(await recorded(r)).toBe(false);
    expect(await db.store.findDeviceEvent(dev.deviceId, e.id as string)).toBeUndefined();

    await repairEventWrites();
    const retry = await post(r); // the very same signed bytes and nonce
    expect([retry.status, retry.body.acks?.[0]?.status]).toEqual([200, 'accepted']);
    expect(await db.store.findDeviceEvent(dev.deviceId, e.id as string)).toBeDefined();
    expect((await post(r)).body.error.code).toBe('nonce_replayed');
  });

  it('the same request sent twice at once: exactly one is stored, the other is refused as a replay', async () => {
    const e = wireEvent(dev.deviceId);
    const r = signed(dev, 'POST', url(), e);
    const both = await Promise.all([post(r), post(r), post(r)]);
    const statuses = both.map((b) => b.status).sort();
    expect(statuses).toEqual([200, 401, 401]);
    for (const b of both) if (b.status === 401) expect(b.body.error.code).toBe('nonce_replayed');
    expect((await db.store.listEvents('default', { deviceId: dev.deviceId }, 10)).events.map((x) => x.id)).toEqual([
      e.id,
    ]);
  });

  it('a request refused as a whole before storing (bad JSON, bad event) records no nonce', async () => {
    const bad = signed(dev, 'POST', url(), Buffer.from('{nope'));
    expect((await post(bad)).body.error.code).toBe('invalid_json');
    expect(await recorded(bad)).toBe(false);
    const invalid = signed(dev, 'POST', url(), wireEvent(dev.deviceId, { rev: -1 }));
    expect((await post(invalid)).body.error.code).toBe('invalid_message');
    expect(await recorded(invalid)).toBe(false);
  });

  it('a batch whose items were all rejected at validation still burns its nonce', async () => {
    const r = signed(dev, 'POST', url(), { v: 1, events: [wireEvent(dev.deviceId, { label: '' })] });
    expect((await post(r)).body.acks[0].status).toBe('rejected');
    expect(await recorded(r)).toBe(true);
    expect((await post(r)).body.error.code).toBe('nonce_replayed');
  });

  it('many devices posting at once are all stored (one group commit on SQLite), each nonce recorded', async () => {
    const devices = [dev, await h.pair(), await h.pair()];
    const requests = devices.flatMap((d) =>
      Array.from({ length: 5 }, () => ({
        d,
        r: signed(d, 'POST', `/v1/devices/${d.deviceId}/events`, wireEvent(d.deviceId)),
      })),
    );
    const results = await Promise.all(requests.map(({ r }) => post(r)));
    expect(results.map((x) => x.body.acks?.[0]?.status)).toEqual(requests.map(() => 'accepted'));
    for (const { d, r } of requests)
      expect(await db.store.nonceRecorded(d.deviceId, nonceOf(r), Date.now())).toBe(true);
  });
});
