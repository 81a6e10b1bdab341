import { createHmac } from 'node:crypto';
import { parseDuration } from '../../shared/clock/index.js';
import { VigilError } from '../errors.js';
import { humanCode } from '../../shared/ids/index.js';
import type { PairingCodeRecord, PairingCodeState, Store } from '../store/store.js';
import { checkTenantId } from '../auth/tokens.js';
import type { SecretBox } from './secret-box.js';

/**
 * Pairing codes: short, single-use, human-typeable (`K7QX-M2PD`, 31 symbols ^ 8 ≈ 8.5e11), valid for a short time
 * (default 15 min). Stored as an HMAC-SHA256 of the normalised code (upper case, no dash) under a key derived from
 * the server secrets key, which is not in the database: a database dump alone cannot test guesses offline (an
 * unkeyed hash of 8.5e11 candidates falls to a laptop). Nothing about the code itself is kept or listed: a code is
 * known by its id, name and expiry. (The column is still called `code_sha256`; it holds the keyed hash.)
 */
export function normalizeCode(code: string): string {
  return code.replace(/[-\s]/g, '').toUpperCase();
}

/** Purpose label of the subkey (SecretBox.deriveKey) the code hashes are keyed with. */
export const PAIRING_CODE_KEY_PURPOSE = 'pairing-code-hmac:v1';

/** The stored form of a code: hex HMAC-SHA256 under the pairing-code subkey of the server key. */
export function codeDigest(secrets: SecretBox, code: string): string {
  const key = secrets.deriveKey(PAIRING_CODE_KEY_PURPOSE);
  return createHmac('sha256', key).update(normalizeCode(code), 'utf8').digest('hex');
}

export const MAX_CODE_TTL_MS = 7 * 86_400_000;

export function parseTtl(ttl: string | number): number {
  let ms: number;
  try {
    ms = typeof ttl === 'number' ? ttl : parseDuration(ttl);
  } catch (err) {
    throw new VigilError('invalid_request', `ttl: ${(err as Error).message}`);
  }
  if (ms < 1000 || ms > MAX_CODE_TTL_MS) throw new VigilError('invalid_request', 'ttl must be between 1s and 7d');
  return ms;
}

export async function createPairingCode(
  store: Store,
  secrets: SecretBox,
  input: { tenantId: string; name?: string | null | undefined; ttlMs: number; now?: number },
): Promise<{ code: string; record: PairingCodeRecord }> {
  const now = input.now ?? Date.now();
  const code = humanCode();
  const record = await store.createPairingCode({
    tenantId: checkTenantId(input.tenantId),
    name: input.name ?? null,
    codeSha256: codeDigest(secrets, code),
    // Nothing about the code: a hint of its last characters shrank an offline search to a few seconds.
    hint: '',
    now,
    expiresAt: now + input.ttlMs,
  });
  return { code, record };
}

export function codeState(r: PairingCodeRecord, now: number): PairingCodeState {
  if (r.revokedAt !== null) return 'revoked';
  if (r.usedAt !== null) return 'used';
  if (r.expiresAt <= now) return 'expired';
  return 'pending';
}

/** Revokes by code id (`pc_…`) or by the code itself. */
export async function revokePairingCode(
  store: Store,
  secrets: SecretBox,
  tenantId: string,
  idOrCode: string,
  now = Date.now(),
): Promise<boolean> {
  const key = idOrCode.startsWith('pc_') ? idOrCode : codeDigest(secrets, idOrCode);
  return store.revokePairingCode(tenantId, key, now);
}

/** The JSON shape of a code in the API and the CLI (`code` only at creation; no part of it afterwards). */
export function pairingCodeJson(r: PairingCodeRecord, now: number, code?: string): Record<string, unknown> {
  return {
    id: r.id,
    ...(code ? { code } : {}),
    name: r.name,
    tenant: r.tenantId,
    state: codeState(r, now),
    created_at: new Date(r.createdAt).toISOString(),
    expires_at: new Date(r.expiresAt).toISOString(),
    used_at: r.usedAt === null ? null : new Date(r.usedAt).toISOString(),
    device_id: r.usedByDevice,
  };
}
