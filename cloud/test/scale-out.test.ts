import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heartbeatPath } from '../../firmware-protocol/http.js';
import { projectRoot } from '../../shared/paths/index.js';
import { signHttpRequest } from '../../shared/signing/index.js';
import { inCI } from '../../shared/testing/index.js';
import { createApiToken } from '../auth/tokens.js';
import { MIGRATIONS } from '../db/index.js';
import { testBackends } from './support/backends.js';
import { dynsecAvailable } from './support-broker/dynsec-broker.js';
import type { WebPushSubscriptionJson } from './support-push/webpush-server.js';
import { checkLiveFeeds, checkOncePerEvent, checkStoredOnce, type SentEvent } from './support-scale/checks.js';
import type { CollectorProcess } from './support-scale/collectors.js';
import { ScaleDeployment } from './support-scale/deployment.js';
import { noiseJpeg } from './support-scale/jpeg.js';
import { CollectorPools, SimBox, heartbeatMessage, pairThroughApi, type AckRecord } from './support-scale/sim-box.js';
import { LiveFeed } from './support-scale/sse.js';

/**
 * Three real `vigil-cloud serve` processes (each with a data dir of its own, as on three hosts) on one PostgreSQL
 * schema, one S3 bucket (s3rver) and one private Mosquitto running the shipped broker config (scripts/mosquitto:
 * no anonymous clients, dynamic security provisioned by the collectors), with a local vision LLM and a local Web
 * Push service. Simulated boxes, paired through the API (each gets its broker login there), send signed events over
 * HTTPS (spread round-robin over the collectors, as a load balancer would) and over MQTT (the collectors' shared
 * subscription). Mid-run one collector is SIGKILLed while it is sending a push, then started again.
 *
 * Checks: migrations ran once although all three started together, and all three found one deployment (group);
 * every acked event, message and thumbnail is stored exactly once (database rows and bucket objects); one
 * re-classification and one push decision per event, every event pushed, a collapse id pushed twice only inside the
 * lease window after the kill (README: "Several collectors"); every live feed saw every change stored while it was
 * open; ingest rate limits hold per collector (the bound the README states).
 */
const built = existsSync(join(projectRoot(), 'dist', 'cloud', 'cli', 'serve.js'));
const haveBroker = dynsecAvailable();
const havePostgres = (await testBackends()).some((b) => b.name === 'postgres');
if (inCI && (!built || !haveBroker)) {
  throw new Error('scale-out test needs `npm run build`, mosquitto, mosquitto_ctrl and the dynamic-security plugin');
}

const COLLECTORS = 3;
const HTTP_BOXES = 8;
const MQTT_BOXES = 8;
const TRAFFIC_MS = 12_000;
const LEASE_MS = 2_000;
const THUMBNAIL_WAIT_MS = 5_000;
const RATE = { per_second: 0.5, burst: 40 };

let d: ScaleDeployment;
const closeLater: (() => Promise<unknown>)[] = [];
const subId = (s: WebPushSubscriptionJson): string => s.endpoint.split('/').pop()!;

beforeAll(async () => {
  if (!built || !haveBroker || !havePostgres) return;
  // All three at once on an empty schema: they race for the migrations.
  d = await ScaleDeployment.start({
    collectors: COLLECTORS,
    leaseMs: LEASE_MS,
    thumbnailWaitMs: THUMBNAIL_WAIT_MS,
    rate: RATE,
  });
}, 60_000);

afterAll(async () => {
  for (const fn of closeLater.splice(0).reverse()) await fn().catch(() => undefined);
  const errors = d?.errors() ?? [];
  await d?.close();
  if (errors.length) process.stderr.write(`collector errors:\n${errors.join('\n')}\n`);
}, 30_000);

async function token(tenantId: string, role: 'admin' | 'reader'): Promise<string> {
  return (await createApiToken(d.store, { tenantId, name: `${tenantId} ${role}`, role })).token;
}

/**
 * The kill: an event of tenant acme, whose two phones are scripted so that phone 1 gets the push at once and phone 2
 * answers 429 Retry-After: 3 — the collector holding the job waits inside the send, phone 1 notified, nothing
 * recorded yet. That collector (found by the job's lease owner, host:pid:…) is SIGKILLed and started again.
 */
interface Kill {
  eventId: string;
  victim: CollectorProcess;
  killAt: number;
  deadAt: number;
}
async function killDuringPush(box: SimBox, phone2: WebPushSubscriptionJson): Promise<Kill> {
  d.web.script(phone2, { status: 429, retryAfterS: 3 });
  const { eventId } = await box.sendEvent({ camera: 'acme-door', jpeg: await noiseJpeg() });
  const until = Date.now() + 15_000;
  while (!d.web.requests.some((r) => r.subscriptionId === subId(phone2) && r.status === 429)) {
    if (Date.now() > until) throw new Error('the acme push never reached phone 2');
    await sleep(20);
  }
  const sql = "SELECT lease_owner FROM jobs WHERE event_id = $1 AND state = 'running'";
  const [job] = await d.rows<{ lease_owner: string }>(sql, [eventId]);
  const victim = d.collectors.find((c) => job !== undefined && job.lease_owner.split(':')[1] === String(c.pid));
  if (!victim) throw new Error(`no collector holds the acme job (owner ${job?.lease_owner})`);
  const clientId = (await d.mqttDetails(victim)).client_id;
  const killAt = Date.now();
  await victim.kill('SIGKILL');
  const deadAt = Date.now();
  await sleep(1500);
  await victim.start();
  // Back under its old client id: the broker hands it the session (and messages) it left behind.
  expect((await d.mqttDetails(victim)).client_id).toBe(clientId);
  return { eventId, victim, killAt, deadAt };
}

async function waitForJobs(ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const sql = "SELECT count(*) AS n FROM jobs WHERE state IN ('pending', 'running')";
    const [{ n }] = (await d.rows<{ n: string }>(sql)) as [{ n: string }];
    if (Number(n) === 0) return;
    if (Date.now() > until) throw new Error(`${n} notify jobs still open`);
    await sleep(200);
  }
}

describe.skipIf(!built || !haveBroker || !havePostgres)('three collectors on one database, bucket and broker', () => {
  it('migrations ran once although all three started together; one deployment, a client id each', async () => {
    const sql = 'SELECT version, applied_at FROM schema_migrations ORDER BY version';
    const rows = await d.rows<{ version: string; applied_at: string }>(sql);
    expect(rows.map((r) => Number(r.version))).toEqual(MIGRATIONS.map((m) => m.version).sort((a, b) => a - b));
    // One transaction applied them all (the others found them done under the advisory lock).
    expect(new Set(rows.map((r) => r.applied_at)).size).toBe(1);
    expect(d.collectors.every((c) => c.running)).toBe(true);
    const mqtt = await Promise.all(d.collectors.map((c) => d.mqttDetails(c)));
    expect(new Set(mqtt.map((m) => m.deployment_id)).size).toBe(1);
    expect(mqtt.every((m) => m.group === `vigil-${mqtt[0]!.deployment_id}`)).toBe(true);
    expect(new Set(mqtt.map((m) => m.client_id)).size).toBe(COLLECTORS);
  });

  const killTest = 'a SIGKILL mid-run loses nothing, stores nothing twice, pushes once outside the lease window';
  it(killTest, { timeout: 120_000 }, async () => {
    const admin = await token('default', 'admin');
    const reader = await token('default', 'reader');
    const acmeAdmin = await token('acme', 'admin');
    const phone = await d.subscribePhone('default');
    const [acmePhone1, acmePhone2] = [await d.subscribePhone('acme'), await d.subscribePhone('acme')];

    // Boxes pair through the API of any collector (round-robin).
    const urls = d.collectors.map((c) => c.url);
    const pools = new CollectorPools(() => urls, 8);
    closeLater.push(() => pools.close());
    const boxes: SimBox[] = [];
    for (let i = 0; i < HTTP_BOXES + MQTT_BOXES; i++) {
      const paired = await pairThroughApi(urls[i % urls.length]!, admin, `box${i}`);
      const box = i < HTTP_BOXES ? await SimBox.http(paired, pools) : await SimBox.mqtt(paired, d.broker.url);
      boxes.push(box);
      closeLater.push(() => box.close());
    }
    const acmeBox = await SimBox.http(await pairThroughApi(urls[0]!, acmeAdmin, 'acme box'), pools);
    const feeds = await Promise.all(d.collectors.map((c) => LiveFeed.open(c.name, c.url, reader)));
    closeLater.push(() => Promise.all(feeds.map((f) => f.close())));

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
    await sleep(3000);
    const acme = await killDuringPush(acmeBox, acmePhone2);
    const restartedAt = Date.now();
    const reopened = await LiveFeed.open(`${acme.victim.name}'`, acme.victim.url, reader);
    closeLater.push(() => reopened.close());
    await traffic;
    await waitForJobs(40_000);
    await sleep(500); // the last live messages

    const all: AckRecord[] = [...boxes, acmeBox].flatMap((b) => b.log);
    const summary = {
      events: sent.length,
      killed: acme.victim.name,
      http: sent.filter((e) => e.transport === 'http').length,
      mqtt: sent.filter((e) => e.transport === 'mqtt').length,
      resends: all.filter((a) => a.attempts > 1).length,
      duplicateAcks: all.filter((a) => a.status === 'duplicate').length,
    };
    process.stdout.write(`scale-out: ${JSON.stringify(summary)}\n`);

    // Every item acked (nothing rejected, nothing given up), MQTT acks all genuine, both transports used.
    expect(all.filter((a) => a.status !== 'accepted' && a.status !== 'duplicate')).toEqual([]);
    expect(boxes.reduce((n, b) => n + b.forgedAcks, 0)).toBe(0);
    expect(summary.http).toBeGreaterThan(8);
    expect(summary.mqtt).toBeGreaterThan(8);

    // Every collector took part: HTTP answers (the boxes' round-robin) and MQTT messages (the shared subscription;
    // counters of the restarted one start at its restart).
    for (const c of d.collectors) {
      const metrics = await (await fetch(`${c.url}/metrics`)).text();
      const mqttMessages = Number(/vigil_ingest_total\{kind="mqtt_messages"\} (\d+)/.exec(metrics)?.[1] ?? 0);
      const took = { collector: c.name, mqtt: mqttMessages > 0, http: all.some((a) => a.via === c.url) };
      expect(took).toEqual({ collector: c.name, mqtt: true, http: true });
    }

    const stored = await checkStoredOnce(d, [...sent.map((e) => e.eventId), acme.eventId], HTTP_BOXES + MQTT_BOXES);
    process.stdout.write(`scale-out: ${JSON.stringify(stored.summary)}\n`);
    expect(stored.problems).toEqual([]);

    const { killAt, deadAt } = acme;
    const once = await checkOncePerEvent({
      d,
      llm: d.llm,
      web: d.web,
      sent,
      phone: subId(phone),
      killAt,
      deadAt,
      restartedAt,
      leaseMs: LEASE_MS,
      thumbnailWaitMs: THUMBNAIL_WAIT_MS,
    });
    process.stdout.write(`scale-out: ${JSON.stringify(once.summary)}\n`);
    expect(once.problems).toEqual([]);

    // The acme push: phone 1 got it before the kill and again after the lease (same collapse id); phone 2 once.
    const acmeDeliveries = (s: WebPushSubscriptionJson) =>
      d.web.deliveries.filter((x) => x.subscriptionId === subId(s) && x.headers.topic === acme.eventId);
    const again = acmeDeliveries(acmePhone1);
    expect(again).toHaveLength(2);
    expect(again[0]!.at).toBeLessThan(killAt);
    expect(again[1]!.at - killAt).toBeGreaterThan(0);
    expect(again[1]!.at - killAt).toBeLessThan(LEASE_MS + 8000);
    expect(acmeDeliveries(acmePhone2)).toHaveLength(1);
    const sql = 'SELECT push_state FROM event_verifications WHERE event_id = $1';
    const [acmeState] = await d.rows<{ push_state: string }>(sql, [acme.eventId]);
    expect(acmeState?.push_state).toBe('sent');

    // Live feeds: every change stored while a feed was open reached it, on every collector.
    // On a loaded machine the last changes may still be on their way to a feed: look again for up to 15 s.
    let live = checkLiveFeeds([...feeds, reopened], sent, killAt, deadAt);
    for (const giveUp = Date.now() + 15_000; live.problems.length > 0 && Date.now() < giveUp; ) {
      await sleep(250);
      live = checkLiveFeeds([...feeds, reopened], sent, killAt, deadAt);
    }
    process.stdout.write(`scale-out: ${JSON.stringify(live.summary)}\n`);
    expect(live.problems).toEqual([]);
    for (const f of [...feeds, reopened]) expect(f.about(acme.eventId)).toEqual([]); // another tenant
  });

  it('ingest rate limits count per collector: at most burst + rate × time from each', { timeout: 60_000 }, async () => {
    const { creds } = await pairThroughApi(d.collectors[0]!.url, await token('default', 'admin'), 'noisy box');
    const path = heartbeatPath(creds.deviceId);
    const per = new Map(d.collectors.map((c) => [c.url, { ok: 0, limited: 0 }]));
    const started = Date.now();
    for (let i = 0; i < 150; i++) {
      const url = d.collectors[i % COLLECTORS]!.url;
      const body = Buffer.from(JSON.stringify(heartbeatMessage(creds.deviceId, i)));
      const headers = { ...signHttpRequest(creds, 'POST', path, body), 'content-type': 'application/json' };
      const res = await fetch(url + path, { method: 'POST', headers, body });
      await res.arrayBuffer();
      const c = per.get(url)!;
      if (res.status === 200) c.ok++;
      else if (res.status === 429) c.limited++;
      else throw new Error(`heartbeat ${i}: HTTP ${res.status}`);
    }
    const bound = RATE.burst + Math.ceil(RATE.per_second * ((Date.now() - started) / 1000)) + 1;
    const counts = JSON.stringify([...per.values()]);
    process.stdout.write(`scale-out: rate limit per collector ${counts}, bound ${bound} each\n`);
    for (const c of per.values()) {
      expect(c.ok).toBeLessThanOrEqual(bound);
      expect(c.limited).toBeGreaterThan(0);
    }
    const total = [...per.values()].reduce((n, c) => n + c.ok, 0);
    expect(total).toBeLessThanOrEqual(COLLECTORS * bound);
  });
});
