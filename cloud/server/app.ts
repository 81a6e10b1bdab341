import { resolve } from 'node:path';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { parseDuration, systemClock, type Clock } from '../../shared/clock/index.js';
import { createLogger, componentLogger, type Logger, type LogLevel } from '../../shared/log/index.js';
import { registerDeviceRoutes } from '../api/devices.js';
import { LocalEventBus, PostgresEventBus, type EventBus } from '../live/event-bus.js';
import { ChangeJournal, JournaledEventBus } from '../live/change-journal.js';
import { createAccounts, sessionAuthenticator, type Accounts } from '../accounts/index.js';
import { registerSessionRoutes } from '../api/session.js';
import { registerPushTestRoutes } from '../api/push-test.js';
import { registerDeadLetterRoutes } from '../api/dead-letters.js';
import { registerEventRoutes } from '../api/events.js';
import { registerReviewRoutes } from '../api/reviews.js';
import { registerCameraRoutes } from '../api/cameras.js';
import { registerPairingCodeRoutes } from '../api/pairing-codes.js';
import { registerStreamRoutes } from '../api/stream.js';
import type { ApiContext } from '../api/context.js';
import { openBlobStore } from '../blob/index.js';
import type { BlobStore } from '../blob/blob-store.js';
import type { CloudConfig } from '../config.js';
import { registerIngestRoutes, resolveIngestDeps, startMqttIngest, type MqttIngest } from '../ingest/index.js';
import { createNotify, redactLinkSignature, type CreateNotifyOptions, type Notify } from '../notify/index.js';
import { registerPairingRoutes } from '../pairing/routes.js';
import { setUpBroker, type BrokerSetup } from '../broker/index.js';
import { NoProvisioner } from '../broker/none.js';
import { registerBrokerCredentialRoute } from '../broker/routes.js';
import { registerPushTokenRoutes } from '../api/push-tokens.js';
import { loadSecretsKey, SecretBox } from '../pairing/secret-box.js';
import { isPostgresUrl, openDatabase, type SqlDatabase } from '../db/index.js';
import { SqlStore } from '../store/index.js';
import { createModels, type Models } from '../models/index.js';
import { SqlDeadLetters } from '../store/dead-letters.js';
import { startLostEventSweeper, type LostEventSweeper } from '../status/lost-events.js';
import type { Store } from '../store/store.js';
import { clientErrorHandler, COMMON_HEADERS, frameworkErrors, installErrorHandling } from './errors.js';
import { isDateTime } from '../../shared/schema/index.js';
import { registerHealthRoutes } from './health.js';
import { MetricsRegistry } from './metrics.js';
import { requestIdFor } from './request-id.js';
import { secureDataDir } from './data-dir.js';
import { registerBrokerMetrics } from './broker-metrics.js';
import { StoreIngestSink } from './ingest-sink.js';
import { thumbnailAccess } from './thumbnail-access.js';
import { ServerTls, tlsConfigured } from './tls.js';
import { registerWebApp } from './web-app.js';
import {
  createCommands,
  registerCommandPollRoute,
  registerCommandRoutes,
  type CommandChannel,
} from '../commands/index.js';

/**
 * Assembles the collector: storage (SQLite or PostgreSQL), blob store, secrets box, live feed, the fastify app
 * (request ids, error shape, health/ready/metrics), signed ingest (HTTP + MQTT when configured), pairing and the app
 * API; then listens. `close()` stops in reverse order: no new requests, ingest drained, stores closed.
 */
export interface CloudOptions {
  logger?: Logger;
  clock?: Clock;
  /** Verify-then-notify parts to use instead of the config-built ones (tests, benchmarks). */
  notify?: Pick<CreateNotifyOptions, 'pushService' | 'providers' | 'owner' | 'onDecision' | 'onReviewDecision'>;
}

export interface Cloud {
  app: FastifyInstance;
  /** `http(s)://host:port` actually bound (0.0.0.0 shown as 127.0.0.1). */
  url: string;
  /** The certificate when serve terminates TLS itself (server.tls); `reload()` re-reads it (SIGHUP). */
  tls: ServerTls | undefined;
  config: CloudConfig;
  /** The collector's database, opened once; each stage's repository works on it. */
  database: SqlDatabase;
  store: Store;
  blobs: BlobStore;
  /** The server key's box: seals device secrets, keys pairing-code hashes. */
  secrets: SecretBox;
  bus: EventBus;
  sink: StoreIngestSink;
  metrics: MetricsRegistry;
  mqtt: MqttIngest | undefined;
  /** Deployment id, broker identity and provisioning (cloud/broker). */
  broker: BrokerSetup;
  /** Verify-then-notify: the job queue worker, reclassifier and push service. */
  notify: Notify;
  /** Ends the events of boxes that went quiet or restarted (events.lost_after). */
  lostEvents: LostEventSweeper;
  /** Owner accounts and login sessions of the web app (cloud/accounts). */
  accounts: Accounts;
  /** The model registry and rollouts (cloud/models). */
  models: Models;
  /** Commands to boxes (cloud/commands): issue, follow (`onFinished`), results, long-poll. */
  commands: CommandChannel;
  close(): Promise<void>;
}

function requestForLog(req: FastifyRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: redactLinkSignature(req.url),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

function displayUrl(address: AddressInfo, scheme: 'http' | 'https'): string {
  const host = address.address === '0.0.0.0' ? '127.0.0.1' : address.address === '::' ? '::1' : address.address;
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}

export async function createCloud(config: CloudConfig, options: CloudOptions = {}): Promise<Cloud> {
  const log = options.logger ?? createLogger({ component: 'cloud', level: config.log.level as LogLevel });
  const clock = options.clock ?? systemClock;
  const dataDir = resolve(config.data_dir);
  // Owner-only, whatever the umask (cloud/server/data-dir.ts).
  secureDataDir(dataDir, log);
  // TLS terminated here when configured (cloud/server/tls.ts); unreadable or mismatched files stop the start.
  const tls = tlsConfigured(config.server.tls)
    ? new ServerTls(config.server.tls, componentLogger(log, 'tls'))
    : undefined;

  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse())
      await c().catch((err: unknown) => log.warn({ err }, 'shutdown step failed'));
  };

  try {
    const database = await openDatabase({
      url: config.database.url,
      dataDir,
      schema: config.database.schema,
      poolMax: config.database.pool_max,
      sqliteSynchronous: config.database.sqlite.synchronous,
    });
    cleanups.push(() => database.close());
    const store = new SqlStore(database);
    const blobs = openBlobStore(
      {
        kind: config.blob.kind,
        dir: config.blob.dir === undefined ? undefined : resolve(config.blob.dir),
        s3: {
          bucket: config.blob.s3.bucket,
          endpoint: config.blob.s3.endpoint,
          region: config.blob.s3.region,
          forcePathStyle: config.blob.s3.force_path_style,
          accessKeyId: config.blob.s3.access_key_id,
          secretAccessKey: config.blob.s3.secret_access_key,
          prefix: config.blob.s3.prefix,
        },
      },
      dataDir,
    );
    cleanups.push(() => blobs.close());
    const secretsKey = loadSecretsKey(config.secrets.key, dataDir);
    const secrets = new SecretBox(secretsKey);
    // The deployment id, this collector's identity on the broker, the provisioner of broker logins (cloud/broker).
    const broker = await setUpBroker({ mqtt: config.mqtt, database, dataDir, secretsKey, log });
    cleanups.push(() => broker.close());
    // Boxes get broker logins only where the deployment hands them a broker at pairing.
    const deviceBroker = config.pairing.mqtt_url ? broker.provisioner : new NoProvisioner();
    const feed: EventBus = isPostgresUrl(config.database.url)
      ? await PostgresEventBus.open({
          url: config.database.url!,
          schema: config.database.schema,
          log: componentLogger(log, 'live'),
        })
      : new LocalEventBus(componentLogger(log, 'live'));
    // Every change numbered in the database first: the SSE ids and Last-Event-ID replay (cloud/live/change-journal.ts).
    const journal = new ChangeJournal(database, () => clock.now());
    const bus = new JournaledEventBus(feed, journal, componentLogger(log, 'live'));
    cleanups.push(() => bus.close());
    // Verify, then notify: a job per stored event (queued in the event's transaction), woken by this collector's
    // changes.
    const notify = createNotify({
      database,
      store,
      blobs,
      secretsKey,
      baseUrl: () => config.server.public_url ?? url,
      config,
      clock,
      log,
      ...(options.notify ?? {}),
    });
    store.onEventsStored(notify.enqueueInTransaction);
    cleanups.push(() => notify.close());
    // Commands to boxes, signed with each box's newest key (cloud/commands); the sweeper starts with the others.
    const commands = createCommands({
      database,
      store,
      blobs,
      keys: (deviceId) => sink.activeKeys(deviceId),
      config: config.commands,
      clock,
      log: componentLogger(log, 'commands'),
    });
    cleanups.push(() => commands.close());
    // The model registry (cloud/models): uploads, finalize, signed downloads, rollouts; keeps heartbeats' `model`.
    // Rollouts issue model_update commands through the command channel and follow their ends.
    const models = createModels({ database, store, blobs, secretsKey, config: config.models, clock, log, commands });
    const sink = new StoreIngestSink({
      store,
      blobs,
      secrets,
      onHeartbeat: models.recordHeartbeat,
      bus: notify.tap(bus),
      clock,
      log: componentLogger(log, 'sink'),
    });

    const app: FastifyInstance = Fastify({
      // Request lines without signed-link signatures (a logged link would open the picture until it expires).
      loggerInstance: componentLogger(log, 'http').child(
        {},
        { serializers: { req: requestForLog } },
      ) as FastifyBaseLogger,
      genReqId: requestIdFor,
      logController: new LogController({ requestIdLogLabel: 'request_id' }),
      trustProxy: config.server.trust_proxy,
      // Idle keep-alive sockets must not hold shutdown up.
      forceCloseConnections: 'idle',
      // One date-time check for the app API and the wire (shared/schema): 2026-02-30 is refused on both paths.
      ajv: {
        customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false },
        onCreate: (ajv: { addFormat(name: string, check: (v: string) => boolean): unknown }) =>
          ajv.addFormat('date-time', isDateTime),
      },
      // Errors found before routing (414, bad URL) and before parsing (431, 408) in the documented error shape.
      frameworkErrors,
      clientErrorHandler,
      ...(tls ? { https: tls.serverOptions() } : {}),
    }) as unknown as FastifyInstance;
    cleanups.push(async () => {
      // A keep-alive connection whose request was still in flight when close began only turns idle afterwards;
      // fastify closes idle connections once, so without this sweep shutdown waits for its keep-alive timeout (72 s).
      const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
      try {
        await app.close();
      } finally {
        clearInterval(sweep);
      }
    });
    installErrorHandling(app);
    // Owner logins (cloud/accounts): the session cookie is a credential of every app route, beside API tokens.
    const accounts = createAccounts({
      database,
      store,
      config: config.accounts,
      clock,
      log: componentLogger(log, 'accounts'),
    });
    cleanups.push(async () => accounts.close());
    app.decorate(
      'vigilCookieAuth',
      sessionAuthenticator(accounts.sessions, () => config.server.public_url),
    );
    registerSessionRoutes(app, { sessions: accounts.sessions, publicUrl: () => config.server.public_url });
    app.addHook('onRequest', async (req, reply) => {
      reply.header('x-request-id', String(req.id)).headers(COMMON_HEADERS);
    });

    const metrics = new MetricsRegistry();
    const httpRequests = metrics.counter(
      'vigil_http_requests_total',
      'HTTP requests answered, by method, route and status.',
    );
    const httpDuration = metrics.histogram(
      'vigil_http_request_duration_seconds',
      'Time to answer HTTP requests, by route.',
    );
    app.addHook('onResponse', async (req, reply) => {
      const route = req.routeOptions.url ?? 'unmatched';
      httpRequests.inc({ method: req.method, route, status: String(reply.statusCode) });
      httpDuration.observe(reply.elapsedTime / 1000, { route });
    });

    let url = '';
    const ctx: ApiContext = {
      store,
      blobs,
      secrets,
      bus,
      clock,
      log,
      offlineAfterMs: parseDuration(config.status.offline_after),
      codeTtlMs: parseDuration(config.pairing.code_ttl),
      pairingAttempts: {
        perMinute: config.pairing.attempts_per_minute,
        burst: config.pairing.attempts_burst,
        globalPerMinute: config.pairing.global_attempts_per_minute,
        globalBurst: config.pairing.global_attempts_burst,
      },
      endpoints: () => ({ https: config.server.public_url ?? url, mqtt: config.pairing.mqtt_url }),
      keysChanged: (deviceId) => sink.forgetKeys(deviceId),
      brokerAccess: { broker: deviceBroker, log: componentLogger(log, 'broker') },
      notify,
      thumbnailAccess: (tokenCheck) =>
        thumbnailAccess(tokenCheck, { links: notify.links, tenantOfEvent: (id) => notify.tenantOfEvent(id), clock }),
    };

    registerHealthRoutes(app, {
      store,
      blobs,
      metrics,
      ...(config.mqtt.url ? { details: () => ({ mqtt: broker.details() }) } : {}),
    });
    const pairing = registerPairingRoutes(app, ctx);
    metrics.gauge(
      'vigil_pairing_attempts_refused_total',
      'POST /v1/pair attempts refused with 429, by the bucket that refused them (source, global).',
      () => Object.entries(pairing.refused()).map(([scope, value]) => ({ labels: { scope }, value })),
      'counter',
    );
    registerPairingCodeRoutes(app, ctx);
    registerDeviceRoutes(app, ctx);
    registerEventRoutes(app, ctx);
    registerReviewRoutes(app, ctx);
    registerCameraRoutes(app, ctx);
    registerPushTokenRoutes(app, ctx);
    registerPushTestRoutes(app, {
      store,
      push: notify.push,
      vapidPublicKey: config.push.webpush?.public_key,
      baseUrl: () => config.server.public_url ?? url,
      clock,
    });
    const stream = registerStreamRoutes(app, ctx, {
      limits: { perToken: config.api.stream_max_per_token, perTenant: config.api.stream_max_per_tenant },
      journal,
      replayWindowMs: parseDuration(config.api.stream_replay_window),
    });
    metrics.gauge('vigil_sse_clients', 'Open live event streams.', () => [{ value: stream.open() }]);

    // Poison containment: failures on our side counted per message, dead-lettered after ingest.dead_letter_after.
    const deadLetters = new SqlDeadLetters(database);
    const probe = async (): Promise<void> => void (await Promise.all([store.ping(), blobs.ping()]));
    const ingestDeps = resolveIngestDeps({
      sink,
      config: config.ingest,
      clock,
      log: componentLogger(log, 'ingest'),
      deadLetters,
      probe,
      results: commands,
    });
    registerDeadLetterRoutes(app, { store, deadLetters });
    await models.registerRoutes(app, () => config.server.public_url ?? url);
    await registerIngestRoutes(app, ingestDeps);
    registerBrokerCredentialRoute(app, { verifier: ingestDeps.verifier, store, provisioner: deviceBroker, clock });
    // Commands: the app API, and the signed long-poll of boxes on HTTPS only (cloud/commands).
    registerCommandRoutes(app, { channel: commands, store });
    registerCommandPollRoute(app, { verifier: ingestDeps.verifier, limiter: ingestDeps.limiter, channel: commands });
    // Waiting long-polls are answered (empty) before the app waits for its requests to end.
    cleanups.push(() => commands.close());
    metrics.gauge('vigil_command_polls', 'Long-polls of boxes on HTTPS only waiting for commands.', () => [
      { value: commands.openPolls() },
    ]);
    registerBrokerMetrics(metrics, broker);
    // The owner's web app at / (cloud/web, built into dist/web), same origin as the API.
    registerWebApp(app, { log: componentLogger(log, 'web') });
    metrics.gauge(
      'vigil_ingest_total',
      'What ingest did since start, by kind (requests, messages, events stored/duplicate/rejected, thumbnails, ' +
        'heartbeats, acks).',
      () => Object.entries(ingestDeps.metrics.counts).map(([kind, value]) => ({ labels: { kind }, value })),
      'counter',
    );
    metrics.gauge(
      'vigil_ingest_rejections_total',
      'Rejected ingest items by wire error code.',
      () => [...ingestDeps.metrics.rejections].map(([code, value]) => ({ labels: { code }, value })),
      'counter',
    );

    await app.listen({ host: config.server.host, port: config.server.port });
    url = displayUrl(app.server.address() as AddressInfo, tls ? 'https' : 'http');
    tls?.attach(app.server as unknown as HttpsServer);
    log.info(
      {
        url,
        address: app.server.address(),
        database: store.kind,
        blobs: blobs.kind,
        data_dir: dataDir,
        ...(tls ? { tls: tls.describe() } : {}),
      },
      'vigil-cloud listening',
    );

    let mqtt: MqttIngest | undefined;
    if (config.mqtt.url) {
      mqtt = startMqttIngest({
        ...ingestDeps,
        mqtt: config.mqtt,
        identity: broker.ingest,
        onUnknownDevice: (id) => broker.foreign?.note(id),
        onAvailability: (id, state) => commands.availability(id, state),
      });
      // Commands are published through the ingest connection (and again when a box's availability turns online).
      commands.attachMqtt(mqtt);
      // Stop consuming before the app and the store go away.
      cleanups.push(() => mqtt!.close());
    }

    notify.start();
    accounts.startPurge();
    commands.start();

    // No event left open: end the events of boxes that went quiet or restarted (cloud/status/lost-events.ts).
    const lostEvents = startLostEventSweeper({
      store,
      bus,
      clock,
      log: componentLogger(log, 'events'),
      lostAfterMs: parseDuration(config.events.lost_after),
      intervalMs: parseDuration(config.events.sweep_interval),
    });
    cleanups.push(() => lostEvents.stop());
    metrics.gauge(
      'vigil_events_device_lost_total',
      'Events this collector ended itself (end_reason device_lost).',
      () => [{ value: lostEvents.ended }],
      'counter',
    );

    const purge = setInterval(() => {
      store.purgeNonces(clock.now()).catch((err: unknown) => log.warn({ err }, 'nonce purge failed'));
    }, 60_000);
    purge.unref();
    cleanups.push(async () => clearInterval(purge));

    let closing: Promise<void> | undefined;
    return {
      app,
      url,
      tls,
      config,
      database,
      store,
      blobs,
      secrets,
      bus,
      sink,
      metrics,
      mqtt,
      broker,
      notify,
      lostEvents,
      accounts,
      models,
      commands,
      close: () => (closing ??= closeAll()),
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
