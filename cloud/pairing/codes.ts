import { createHash } from 'node:crypto';
import { parseDuration } from '../../shared/clock/index.js';
import { VigilError } from '../../shared/errors/index.js';
import { humanCode } from '../../shared/ids/index.js';
import type { PairingCodeRecord, PairingCodeState, Store } from '../store/store.js';
import { checkTenantId } from '../auth/tokens.js';

/**
 * Pairing codes: short, single-use, human-typeable (`K7QX-M2PD`, 31 symbols ^ 8 ≈ 8.5e11), valid for a short time
 * (default 15 min). Stored as the SHA-256 of the normalised code (upper case, no dash), so the database never holds
 * a usable code; a list shows only the last characters.
 */
export function normalizeCode(code: string): string {
  return code.replace(/[-\s]/g, '').toUpperCase();
}

export function codeSha256(code: string): string {
  return createHash('sha256').update(`vigil-pairing-code:${normalizeCode(code)}`, 'utf8').digest('hex');
}

export const MAX_CODE_TTL_MS = 7 * 86_400_000;

export function parseTtl(ttl: string | number): number {
  let ms: number;
  try {
    ms = typeof ttl === 'number' ? ttl : parseDuration(ttl);
  } catch (err) {
    throw new VigilError('invalid_request', `ttl: ${(err as Error).message}`, { status: 400 });
  }
  if (ms < 1000 || ms > MAX_CODE_TTL_MS) throw new VigilError('invalid_request', 'ttl must be between 1s and 7d', { status: 400 });
  return ms;
}

export async function createPairingCode(
  store: Store,
  input: { tenantId: string; name?: string | null | undefined; ttlMs: number; now?: number },
): Promise<{ code: string; record: PairingCodeRecord }> {
  const now = input.now ?? Date.now();
  const code = humanCode();
  const record = await store.createPairingCode({
    tenantId: checkTenantId(input.tenantId),
    name: input.name ?? null,
    codeSha256: codeSha256(code),
    hint: normalizeCode(code).slice(-3),
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
export async function revokePairingCode(store: Store, tenantId: string, idOrCode: string, now = Date.now()): Promise<boolean> {
  const key = idOrCode.startsWith('pc_') ? idOrCode : codeSha256(idOrCode);
  return store.revokePairingCode(tenantId, key, now);
}

/** The JSON shape of a code in the API and the CLI (`code` only at creation). */
export function pairingCodeJson(r: PairingCodeRecord, now: number, code?: string): Record<string, unknown> {
  return {
    id: r.id,
    ...(code ? { code } : {}),
    hint: `…${r.hint}`,
    name: r.name,
    tenant: r.tenantId,
    state: codeState(r, now),
    created_at: new Date(r.createdAt).toISOString(),
    expires_at: new Date(r.expiresAt).toISOString(),
    used_at: r.usedAt === null ? null : new Date(r.usedAt).toISOString(),
    device_id: r.usedByDevice,
  };
}
