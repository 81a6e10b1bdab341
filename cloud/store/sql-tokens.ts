import { VigilError } from '../errors.js';
import { ulid } from '../../shared/ids/index.js';
import type { SqlDatabase } from '../db/sql.js';
import { num } from './sql-rows.js';
import type {
  ApiTokenRecord,
  NewApiToken,
  NewPairingCode,
  PairedDevice,
  PairingCodeExchange,
  PairingCodeRecord,
  Role,
  Store,
  TenantRecord,
} from './store.js';

/**
 * Tenants, API tokens and pairing codes (the store's access records), SQL for both dialects. Exchanging a pairing
 * code creates the device with its first key, in the same transaction.
 */
interface TokenRow {
  id: string;
  tenant_id: string;
  name: string;
  role: Role;
  created_at: number;
  revoked_at: number | null;
}
interface CodeRow {
  id: string;
  tenant_id: string;
  name: string | null;
  hint: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  used_by_device: string | null;
  revoked_at: number | null;
}

const TOKEN_COLUMNS = 'id, tenant_id, name, role, created_at, revoked_at';

const token = (r: TokenRow): ApiTokenRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  role: r.role,
  createdAt: Number(r.created_at),
  revokedAt: num(r.revoked_at),
});
const code = (r: CodeRow): PairingCodeRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  hint: r.hint,
  createdAt: Number(r.created_at),
  expiresAt: Number(r.expires_at),
  usedAt: num(r.used_at),
  usedByDevice: r.used_by_device,
  revokedAt: num(r.revoked_at),
});

type TokenMethods = 'ensureTenant' | 'createApiToken' | 'findApiToken' | 'listApiTokens' | 'revokeApiToken';
type CodeMethods = 'createPairingCode' | 'listPairingCodes' | 'revokePairingCode' | 'consumePairingCode';

export class SqlTokens implements Pick<Store, TokenMethods | CodeMethods> {
  constructor(private readonly db: SqlDatabase) {}

  async ensureTenant(id: string, name: string = id): Promise<TenantRecord> {
    await this.db.run('INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING', [
      id,
      name,
      Date.now(),
    ]);
    const r = await this.db.get<{ id: string; name: string; created_at: number }>(
      'SELECT id, name, created_at FROM tenants WHERE id = ?',
      [id],
    );
    if (!r) throw new VigilError('internal_error', `tenant ${id} vanished`);
    return { id: r.id, name: r.name, createdAt: Number(r.created_at) };
  }

  // --- API tokens ---

  async createApiToken(input: NewApiToken): Promise<ApiTokenRecord> {
    await this.ensureTenant(input.tenantId);
    const id = `tok_${ulid(input.now)}`;
    await this.db.run(
      'INSERT INTO api_tokens (id, tenant_id, name, role, token_sha256, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      [id, input.tenantId, input.name, input.role, input.tokenSha256, input.now],
    );
    return { id, tenantId: input.tenantId, name: input.name, role: input.role, createdAt: input.now, revokedAt: null };
  }

  async findApiToken(tokenSha256: string): Promise<ApiTokenRecord | undefined> {
    const r = await this.db.get<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE token_sha256 = ?`, [
      tokenSha256,
    ]);
    return r && token(r);
  }

  async listApiTokens(tenantId: string): Promise<ApiTokenRecord[]> {
    const rows = await this.db.all<TokenRow>(
      `SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE tenant_id = ? ORDER BY created_at, id`,
      [tenantId],
    );
    return rows.map(token);
  }

  async revokeApiToken(tenantId: string, id: string, now: number): Promise<boolean> {
    const r = await this.db.run(
      'UPDATE api_tokens SET revoked_at = ? WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL',
      [now, tenantId, id],
    );
    return r.changes > 0;
  }

  // --- pairing codes ---

  async createPairingCode(input: NewPairingCode): Promise<PairingCodeRecord> {
    await this.ensureTenant(input.tenantId);
    const id = `pc_${ulid(input.now)}`;
    await this.db.run(
      'INSERT INTO pairing_codes (id, tenant_id, name, code_sha256, hint, created_at, expires_at)' +
        ' VALUES (?, ?, ?, ?, ?, ?, ?)',
      [id, input.tenantId, input.name, input.codeSha256, input.hint, input.now, input.expiresAt],
    );
    return {
      id,
      tenantId: input.tenantId,
      name: input.name,
      hint: input.hint,
      createdAt: input.now,
      expiresAt: input.expiresAt,
      usedAt: null,
      usedByDevice: null,
      revokedAt: null,
    };
  }

  async listPairingCodes(tenantId: string): Promise<PairingCodeRecord[]> {
    const rows = await this.db.all<CodeRow>(
      'SELECT id, tenant_id, name, hint, created_at, expires_at, used_at, used_by_device, revoked_at' +
        ' FROM pairing_codes WHERE tenant_id = ? ORDER BY created_at DESC, id DESC',
      [tenantId],
    );
    return rows.map(code);
  }

  async revokePairingCode(tenantId: string, idOrSha256: string, now: number): Promise<boolean> {
    const r = await this.db.run(
      'UPDATE pairing_codes SET revoked_at = ? WHERE tenant_id = ? AND (id = ? OR code_sha256 = ?)' +
        ' AND revoked_at IS NULL AND used_at IS NULL',
      [now, tenantId, idOrSha256, idOrSha256],
    );
    return r.changes > 0;
  }

  async consumePairingCode(input: PairingCodeExchange): Promise<PairedDevice> {
    return this.db.tx(async (x) => {
      // The conditional UPDATE is the single-use guarantee: concurrent exchanges serialise on the row (PostgreSQL
      // re-checks the WHERE after the lock; SQLite write transactions are exclusive), and only one sees a change.
      const claimed = await x.get<CodeRow>(
        `UPDATE pairing_codes SET used_at = ?, used_by_device = ?
          WHERE code_sha256 = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?
          RETURNING id, tenant_id, name, hint, created_at, expires_at, used_at, used_by_device, revoked_at`,
        [input.now, input.deviceId, input.codeSha256, input.now],
      );
      if (!claimed) {
        const r = await x.get<CodeRow>(
          'SELECT id, tenant_id, name, hint, created_at, expires_at, used_at, used_by_device, revoked_at' +
            ' FROM pairing_codes WHERE code_sha256 = ?',
          [input.codeSha256],
        );
        if (!r || r.revoked_at !== null)
          throw new VigilError('pairing_code_invalid', 'unknown or revoked pairing code');
        if (r.used_at !== null)
          throw new VigilError('pairing_code_used', 'this pairing code has already been used; create a new one');
        throw new VigilError(
          'pairing_code_expired',
          `this pairing code expired at ${new Date(Number(r.expires_at)).toISOString()}; create a new one`,
        );
      }
      const name = input.deviceName ?? claimed.name;
      await x.run('INSERT INTO devices (id, tenant_id, name, created_at) VALUES (?, ?, ?, ?)', [
        input.deviceId,
        claimed.tenant_id,
        name,
        input.now,
      ]);
      await x.run(
        "INSERT INTO device_keys (device_id, key_id, secret_sealed, status, created_at) VALUES (?, ?, ?, 'active', ?)",
        [input.deviceId, input.key.keyId, input.key.secretSealed, input.now],
      );
      await x.run('INSERT INTO device_status (device_id) VALUES (?)', [input.deviceId]);
      return {
        code: code(claimed),
        device: { id: input.deviceId, tenantId: claimed.tenant_id, name, createdAt: input.now, revokedAt: null },
      };
    });
  }
}
