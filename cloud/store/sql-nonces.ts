import type { SqlDatabase, SqlExecutor } from '../db/sql.js';
import type { Store } from './store.js';

/**
 * The replay window's nonces (table nonces), shared by every collector on the database. A signed events request
 * claims its nonce inside the transaction that stores its messages (./sql-events.ts), so both commit together.
 */

/**
 * Records a nonce in `x` (a transaction, or the database): true when it was new, or an expired record was taken
 * over; false when the same (device, nonce) is recorded and not expired.
 */
export async function claimNonce(
  x: SqlExecutor,
  deviceId: string,
  nonce: string,
  expiresAt: number,
  now: number,
): Promise<boolean> {
  // Inserted, or an expired record is taken over: either way exactly one caller sees a row come back.
  const r = await x.get<{ nonce: string }>(
    `INSERT INTO nonces (device_id, nonce, expires_at) VALUES (?, ?, ?)
     ON CONFLICT (device_id, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE nonces.expires_at <= ?
     RETURNING nonce`,
    [deviceId, nonce, expiresAt, now],
  );
  return r !== undefined;
}

export class SqlNonces implements Pick<Store, 'rememberNonce' | 'nonceRecorded' | 'purgeNonces'> {
  constructor(private readonly db: SqlDatabase) {}

  async rememberNonce(deviceId: string, nonce: string, expiresAt: number, now: number): Promise<boolean> {
    return claimNonce(this.db, deviceId, nonce, expiresAt, now);
  }

  async nonceRecorded(deviceId: string, nonce: string, now: number): Promise<boolean> {
    return (
      (await this.db.get('SELECT 1 AS hit FROM nonces WHERE device_id = ? AND nonce = ? AND expires_at > ?', [
        deviceId,
        nonce,
        now,
      ])) !== undefined
    );
  }

  async purgeNonces(now: number): Promise<number> {
    return (await this.db.run('DELETE FROM nonces WHERE expires_at <= ?', [now])).changes;
  }
}
