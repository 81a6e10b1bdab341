import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { POSTGRES_URL } from '../../../shared/testing/index.js';
import { openStore } from '../../store/index.js';
import type { Store } from '../../store/store.js';
import { dropSchema } from '../support/backends.js';
import type { LocalS3 } from '../support/s3.js';
import { DynsecBroker } from '../support-broker/dynsec-broker.js';
import { dynsecMqttSection } from '../support-broker/mqtt-section.js';
import { freePort } from '../support-ingest/broker.js';
import { LlmTestServer } from '../support-llm/llm-server.js';
import { vapidTestKeys } from '../support-push/keys.js';
import { WebPushTestServer, type WebPushSubscriptionJson } from '../support-push/webpush-server.js';
import { CollectorProcess } from './collectors.js';
import { startS3Process } from './s3-process.js';

/**
 * A scale-out deployment for tests: N `vigil-cloud serve` processes (a data dir each, as on N hosts) on one fresh
 * PostgreSQL schema, one s3rver bucket and one private Mosquitto running the shipped config (dynamic security,
 * provisioned by the collectors), with the local vision LLM and Web Push servers. All collectors are started at
 * once (they race for the migrations). `db` is a plain client on the schema for the checks; `store` a store on it.
 */
export interface DeploymentOptions {
  collectors: number;
  leaseMs: number;
  thumbnailWaitMs: number;
  rate: { per_second: number; burst: number };
}

export interface MqttDetails {
  deployment_id: string;
  group: string | null;
  client_id: string | null;
}

export class ScaleDeployment {
  private readonly cleanup: (() => Promise<unknown>)[] = [];
  s3!: LocalS3;
  broker!: DynsecBroker;
  llm!: LlmTestServer;
  web!: WebPushTestServer;
  collectors: CollectorProcess[] = [];
  db!: pg.Client;
  store!: Store;

  private constructor(
    readonly dir: string,
    readonly schema: string,
  ) {}

  static async start(o: DeploymentOptions): Promise<ScaleDeployment> {
    const schema = `vigil_scale_${randomBytes(5).toString('hex')}`;
    const d = new ScaleDeployment(mkdtempSync(join(tmpdir(), 'vigil-scale-')), schema);
    d.cleanup.push(
      async () => rmSync(d.dir, { recursive: true, force: true }),
      () => dropSchema(d.schema),
    );
    try {
      await d.boot(o);
    } catch (err) {
      await d.close();
      throw err;
    }
    return d;
  }

  private async boot(o: DeploymentOptions): Promise<void> {
    [this.s3, this.broker, this.llm, this.web] = await Promise.all([
      startS3Process('vigil-scale'),
      DynsecBroker.start(),
      LlmTestServer.start({ models: ['vision-1'] }),
      WebPushTestServer.start(),
    ]);
    this.cleanup.push(
      () => this.s3.close(),
      () => this.broker.close(),
      () => this.llm.close(),
      () => this.web.close(),
    );
    const vapid = vapidTestKeys();
    const { s3, broker } = this;
    const config = {
      database: { url: POSTGRES_URL, schema: this.schema, pool_max: 4 },
      blob: {
        kind: 's3',
        s3: {
          bucket: s3.bucket,
          endpoint: s3.endpoint,
          access_key_id: s3.accessKeyId,
          secret_access_key: s3.secretAccessKey,
          prefix: 'vigil/',
        },
      },
      secrets: { key: Buffer.alloc(32, 11).toString('base64') },
      log: { level: 'warn' },
      mqtt: dynsecMqttSection(broker),
      pairing: { mqtt_url: broker.url, attempts_burst: 1000, attempts_per_minute: 6000 },
      ingest: { rate_limit: o.rate },
      reclassify: { providers: [{ kind: 'openai', base_url: this.llm.url, model: 'vision-1' }], budget: '5s' },
      notify: { thumbnail_wait: `${o.thumbnailWaitMs}ms` },
      queue: { poll: '100ms', lease: `${o.leaseMs}ms`, backoff_base: '200ms', backoff_max: '1s' },
      push: {
        webpush: {
          subject: 'mailto:ops@vigil.example.com',
          public_key: vapid.publicKey,
          private_key: vapid.privateKey,
        },
        backoff_base: '100ms',
      },
    };
    const configFile = join(this.dir, 'cloud.yaml');
    writeFileSync(configFile, JSON.stringify(config, null, 2)); // JSON is YAML
    const ports = await Promise.all(Array.from({ length: o.collectors }, () => freePort()));
    this.collectors = ports.map((port, i) => {
      const name = `c${i + 1}`;
      return new CollectorProcess(name, port, configFile, { VIGIL_CLOUD__DATA_DIR: join(this.dir, `data-${name}`) });
    });
    this.cleanup.push(() => Promise.all(this.collectors.map((c) => c.kill('SIGKILL'))));
    await Promise.all(this.collectors.map((c) => c.start()));

    this.db = new pg.Client({ connectionString: POSTGRES_URL, options: `-c search_path=${this.schema}` });
    await this.db.connect();
    this.cleanup.push(() => this.db.end());
    this.store = await openStore({ dataDir: this.dir, url: POSTGRES_URL, schema: this.schema, poolMax: 2 });
    this.cleanup.push(() => this.store.close());
  }

  /** Rows of a query on the deployment's schema. */
  async rows<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.db.query<T>(sql, params)).rows;
  }

  /** What `/readyz` says about a collector's place on the broker. */
  async mqttDetails(c: CollectorProcess): Promise<MqttDetails> {
    const res = await fetch(`${c.url}/readyz`);
    const body = (await res.json()) as { details?: { mqtt?: MqttDetails } };
    if (res.status !== 200 || !body.details?.mqtt) {
      throw new Error(`${c.name} /readyz: ${res.status} ${JSON.stringify(body)}`);
    }
    return body.details.mqtt;
  }

  /** A browser subscribed to Web Push for the tenant (http endpoint: registered through the store, not the API). */
  async subscribePhone(tenantId: string): Promise<WebPushSubscriptionJson> {
    const s = this.web.subscribe();
    await this.store.upsertPushToken({
      tenantId,
      platform: 'webpush',
      token: s.endpoint,
      p256dh: s.keys.p256dh,
      auth: s.keys.auth,
      deviceLabel: tenantId,
      now: Date.now(),
    });
    return s;
  }

  /** Collector output with error or fatal log lines, for the test's stderr. */
  errors(): string[] {
    const failed = (c: CollectorProcess): boolean => c.output.includes('"level":50') || c.output.includes('"level":60');
    return this.collectors.filter(failed).map((c) => `${c.name}:\n${c.output}`);
  }

  async close(): Promise<void> {
    for (const fn of this.cleanup.splice(0).reverse()) await fn().catch(() => undefined);
  }
}
