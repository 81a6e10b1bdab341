import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { heartbeatPath } from '../../firmware-protocol/http.js';
import { projectRoot } from '../../shared/paths/index.js';
import { signHttpRequest } from '../../shared/signing/index.js';
import { POSTGRES_URL, inCI } from '../../shared/testing/index.js';
import { createApiToken } from '../auth/tokens.js';
import { openStore } from '../store/index.js';
import { MIGRATIONS } from '../store/migrations.js';
import type { Store } from '../store/store.js';
import { dropSchema, testBackends } from './support/backends.js';
import type { LocalS3 } from './support/s3.js';
import { freePort } from './support-ingest/broker.js';
import { DynsecBroker, dynsecAvailable } from './support-broker/dynsec-broker.js';
import { LlmTestServer } from './support-llm/llm-server.js';
import { vapidTestKeys } from './support-push/keys.js';
import { WebPushTestServer, type WebPushSubscriptionJson } from './support-push/webpush-server.js';
import { CollectorProcess } from './support-scale/collectors.js';
import { noiseJpeg } from './support-scale/jpeg.js';
import { startS3Process } from './support-scale/s3-process.js';
import { CollectorPools, SimBox, pairThroughApi, type AckRecord } from './support-scale/sim-box.js';
import { LiveFeed } from './support-scale/sse.js';
import { checkLiveFeeds, checkOncePerEvent, listBucket, type SentEvent } from './support-scale/checks.js';

/**
 * Three real `vigil-cloud serve` processes (each with a data dir of its own, as on three hosts) on one PostgreSQL
 * schema, one S3 bucket (s3rver) and one private Mosquitto running the shipped broker config (scripts/mosquitto:
 * no anonymous clients, dynamic security provisioned by the collectors), with a local vision LLM and a local Web
 * Push service. Simulated boxes, paired through the API (each gets its broker login there), send signed events over
 * HTTPS (spread round-robin over the collectors, as a load balancer would) and over MQTT (the collectors' shared
 * subscription). Mid-run one collector is SIGKILLed while it is sending a push, then started again.
 *
 * Checks: migrations ran once although all three started together, and all three found one deployment (group);
 * every acked event, message and thumbnail is
 * stored exactly once (database rows and bucket objects); one re-classification and one push decision per event,
 * every event pushed, a collapse id pushed twice only inside the lease window after the kill (README: "Operations");
 * every live feed saw every change stored while it was open; ingest rate limits hold per collector (the bound the
 * README states).
 */
const root = projectRoot();
const built = existsSync(join(root, 'dist', 'cloud', 'cli', 'serve.js'));
const haveMosquitto = dynsecAvailable();
const havePostgres = (await testBackends()).some((b) => b.name === 'postgres');
if (inCI && (!built || !haveMosquitto)) throw new Error('scale-out test needs `npm run build`, mosquitto, mosquitto_ctrl and the dynamic-security plugin');

const COLLECTORS = 3;
const HTTP_BOXES = 8;
const MQTT_BOXES = 8;
const TRAFFIC_MS = 12_000;
const LEASE_MS = 2_000;
const THUMBNAIL_WAIT_MS = 5_000;
const RATE = { per_second: 0.5, burst: 40 };
const SECRETS_KEY = Buffer.alloc(32, 11).toString('base64');

const cleanup: (() => Promise<unknown>)[] = [];
let dir: string;
let schema: string;
let s3: LocalS3;
let broker: DynsecBroker;
let llm: LlmTestServer;
let web: WebPushTestServer;
let collectors: CollectorProcess[];
let db: pg.Client;
let store: Store;

interface MqttDetails {
  deployment_id: string;
  group: string | null;
  client_id: string | null;
}
async function mqttDetails(c: CollectorProcess): Promise<MqttDetails> {
  const res = await fetch(`${c.url}/readyz`);
  const body = (await res.json()) as { status?: string; details?: { mqtt?: MqttDetails } };
  if (res.status !== 200 || !body.details?.mqtt) throw new Error(`${c.name} /readyz: ${res.status} ${JSON.stringify(body)}`);
  return body.details.mqtt;
}

beforeAll(async () => {
  if (!built || !haveMosquitto || !havePostgres) return;
  dir = mkdtempSync(join(tmpdir(), 'vigil-scale-'));
  cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  schema = `vigil_scale_${randomBytes(5).toString('hex')}`;
  cleanup.push(() => dropSchema(schema));
  [s3, broker, llm, web] = await Promise.all([startS3Process('vigil-scale'), DynsecBroker.start(), LlmTestServer.start({ models: ['vision-1'] }), WebPushTestServer.start()]);
  cleanup.push(() => s3.close(), () => broker.close(), () => llm.close(), () => web.close());
  const vapid = vapidTestKeys();
  const config = {
    database: { url: POSTGRES_URL, schema, pool_max: 4 },
    blob: { kind: 's3', s3: { bucket: s3.bucket, endpoint: s3.endpoint, access_key_id: s3.accessKeyId, secret_access_key: s3.secretAccessKey, prefix: 'vigil/' } },
    secrets: { key: SECRETS_KEY },
    log: { level: 'warn' },
    mqtt: { url: broker.url, provisioner: 'mosquitto-dynsec', admin_username: broker.admin.username, admin_password: broker.admin.password, reconnect_ms: 200 },
    pairing: { mqtt_url: broker.url, attempts_burst: 1000, attempts_per_minute: 6000 },
    ingest: { rate_limit: RATE },
    reclassify: { providers: [{ kind: 'openai', base_url: llm.url, model: 'vision-1' }], budget: '5s' },
    notify: { thumbnail_wait: `${THUMBNAIL_WAIT_MS}ms` },
    queue: { poll: '100ms', lease: `${LEASE_MS}ms`, backoff_base: '200ms', backoff_max: '1s' },
    push: { webpush: { subject: 'mailto:ops@vigil.example.com', public_key: vapid.publicKey, private_key: vapid.privateKey }, backoff_base: '100ms' },
  };
  const configFile = join(dir, 'cloud.yaml');
  writeFileSync(configFile, JSON.stringify(config, null, 2)); // JSON is YAML
  const ports = await Promise.all(Array.from({ length: COLLECTORS }, () => freePort()));
  collectors = ports.map((port, i) => new CollectorProcess(`c${i + 1}`, port, configFile, { VIGIL_CLOUD__DATA_DIR: join(dir, `data-c${i + 1}`) }));
  cleanup.push(() => Promise.all(collectors.map((c) => c.kill('SIGKILL'))));
  // All three at once on an empty schema: they race for the migrations.
  await Promise.all(collectors.map((c) => c.start()));

  db = new pg.Client({ connectionString: POSTGRES_URL, options: `-c search_path=${schema}` });
  await db.connect();
  cleanup.push(() => db.end());
  store = await openStore({ dataDir: dir, url: POSTGRES_URL, schema, poolMax: 2 });
  cleanup.push(() => store.close());
}, 60_000);

afterAll(async () => {
  const failures: string[] = [];
  for (const c of collectors ?? []) if (c.output.includes('"level":50') || c.output.includes('"level":60')) failures.push(`${c.name}:\n${c.output}`);
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => undefined);
  if (failures.length) process.stderr.write(`collector errors:\n${failures.join('\n')}\n`);
}, 30_000);

describe.skipIf(!built || !haveMosquitto || !havePostgres)('three collectors on one database, bucket and broker', () => {
  it('migrations ran once although all three started together', async () => {
    const rows = (await db.query<{ version: string; applied_at: string }>('SELECT version, applied_at FROM schema_migrations ORDER BY version')).rows;
    expect(rows.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version).sort((a, b) => a - b));
    // One transaction applied them all (the others found them done under the advisory lock).
    expect(new Set(rows.map((r) => r.applied_at)).size).toBe(1);
    expect(collectors.every((c) => c.running)).toBe(true);
    // One deployment: the same deployment id and shared group everywhere, a client id of its own each.
    const mqtt = await Promise.all(collectors.map(mqttDetails));
    expect(new Set(mqtt.map((d) => d.deployment_id)).size).toBe(1);
    expect(mqtt.every((d) => d.group === `vigil-${mqtt[0]!.deployment_id}`)).toBe(true);
    expect(new Set(mqtt.map((d) => d.client_id)).size).toBe(COLLECTORS);
  });

  it('a SIGKILL mid-run loses nothing, stores nothing twice, and pushes each event once outside the lease window', { timeout: 120_000 }, async () => {
    const admin = (await createApiToken(store, { tenantId: 'default', name: 'scale admin', role: 'admin' })).token;
    const reader = (await createApiToken(store, { tenantId: 'default', name: 'scale reader', role: 'reader' })).token;
    const acmeAdmin = (await createApiToken(store, { tenantId: 'acme', name: 'acme admin', role: 'admin' })).token;
    const subscribe = async (tenantId: string): Promise<WebPushSubscriptionJson> => {
      const s = web.subscribe();
      await store.upsertPushToken({ tenantId, platform: 'webpush', token: s.endpoint, p256dh: s.keys.p256dh, auth: s.keys.auth, deviceLabel: tenantId, now: Date.now() });
      return s;
    };
    const phone = await subscribe('default');
    const [acmePhone1, acmePhone2] = [await subscribe('acme'), await subscribe('acme')];
    const subId = (s: WebPushSubscriptionJson): string => s.endpoint.split('/').pop()!;

    // Boxes pair through the API of any collector (round-robin).
    const urls = collectors.map((c) => c.url);
    const pools = new CollectorPools(() => urls, 8);
    cleanup.push(() => pools.close());
    const boxes: SimBox[] = [];
    for (let i = 0; i < HTTP_BOXES + MQTT_BOXES; i++) {
      const paired = await pairThroughApi(urls[i % urls.length]!, admin, `box${i}`);
      const box = i < HTTP_BOXES ? await SimBox.http(paired, pools) : await SimBox.mqtt(paired, paired.mqttUrl ?? broker.url);
      boxes.push(box);
      cleanup.push(() => box.close());
    }
    const acmeBox = await SimBox.http(await pairThroughApi(urls[0]!, acmeAdmin, 'acme box'), pools);

    const feeds = await Promise.all(collectors.map((c) => LiveFeed.open(c.name, c.url, reader)));
    cleanup.push(() => Promise.all(feeds.map((f) => f.close())));

    // Traffic: each box, one event after the other (new + thumbnail + end, a camera of its own per event so the
    // push cooldown never applies), a heartbeat every third event.
    const sent: SentEvent[] = [];
    let seq = 0;
    const trafficEnd = Date.now() + TRAFFIC_MS;
    const run = async (box: SimBox): Promise<void> => {
      for (let n = 0; Date.now() < trafficEnd; n++) {
        const camera = `c${++seq}`;
        const r = await box.sendEvent({ camera, jpeg: await noiseJpeg() });
        sent.push({ eventId: r.eventId, camera, deviceId: box.deviceId, transport: box.transport, acks: r.acks });
        if (n % 3 === 0) await box.sendHeartbeat();
        await sleep(400 + Math.random() * 800);
      }
    };
    const traffic = Promise.all(boxes.map(run));

    // The kill: an acme event whose push reaches phone 1 at once while phone 2 answers 429 Retry-After: 3 — the
    // collector holding the job waits inside the send, with phone 1 already notified and nothing recorded yet.
    await sleep(3000);
    web.script(acmePhone2, { status: 429, retryAfterS: 3 });
    const acme = await acmeBox.sendEvent({ camera: 'acme-door', jpeg: await noiseJpeg() });
    const waitUntil = Date.now() + 15_000;
    while (!web.requests.some((r) => r.subscriptionId === subId(acmePhone2) && r.status === 429)) {
      if (Date.now() > waitUntil) throw new Error('the acme push never reached phone 2');
      await sleep(20);
    }
    const owner = (await db.query<{ lease_owner: string }>("SELECT lease_owner FROM jobs WHERE event_id = $1 AND state = 'running'", [acme.eventId])).rows[0]?.lease_owner;
    const victim = collectors.find((c) => owner !== undefined && owner.split(':')[1] === String(c.pid));
    if (!victim) throw new Error(`no collector holds the acme job (owner ${owner})`);
    const clientId = (await mqttDetails(victim)).client_id;
    const killAt = Date.now();
    await victim.kill('SIGKILL');
    const deadAt = Date.now();
    await sleep(1500);
    await victim.start();
    // Back under its old client id: the broker hands it the session (and messages) it left behind.
    expect((await mqttDetails(victim)).client_id).toBe(clientId);
    const restartedAt = Date.now();
    const reopened = await LiveFeed.open(`${victim.name}'`, victim.url, reader);
    cleanup.push(() => reopened.close());
    await traffic;

    // Drain: every notify job finished.
    const drainUntil = Date.now() + 40_000;
    for (;;) {
      const open = Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM jobs WHERE state IN ('pending', 'running')")).rows[0]!.n);
      if (open === 0) break;
      if (Date.now() > drainUntil) throw new Error(`${open} notify jobs still open`);
      await sleep(200);
    }
    await sleep(500); // the last live messages
    const all: AckRecord[] = [...boxes, acmeBox].flatMap((b) => b.log);
    const summary = {
      events: sent.length,
      killed: victim.name,
      http: sent.filter((e) => e.transport === 'http').length,
      mqtt: sent.filter((e) => e.transport === 'mqtt').length,
      resends: all.filter((a) => a.attempts > 1).length,
      duplicateAcks: all.filter((a) => a.status === 'duplicate').length,
    };
    process.stdout.write(`scale-out: ${JSON.stringify(summary)}\n`);

    // Every item acked (nothing rejected, nothing given up), MQTT acks all genuine.
    expect(all.filter((a) => a.status !== 'accepted' && a.status !== 'duplicate')).toEqual([]);
    expect(boxes.reduce((n, b) => n + b.forgedAcks, 0)).toBe(0);
    expect(summary.http).toBeGreaterThan(20);
    expect(summary.mqtt).toBeGreaterThan(20);

    // Every collector took part: HTTP answers (the boxes' round-robin) and MQTT messages (the shared subscription;
    // counters of the restarted one start at its restart).
    for (const c of collectors) {
      const metrics = await (await fetch(`${c.url}/metrics`)).text();
      const mqttMessages = Number(/vigil_ingest_total\{kind="mqtt_messages"\} (\d+)/.exec(metrics)?.[1] ?? 0);
      expect({ collector: c.name, mqttMessages: mqttMessages > 0, http: all.some((a) => a.via === c.url) }).toEqual({ collector: c.name, mqttMessages: true, http: true });
    }

    // Stored exactly once: events, messages, thumbnails, bucket objects.
    const events = (await db.query<{ id: string; status: string; rev: string }>('SELECT id, status, last_rev AS rev FROM events')).rows;
    const expectedIds = [...sent.map((e) => e.eventId), acme.eventId].sort();
    expect(events.map((e) => e.id).sort()).toEqual(expectedIds);
    expect(events.filter((e) => e.status !== 'ended' || Number(e.rev) !== 1)).toEqual([]);
    const messages = (await db.query<{ n: string; d: string }>('SELECT count(*) AS n, count(DISTINCT (event_id, rev)) AS d FROM event_messages')).rows[0]!;
    expect([Number(messages.n), Number(messages.d)]).toEqual([expectedIds.length * 2, expectedIds.length * 2]);
    const thumbs = (await db.query<{ event_id: string; blob_key: string }>('SELECT event_id, blob_key FROM thumbnails')).rows;
    expect(thumbs.map((t) => t.event_id).sort()).toEqual(expectedIds);
    // A put streams to `<prefix>_tmp/…` and copies after the hash check: the kill may leave a temporary object
    // (README: a lifecycle rule on `_tmp/` removes them); everything else is exactly the stored thumbnails.
    const objects = await listBucket(s3, 'vigil/');
    expect(objects.filter((k) => !k.startsWith('vigil/_tmp/')).sort()).toEqual(thumbs.map((t) => `vigil/${t.blob_key}`).sort());
    expect(objects.filter((k) => k.startsWith('vigil/_tmp/')).length).toBeLessThanOrEqual(HTTP_BOXES + MQTT_BOXES);

    // One classification and one decision per event; every event pushed; repeats only inside the lease window.
    const once = await checkOncePerEvent({ db, llm, web, sent, phone: subId(phone), killAt, deadAt, restartedAt, leaseMs: LEASE_MS, thumbnailWaitMs: THUMBNAIL_WAIT_MS });
    process.stdout.write(`scale-out: ${JSON.stringify(once.summary)}\n`);
    expect(once.problems).toEqual([]);

    // The acme push: phone 1 got it before the kill and again after the lease (same collapse id); phone 2 once.
    const acmeDeliveries = (id: string) => web.deliveries.filter((d) => d.subscriptionId === id && d.headers.topic === acme.eventId);
    const again = acmeDeliveries(subId(acmePhone1));
    expect(again).toHaveLength(2);
    expect(again[0]!.at).toBeLessThan(killAt);
    expect(again[1]!.at - killAt).toBeGreaterThan(0);
    expect(again[1]!.at - killAt).toBeLessThan(LEASE_MS + 8000);
    expect(acmeDeliveries(subId(acmePhone2))).toHaveLength(1);
    const acmeState = (await db.query<{ push_state: string }>('SELECT push_state FROM event_verifications WHERE event_id = $1', [acme.eventId])).rows[0];
    expect(acmeState?.push_state).toBe('sent');

    // Live feeds: every change stored while a feed was open reached it, on every collector.
    const live = checkLiveFeeds([...feeds, reopened], sent, killAt, deadAt);
    process.stdout.write(`scale-out: ${JSON.stringify(live.summary)}\n`);
    expect(live.problems).toEqual([]);
    for (const f of [...feeds, reopened]) expect(f.about(acme.eventId)).toEqual([]); // another tenant
  });

  it('ingest rate limits are per collector: a box gets at most burst + rate × time from each', { timeout: 60_000 }, async () => {
    const admin = (await createApiToken(store, { tenantId: 'default', name: 'rate admin', role: 'admin' })).token;
    const { creds } = await pairThroughApi(collectors[0]!.url, admin, 'noisy box');
    const path = heartbeatPath(creds.deviceId);
    const per = new Map<string, { ok: number; limited: number }>(collectors.map((c) => [c.url, { ok: 0, limited: 0 }]));
    const started = Date.now();
    for (let i = 0; i < 150; i++) {
      const url = collectors[i % COLLECTORS]!.url;
      const body = Buffer.from(JSON.stringify({ v: 1, device_id: creds.deviceId, sent_at: new Date().toISOString(), uptime_s: i, version: '0.1.0', outbox: { depth: 0, oldest_pending_age_s: null, dropped: 0, in_flight: 0 }, cameras: [] }));
      const res = await fetch(url + path, { method: 'POST', headers: { ...signHttpRequest(creds, 'POST', path, body), 'content-type': 'application/json' }, body });
      await res.arrayBuffer();
      const c = per.get(url)!;
      if (res.status === 200) c.ok++;
      else if (res.status === 429) c.limited++;
      else throw new Error(`heartbeat ${i}: HTTP ${res.status}`);
    }
    const bound = RATE.burst + Math.ceil(RATE.per_second * ((Date.now() - started) / 1000)) + 1;
    process.stdout.write(`scale-out: rate limit per collector ${JSON.stringify([...per.values()])}, bound ${bound} each\n`);
    for (const c of per.values()) {
      expect(c.ok).toBeLessThanOrEqual(bound);
      expect(c.limited).toBeGreaterThan(0);
    }
    const total = [...per.values()].reduce((n, c) => n + c.ok, 0);
    expect(total).toBeLessThanOrEqual(COLLECTORS * bound);
  });
});
