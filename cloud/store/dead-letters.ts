import { ulid } from '../../shared/ids/index.js';
import type { SqlDatabase } from '../db/sql.js';

/**
 * The dead-letter table (migration 7, cloud/db/migrations.ts): one row per message that failed on the
 * collector's side, keyed by the message fingerprint (kind, device, event, body SHA-256). A row is `failing` while
 * its failures are below the threshold and `dead` once the message was moved out of the way (acked); the body is
 * kept (base64) from then on. `tenant_id` is the device's tenant when the device is known, so an admin token sees
 * its own tenant's dead letters only.
 */
/** A message that failed on the collector's side (cloud/ingest/dead-letter.ts). */
export interface FailedMessage {
  transport: 'http' | 'mqtt';
  kind: 'events' | 'heartbeat' | 'thumbnail' | 'result';
  /** The device named by the path or topic (verified or not: the failure may precede verification). */
  deviceId: string;
  /** The event a thumbnail belongs to. */
  eventId?: string | undefined;
  /** `POST /v1/devices/…/events` or the MQTT topic. */
  route: string;
  /** The message body as received (JSON or JPEG bytes); the raw MQTT payload when its envelope did not parse. */
  body: Uint8Array | undefined;
  /** SHA-256 of the body (the signed one when the body itself was not read). */
  bodySha256: string;
  bodySize: number;
}

export interface FailureRecord extends FailedMessage {
  /** Identity of the message across resends and redeliveries. */
  fingerprint: string;
  errorCode: string;
  errorMessage: string;
}

export interface FailureVerdict {
  /** Failures of this message counted so far (this one included). */
  attempts: number;
  /** The message is in the dead-letter table (now or already before). */
  dead: boolean;
  /** This failure moved it there. */
  newlyDead: boolean;
  /** Id of its dead-letter row. */
  id: string;
}

/** Where ingest's poison containment (cloud/ingest/dead-letter.ts) counts failures and keeps dead letters. */
export interface DeadLetterLedger {
  /** Counts one failure of the message; at `maxAttempts` moves it (with its bytes) to the dead letters. */
  recordFailure(failure: FailureRecord, maxAttempts: number, now: number): Promise<FailureVerdict>;
}

export interface DeadLetterRecord {
  id: string;
  tenantId: string | null;
  deviceId: string;
  transport: string;
  kind: string;
  eventId: string | null;
  route: string;
  state: 'failing' | 'dead';
  attempts: number;
  errorCode: string;
  errorMessage: string;
  bodySha256: string;
  bodySize: number;
  firstSeenAt: number;
  lastSeenAt: number;
  deadAt: number | null;
}

export interface DeadLetterFilter {
  /** Only this tenant's rows (undefined: every tenant, for the operator's CLI). */
  tenantId?: string | undefined;
  /** `dead` (default) or also the ones still `failing`. */
  includeFailing?: boolean;
  limit: number;
}

interface Row {
  id: string;
  tenant_id: string | null;
  device_id: string;
  transport: string;
  kind: string;
  event_id: string | null;
  route: string;
  state: 'failing' | 'dead';
  attempts: number | string;
  error_code: string;
  error_message: string;
  body_sha256: string;
  body_size: number | string;
  first_seen_at: number | string;
  last_seen_at: number | string;
  dead_at: number | string | null;
}

const COLUMNS =
  'id, tenant_id, device_id, transport, kind, event_id, route, state, attempts, error_code, error_message, ' +
  'body_sha256, body_size, first_seen_at, last_seen_at, dead_at';

const toRecord = (r: Row): DeadLetterRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  deviceId: r.device_id,
  transport: r.transport,
  kind: r.kind,
  eventId: r.event_id,
  route: r.route,
  state: r.state,
  attempts: Number(r.attempts),
  errorCode: r.error_code,
  errorMessage: r.error_message,
  bodySha256: r.body_sha256,
  bodySize: Number(r.body_size),
  firstSeenAt: Number(r.first_seen_at),
  lastSeenAt: Number(r.last_seen_at),
  deadAt: r.dead_at === null ? null : Number(r.dead_at),
});

export class SqlDeadLetters implements DeadLetterLedger {
  constructor(private readonly db: SqlDatabase) {}

  /**
   * One failure, atomically across collectors sharing the database: an upsert counts it; the row that reaches
   * `maxAttempts` while still `failing` is turned `dead` (with its body) by exactly one of them.
   */
  async recordFailure(f: FailureRecord, maxAttempts: number, now: number): Promise<FailureVerdict> {
    return this.db.tx(async (x) => {
      const counted = await x.get<{ id: string; attempts: number | string; state: 'failing' | 'dead' }>(
        `INSERT INTO dead_letters (id, fingerprint, tenant_id, device_id, transport, kind, event_id, route, state,
           attempts,
           error_code, error_message, body_sha256, body_size, first_seen_at, last_seen_at)
         VALUES (?, ?, (SELECT tenant_id FROM devices WHERE id = ?), ?, ?, ?, ?, ?, 'failing', 1, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (fingerprint) DO UPDATE SET attempts = dead_letters.attempts + 1,
           last_seen_at = excluded.last_seen_at,
           error_code = excluded.error_code, error_message = excluded.error_message
         RETURNING id, attempts, state`,
        [
          `dl_${ulid(now)}`,
          f.fingerprint,
          f.deviceId,
          f.deviceId,
          f.transport,
          f.kind,
          f.eventId ?? null,
          f.route,
          f.errorCode,
          f.errorMessage,
          f.bodySha256,
          f.bodySize,
          now,
          now,
        ],
      );
      if (!counted) throw new Error('dead_letters upsert returned no row');
      const attempts = Number(counted.attempts);
      if (counted.state === 'dead') return { id: counted.id, attempts, dead: true, newlyDead: false };
      if (attempts < maxAttempts) return { id: counted.id, attempts, dead: false, newlyDead: false };
      const body = f.body === undefined ? null : Buffer.from(f.body).toString('base64');
      const sql = `UPDATE dead_letters SET state = 'dead', dead_at = ?, body_b64 = ?
                   WHERE id = ? AND state = 'failing'`;
      const moved = await x.run(sql, [now, body, counted.id]);
      return { id: counted.id, attempts, dead: true, newlyDead: moved.changes === 1 };
    });
  }

  /** Newest first. */
  async list(filter: DeadLetterFilter): Promise<DeadLetterRecord[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.tenantId !== undefined) {
      where.push('tenant_id = ?');
      params.push(filter.tenantId);
    }
    if (!filter.includeFailing) where.push(`state = 'dead'`);
    const rows = await this.db.all<Row>(
      `SELECT ${COLUMNS} FROM dead_letters ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY last_seen_at DESC, id DESC LIMIT ?`,
      [...params, filter.limit],
    );
    return rows.map(toRecord);
  }

  /** One row with its body (base64), within a tenant when given. */
  async get(id: string, tenantId?: string): Promise<(DeadLetterRecord & { bodyB64: string | null }) | undefined> {
    const row = await this.db.get<Row & { body_b64: string | null }>(
      `SELECT ${COLUMNS}, body_b64 FROM dead_letters WHERE id = ?${tenantId === undefined ? '' : ' AND tenant_id = ?'}`,
      tenantId === undefined ? [id] : [id, tenantId],
    );
    return row ? { ...toRecord(row), bodyB64: row.body_b64 } : undefined;
  }

  /** Rows in the table by state, for metrics and the CLI. */
  async counts(): Promise<{ failing: number; dead: number }> {
    const sql = 'SELECT state, COUNT(*) AS n FROM dead_letters GROUP BY state';
    const rows = await this.db.all<{ state: string; n: number | string }>(sql);
    const out = { failing: 0, dead: 0 };
    for (const r of rows) if (r.state === 'failing' || r.state === 'dead') out[r.state] = Number(r.n);
    return out;
  }
}
