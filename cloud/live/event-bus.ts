import pg from 'pg';
import type { Logger } from '../../shared/log/index.js';
import { silentLogger } from '../../shared/log/index.js';

/**
 * The live feed behind `GET /v1/events/stream`. Ingest publishes each durable change (through the IngestSink's
 * `publish`, see cloud/server/ingest-sink.ts); SSE connections subscribe per tenant. Changes carry ids only: a
 * subscriber reads the current event from the store, so what it sends is tenant-checked and never stale.
 *
 * In-process by default. With PostgreSQL every collector publishes via NOTIFY and hears everyone's changes via
 * LISTEN, so an app connected to collector A sees events ingested by collector B.
 */
export interface LiveChange {
  type: 'event.stored' | 'thumbnail.stored' | 'heartbeat' | 'review.stored';
  tenantId: string;
  deviceId: string;
  eventId?: string | undefined;
  /** The review item of a `review.stored` change. */
  reviewId?: string | undefined;
  rev?: number | undefined;
  /** Collector time of the change, ms. */
  at: number;
}

export type LiveListener = (change: LiveChange) => void;

export interface EventBus {
  /** Never throws, never blocks. */
  publish(change: LiveChange): void;
  /** Listens to one tenant's changes; returns the unsubscribe function. */
  subscribe(tenantId: string, listener: LiveListener): () => void;
  /** Subscribers right now (for metrics). */
  readonly subscribers: number;
  close(): Promise<void>;
}

/** Fan-out to this process's subscribers. */
export class LocalEventBus implements EventBus {
  private readonly listeners = new Map<string, Set<LiveListener>>();

  constructor(private readonly log: Logger = silentLogger()) {}

  get subscribers(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  publish(change: LiveChange): void {
    for (const listener of this.listeners.get(change.tenantId) ?? []) {
      try {
        listener(change);
      } catch (err) {
        this.log.warn({ err }, 'live feed listener failed');
      }
    }
  }

  subscribe(tenantId: string, listener: LiveListener): () => void {
    let set = this.listeners.get(tenantId);
    if (!set) {
      set = new Set();
      this.listeners.set(tenantId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(tenantId);
    };
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}

export interface PostgresBusOptions {
  url: string;
  /** Separates collectors that share a server but not a database schema (tests). */
  schema?: string | undefined;
  log?: Logger;
}

/**
 * LISTEN/NOTIFY. Local delivery happens when the notification comes back from the server (also for our own
 * publishes), so every collector sees every change exactly once and in the server's order. NOTIFY payloads are
 * small (ids only), far below PostgreSQL's 8000-byte limit. The connection is re-established after a failure;
 * changes published while it is down are lost to live subscribers (they are durable in the store regardless).
 */
export class PostgresEventBus implements EventBus {
  private readonly local: LocalEventBus;
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  readonly channel: string;
  private readonly log: Logger;

  private constructor(private readonly options: PostgresBusOptions) {
    this.log = options.log ?? silentLogger();
    this.local = new LocalEventBus(this.log);
    this.channel = `vigil_live_${(options.schema ?? 'public').toLowerCase()}`.slice(0, 63);
  }

  static async open(options: PostgresBusOptions): Promise<PostgresEventBus> {
    const bus = new PostgresEventBus(options);
    await bus.connect();
    return bus;
  }

  get subscribers(): number {
    return this.local.subscribers;
  }

  private connect(): Promise<void> {
    this.connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.options.url });
      client.on('notification', (n) => {
        if (n.channel !== this.channel || !n.payload) return;
        try {
          this.local.publish(JSON.parse(n.payload) as LiveChange);
        } catch (err) {
          this.log.warn({ err }, 'unreadable live notification');
        }
      });
      const lost = (err?: Error): void => {
        if (this.client !== client) return;
        this.client = undefined;
        if (this.closed) return;
        this.log.warn({ err }, 'live feed connection lost; reconnecting');
        this.retry = setTimeout(() => void this.connect().catch(() => undefined), 1000);
      };
      client.on('error', lost);
      client.on('end', () => lost());
      try {
        await client.connect();
        await client.query(`LISTEN "${this.channel}"`);
        this.client = client;
      } catch (err) {
        await client.end().catch(() => undefined);
        if (!this.closed) this.retry = setTimeout(() => void this.connect().catch(() => undefined), 1000);
        throw err;
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  publish(change: LiveChange): void {
    const client = this.client;
    if (!client) {
      this.log.warn({ type: change.type }, 'live feed offline; change not broadcast');
      return;
    }
    client
      .query('SELECT pg_notify($1, $2)', [this.channel, JSON.stringify(change)])
      .catch((err: unknown) => this.log.warn({ err }, 'live feed NOTIFY failed'));
  }

  subscribe(tenantId: string, listener: LiveListener): () => void {
    return this.local.subscribe(tenantId, listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
    await this.local.close();
  }
}
